"""Real corpus: talking videos -> 25 fps frames -> MediaPipe landmarks -> fitted arkit52 motion.

Why: synthetic speech teaches timing; real faces teach how people actually move. Each video is
decoded with PyAV and resampled to 25 fps by nearest frame time, so frame k shows the picture
at k / 25 s of the audio track (read with talkinghead.audio.io.load_audio). Every frame passes
quality checks; a frame fails with

* `no_face`: MediaPipe finds no face,
* `multiple_faces`: more than one face (whose motion would it be?),
* `tracking_jump`: the landmarks moved more than `max_jump` face sizes since the previous
  frame (a cut, or a tracker glitch),
* `video_ended`: the audio runs on after the last picture.

Runs of good frames become segments (split at every failed frame, and every `max_seconds`);
runs shorter than `min_seconds` are dropped as `too_short`. Each segment is fitted with
`fit_landmarks` (blendshapes + head rotation) and written in the corpus shard format with its
landmarks. The report says, per video, what was dropped and why, and rejects a video outright
with a one-line reason when nothing usable is left.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import av
import numpy as np

from ..errors import TalkingHeadError
from ..models.base import FPS, SAMPLE_RATE, frame_count
from .shards import (MANIFEST, CorpusError, ShardWriter, add_shard, new_manifest, prepare_out_dir,
                     read_manifest, remove_stray_files, shard_index, shard_name, write_manifest)

SAMPLES_PER_FRAME = SAMPLE_RATE // int(FPS)  # 640
REASONS = ("no_face", "multiple_faces", "tracking_jump", "video_ended", "too_short")
OK = "ok"


@dataclass(frozen=True)
class VideoOptions:
    """Quality thresholds and sizes; the defaults suit ordinary webcam and phone footage."""

    min_seconds: float = 1.0     # shorter runs of good frames teach little and are dropped
    max_seconds: float = 20.0    # longer runs are cut, so one utterance never fills memory
    max_jump: float = 0.15       # median landmark motion per frame, in face sizes
    max_width: int = 640         # frames are downscaled to this width for MediaPipe
    shard_size: int = 100        # segments per shard (a shard closes at a video boundary)

    def check(self) -> "VideoOptions":
        if not 0 < self.min_seconds <= self.max_seconds:
            raise CorpusError(f"need 0 < min_seconds <= max_seconds, got {self.min_seconds}, {self.max_seconds}")
        if not self.max_jump > 0 or self.max_width < 64 or self.shard_size < 1:
            raise CorpusError("max_jump must be > 0, max_width >= 64 and shard_size >= 1")
        return self


# -- decoding ------------------------------------------------------------------------------------


def check_video(path: str | os.PathLike) -> Path:
    """A readable file with a video stream, or a CorpusError naming what is wrong with it."""
    p = Path(path)
    if not p.exists():
        raise CorpusError(f"video not found: {p}")
    if not p.is_file():
        raise CorpusError(f"{p} is not a file")
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise CorpusError(f"{p} has no video stream")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{p} is not a readable video ({_reason(exc)})") from None
    return p


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0]


def frames_at_fps(path: Path, n_frames: int, max_width: int, fps: float = FPS) -> Iterator[np.ndarray | None]:
    """`n_frames` RGB frames: frame k is the decoded picture nearest to k / fps seconds.

    Times are measured from the start of the audio stream (when there is one), so the frames
    line up with `load_audio`. None where there is no picture (before the first, after the last).
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t0 = _audio_start(container)
        k, prev, prev_t = 0, None, None
        frame_s = 1.0 / float(stream.average_rate or fps)
        try:
            for frame in container.decode(stream):
                t = (frame.time if frame.time is not None else (prev_t or 0.0) + frame_s) - t0
                boundary = (prev_t + t) / 2 if prev is not None else t - frame_s / 2
                while k < n_frames and k / fps < boundary:
                    yield prev
                    k += 1
                prev, prev_t = _rgb(frame, max_width), t
                if k >= n_frames:
                    return
        except av.FFmpegError as exc:
            raise CorpusError(f"{path} is corrupt ({_reason(exc)})") from None
        while k < n_frames:
            yield prev if prev_t is not None and k / fps < prev_t + frame_s else None
            k += 1


def _audio_start(container) -> float:
    if not container.streams.audio:
        return 0.0
    a = container.streams.audio[0]
    return float(a.start_time * a.time_base) if a.start_time is not None and a.time_base else 0.0


def _rgb(frame, max_width: int) -> np.ndarray:
    if frame.width > max_width:
        height = int(round(frame.height * max_width / frame.width / 2)) * 2
        return frame.reformat(width=max_width, height=height, format="rgb24").to_ndarray()
    return frame.to_ndarray(format="rgb24")


# -- per-frame checks ----------------------------------------------------------------------------


def track_faces(frames: Iterator[np.ndarray | None], n_frames: int, max_jump: float,
                bar=None) -> tuple[np.ndarray, list[str], tuple[int, int]]:
    """(landmarks (T, 478, 3) float32, per-frame status, (width, height) of the landmark space)."""
    from ..rigs.facemesh import FaceMesh

    landmarks = np.zeros((n_frames, 478, 3), np.float32)
    status: list[str] = []
    size = (0, 0)
    last: np.ndarray | None = None
    with FaceMesh(static=False, max_faces=2) as mesh:
        for k, image in enumerate(frames):
            if image is None:
                status.append("video_ended")
                last = None
            else:
                size = (image.shape[1], image.shape[0])
                faces = mesh.faces(image)
                state = "no_face" if not faces else "multiple_faces" if len(faces) > 1 else OK
                if state == OK:
                    if last is not None and landmark_jump(last, faces[0]) > max_jump:
                        state = "tracking_jump"
                    landmarks[k] = faces[0]
                last = faces[0] if len(faces) == 1 else None
                status.append(state)
            if bar is not None:
                bar.update(1)
    return landmarks, status, size


def landmark_jump(a: np.ndarray, b: np.ndarray) -> float:
    """Median 2-D landmark displacement between two frames, in units of the face's size."""
    face = float(np.linalg.norm(a[:, :2].max(axis=0) - a[:, :2].min(axis=0))) or 1.0
    return float(np.median(np.linalg.norm(b[:, :2] - a[:, :2], axis=1))) / face


def good_runs(status: Sequence[str], min_frames: int, max_frames: int) -> tuple[list[tuple[int, int]], int]:
    """[start, stop) runs of OK frames cut to at most `max_frames`, and how many OK frames fell in
    runs shorter than `min_frames` (dropped as too short)."""
    runs, short, start = [], 0, None
    for k, state in enumerate(list(status) + ["end"]):
        if state == OK and start is None:
            start = k
        elif state != OK and start is not None:
            if k - start < min_frames:
                short += k - start
            else:
                pieces = -(-(k - start) // max_frames)
                edges = np.linspace(start, k, pieces + 1).round().astype(int)
                runs += list(zip(edges[:-1].tolist(), edges[1:].tolist()))
            start = None
    return runs, short


# -- one video -----------------------------------------------------------------------------------


def video_key(path: Path) -> str:
    """A stable key prefix for a video: its resolved path hashed, so re-runs never collide."""
    return "video-" + hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:12]


def process_video(path: Path, writer: ShardWriter, options: VideoOptions, progress: bool = False) -> dict[str, Any]:
    """Write the usable segments of one video to `writer`; return its report entry."""
    from ..audio.io import load_audio
    from ..rigs.fitting import fit_landmarks

    entry: dict[str, Any] = {"video": str(path), "frames": 0, "kept_frames": 0, "segments": 0,
                             "seconds": 0.0, "dropped": {}, "rejected": None}
    try:
        audio = load_audio(path)
    except TalkingHeadError as exc:
        entry["rejected"] = f"no usable audio track: {exc}"
        return entry
    n = frame_count(len(audio))
    entry["frames"] = n
    bar = _bar(n, path.name, progress)
    try:
        landmarks, status, size = track_faces(frames_at_fps(path, n, options.max_width), n, options.max_jump, bar)
    except TalkingHeadError as exc:  # a file that breaks mid-way: report it, keep building
        entry["rejected"] = str(exc)
        return entry
    finally:
        bar.close()
    runs, short = good_runs(status, int(round(options.min_seconds * FPS)), int(round(options.max_seconds * FPS)))
    dropped = Counter(s for s in status if s != OK)
    if short:
        dropped["too_short"] = short
    entry["dropped"] = {r: dropped[r] for r in REASONS if dropped[r]}
    prefix = video_key(path)
    for j, (a, b) in enumerate(runs):
        motion = fit_landmarks(landmarks[a:b])
        clip = audio[a * SAMPLES_PER_FRAME: b * SAMPLES_PER_FRAME]
        if frame_count(len(clip)) != b - a:  # the audio's last partial frame; never happens mid-file
            continue
        meta = {"text": "", "language": "", "voice": "", "engine": "video", "speaker": path.stem,
                "seconds": round(len(clip) / SAMPLE_RATE, 4), "source": str(path), "start": round(a / FPS, 3),
                "frame_size": list(size), "landmark_space": "image pixels (x, y down, z by width)",
                "fit_residual": round(float(np.mean(motion.extras["residual"])), 6)}
        writer.add(f"{prefix}-{j:04d}", clip, motion.values, [], meta, landmarks[a:b])
        entry["segments"] += 1
        entry["kept_frames"] += b - a
        entry["seconds"] = round(entry["seconds"] + meta["seconds"], 3)
    if not entry["segments"]:
        entry["rejected"] = rejection(entry["dropped"], n)
    return entry


def rejection(dropped: dict[str, int], n_frames: int) -> str:
    """One line saying why nothing of a video was kept, led by the commonest reason."""
    if not dropped:
        return f"no usable frames in {n_frames} frames"
    reason, count = max(dropped.items(), key=lambda kv: kv[1])
    words = {"no_face": "no face found", "multiple_faces": "more than one face",
             "tracking_jump": "face tracking jumped", "video_ended": "no picture",
             "too_short": "only short runs of good frames"}
    others = ", ".join(f"{k} {v}" for k, v in dropped.items() if k != reason)
    return f"{words[reason]} in {count} of {n_frames} frames" + (f" (also {others})" if others else "")


# -- the whole corpus ----------------------------------------------------------------------------


def build_video_corpus(videos: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                       options: VideoOptions | None = None, progress: bool = False) -> dict[str, Any]:
    """Turn talking videos into a "video" corpus in `out_dir`; returns the manifest.

    Inputs are checked first (missing or unreadable files raise CorpusError before any work).
    Videos already listed in the manifest's report are skipped, so a re-run resumes.
    """
    options = (options or VideoOptions()).check()
    if isinstance(videos, (str, os.PathLike)):
        videos = [videos]
    if not videos:
        raise CorpusError("no videos given")
    paths = list(dict.fromkeys(check_video(v).resolve() for v in videos))
    out = prepare_out_dir(out_dir)
    manifest = _open_manifest(out)
    remove_stray_files(out, manifest)
    report = manifest["report"]
    done = {e["video"] for e in report.get("videos", [])}
    todo = [p for p in paths if str(p) not in done]
    started = time.perf_counter()
    next_index = max((shard_index(s["name"]) for s in manifest["shards"]), default=-1) + 1
    writer, pending = None, []
    try:
        for path in todo:
            writer = writer or ShardWriter(out / shard_name(next_index))
            pending.append(process_video(path, writer, options, progress))
            if writer.count >= options.shard_size or path == todo[-1]:
                _commit(out, manifest, writer, pending)
                next_index += writer.count > 0
                writer, pending = None, []
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    manifest["report"] = video_report(manifest, time.perf_counter() - started)
    write_manifest(out, manifest)
    return manifest


def _commit(out: Path, manifest: dict, writer: ShardWriter, entries: list[dict]) -> None:
    """Close the shard (if it holds anything) and record its videos, in one manifest write."""
    if writer.count:
        writer.close()
        add_shard(manifest, {"name": writer.path.name, "utterances": writer.count,
                             "seconds": round(writer.seconds, 3)})
    else:
        writer.abort()
    manifest["report"].setdefault("videos", []).extend(entries)
    write_manifest(out, manifest)


def _open_manifest(out: Path) -> dict[str, Any]:
    if not (out / MANIFEST).exists():
        return new_manifest("video")
    manifest = read_manifest(out)
    if manifest.get("kind") != "video":
        raise CorpusError(f"{out} holds a {manifest.get('kind')} corpus, not a video one")
    return manifest


def video_report(manifest: dict[str, Any], wall: float) -> dict[str, Any]:
    entries = manifest["report"].get("videos", [])
    dropped: Counter = Counter()
    for e in entries:
        dropped.update(e["dropped"])
    rejected = [e for e in entries if e["rejected"]]
    return {"videos": entries, "accepted": len(entries) - len(rejected), "rejected": len(rejected),
            "segments": manifest["utterances"], "hours": round(manifest["seconds"] / 3600, 4),
            "frames": sum(e["frames"] for e in entries), "kept_frames": sum(e["kept_frames"] for e in entries),
            "dropped": {r: dropped[r] for r in REASONS if dropped[r]}, "last_run_seconds": round(wall, 2)}


def _bar(total: int, name: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=name[:24], unit="frame", file=sys.stderr,
                disable=not (enabled and sys.stderr.isatty()), leave=False)
