"""Write rendered frames and speech to an H.264 + AAC mp4 as they are produced, and read it back.

Renderers stream: frames and audio chunks arrive one by one, in any order, and a long video must
never sit in memory. `Mp4Writer` encodes each frame as soon as it arrives and holds audio back
only until video covers it, which keeps the two streams interleaved in the file and lets `close()`
cut or pad the audio to exactly `n_frames / fps` (audio written far ahead of the frames waits in a
queue: 64 KB per second at 16 kHz). Both streams start at t = 0, so lips and sound line up.

`inspect_video` and `read_frames` decode a written file for tests and for users who want to check
what came out.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import RenderError
from ..render.camera import MAX_SIDE

AAC_FRAME = 1024  # samples per AAC frame
AAC_RATES = {7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000}
AUDIO_BITRATE = 64000  # per mono channel: transparent for speech
# BT.601 (SMPTE 170M), limited range: what swscale's RGB -> YUV conversion produces, so players
# that read the tags (browsers, QuickTime) show the colours we encoded at every resolution.
BT601 = 6
LIMITED_RANGE = 1
_AV_ERRORS = (av.FFmpegError, OSError, ValueError)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, measured by decoding it."""

    width: int
    height: int
    fps: float
    n_frames: int  # decoded frame count
    video_duration: float  # seconds, as the container declares it
    audio_duration: float | None  # seconds, as the container declares it (edit list applied)
    audio_sample_rate: int | None
    audio_codec: str | None
    video_codec: str
    first_video_pts: float  # seconds
    first_audio_pts: float | None  # seconds


class Mp4Writer:
    """Encode RGB frames (libx264, yuv420p) and mono float audio (AAC) into one file.

    Use as a context manager; `write_frame` and `write_audio` may be called in any order with
    any chunk sizes. `size=None` takes the size from the first frame. `sample_rate=None` makes
    a video-only file; so does closing a writer that never received audio.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 25, size: tuple[int, int] | None = None,
                 sample_rate: int | None = 16000, crf: int = 20, preset: str = "veryfast"):
        self.path = Path(path)
        self.fps = _check_fps(fps)
        self.size = _check_size(size) if size is not None else None
        self.sample_rate = _check_sample_rate(sample_rate)
        self.n_frames = 0
        self._closed = False
        self._queue = _SampleQueue()
        self._audio_sent = 0  # samples already handed to the AAC encoder
        self._got_audio = False
        self._open(crf, preset)

    # -- public ------------------------------------------------------------------------------

    def write_frame(self, rgb: np.ndarray) -> None:
        """Encode one H x W x 3 uint8 RGB frame at t = n_frames / fps."""
        self._check_open()
        rgb = self._check_frame(rgb)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.n_frames
        frame.time_base = 1 / self.fps
        self._encode(self.video, frame)
        self.n_frames += 1
        self._send_audio(self._video_samples())

    def write_audio(self, samples: np.ndarray) -> None:
        """Queue a chunk of mono float audio (values clipped to [-1, 1]); it is encoded once
        video reaches it."""
        self._check_open()
        if self.audio is None:
            raise RenderError(f"{self.path.name} was opened without audio (sample_rate=None)")
        chunk = _check_samples(samples)
        if len(chunk):
            self._got_audio = True
            self._queue.push(chunk)
            self._send_audio(self._video_samples())

    def close(self) -> None:
        """Fit the audio to the video's length, flush both encoders and finish the file."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.audio is not None and self._got_audio and self.n_frames:
                self._finish_audio()
            if self.n_frames:
                self._encode(self.video, None)
        finally:
            try:
                self.container.close()
            except _AV_ERRORS as exc:
                raise RenderError(f"could not finish {self.path}: {_reason(exc)}") from None
        if not self.n_frames:
            self.path.unlink(missing_ok=True)
            raise RenderError(f"no video frames were written to {self.path}")
        if self.audio is not None and not self._got_audio:
            _drop_audio(self.path)

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # keep the caller's exception; still leave a playable file behind when possible
            self.close()
        except RenderError:
            pass

    # -- setup -------------------------------------------------------------------------------

    def _open(self, crf: int, preset: str) -> None:
        if self.path.is_dir():
            raise RenderError(f"cannot write {self.path}: it is a directory")
        if not self.path.parent.is_dir():
            raise RenderError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        check_video_path(self.path)
        try:
            self.container = av.open(str(self.path), mode="w", format=_muxer(self.path))
        except _AV_ERRORS as exc:
            raise RenderError(f"cannot write {self.path}: {_reason(exc)}") from None
        try:
            self.video = self._add_video(crf, preset)
            self.audio = self._add_audio() if self.sample_rate else None
        except _AV_ERRORS as exc:
            self.container.close()
            raise RenderError(f"cannot set up encoders for {self.path}: {_reason(exc)}") from None

    def _add_video(self, crf: int, preset: str) -> av.VideoStream:
        stream = self.container.add_stream("libx264", rate=self.fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        cc = stream.codec_context
        cc.time_base = 1 / self.fps
        cc.colorspace = cc.color_primaries = cc.color_trc = BT601
        cc.color_range = LIMITED_RANGE
        if self.size is not None:
            stream.width, stream.height = self.size
        return stream

    def _add_audio(self) -> av.AudioStream:
        stream = self.container.add_stream("aac", rate=self.sample_rate)
        stream.layout = "mono"
        stream.format = "fltp"
        stream.bit_rate = AUDIO_BITRATE
        # FFmpeg's default AAC coder searches ~3x longer for a difference speech does not need.
        stream.options = {"aac_coder": "fast"}
        return stream

    # -- frames ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RenderError(f"cannot write to {self.path.name}: the writer is closed")

    def _check_frame(self, rgb) -> np.ndarray:
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            got = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
            raise RenderError(f"frames must be H x W x 3 uint8 RGB arrays, got {got}")
        height, width = rgb.shape[:2]
        if self.size is None:  # first frame fixes the size
            self.size = _check_size((width, height))
            self.video.width, self.video.height = self.size
        if (width, height) != self.size:
            raise RenderError(f"frame {self.n_frames} is {width}x{height}, the video is "
                              f"{self.size[0]}x{self.size[1]}")
        return np.ascontiguousarray(rgb)

    def _encode(self, stream, frame) -> None:
        try:
            for packet in stream.encode(frame):
                self.container.mux(packet)
        except _AV_ERRORS as exc:
            raise RenderError(f"encoding {self.path.name} failed: {_reason(exc)}") from None

    # -- audio -------------------------------------------------------------------------------

    def _video_samples(self) -> int:
        """Audio samples spanned by the frames written so far."""
        return round(self.n_frames * self.sample_rate / self.fps) if self.sample_rate else 0

    def _send_audio(self, limit: int) -> None:
        """Encode whole AAC frames of queued audio that video already covers."""
        while len(self._queue) >= AAC_FRAME and self._audio_sent + AAC_FRAME <= limit:
            self._encode_audio(self._queue.pop(AAC_FRAME))

    def _finish_audio(self) -> None:
        """Pad with silence or drop the excess so audio lasts exactly n_frames / fps."""
        missing = self._video_samples() - self._audio_sent
        rest = self._queue.pop(min(missing, len(self._queue)))
        rest = np.concatenate([rest, np.zeros(missing - len(rest), np.float32)])
        for start in range(0, len(rest), AAC_FRAME):
            self._encode_audio(rest[start:start + AAC_FRAME])
        self._encode(self.audio, None)

    def _encode_audio(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._audio_sent
        frame.time_base = Fraction(1, self.sample_rate)
        self._encode(self.audio, frame)
        self._audio_sent += len(samples)


class _SampleQueue:
    """FIFO of float32 samples; pops exact counts without re-joining everything queued."""

    def __init__(self):
        self._chunks: deque[np.ndarray] = deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, chunk: np.ndarray) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)

    def pop(self, n: int) -> np.ndarray:
        parts, need = [], n
        while need > 0:
            head = self._chunks.popleft()
            if len(head) > need:
                self._chunks.appendleft(head[need:])
                head = head[:need]
            parts.append(head)
            need -= len(head)
        self._size -= n
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


# ---------------------------------------------------------------------------------------------
# argument checks


def _check_fps(fps) -> Fraction:
    try:
        rate = Fraction(fps).limit_denominator(1001)
    except (TypeError, ValueError):
        raise RenderError(f"fps must be a number, got {fps!r}") from None
    if not 1 <= rate <= 240:
        raise RenderError(f"fps must be between 1 and 240, got {fps}")
    return rate


def _check_size(size) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise RenderError(f"size must be (width, height), got {size!r}") from None
    if width < 2 or height < 2:
        raise RenderError(f"video size {width}x{height} is too small")
    if max(width, height) > MAX_SIDE:
        raise RenderError(f"video size {width}x{height} is too large (at most {MAX_SIDE} per side)")
    if width % 2 or height % 2:
        raise RenderError(f"video size {width}x{height} is odd; H.264 (yuv420p) needs even width and height")
    return width, height


def _check_sample_rate(sample_rate) -> int | None:
    if sample_rate is None:
        return None
    if sample_rate not in AAC_RATES:
        raise RenderError(f"AAC cannot encode {sample_rate} Hz audio; use one of {sorted(AAC_RATES)}")
    return int(sample_rate)


def _check_samples(samples) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
        raise RenderError(f"audio chunks must be 1-D float arrays, got {x.dtype} of shape {x.shape}")
    if not np.isfinite(x).all():
        raise RenderError("audio chunk contains NaN or infinite samples")
    return np.clip(x, -1.0, 1.0).astype(np.float32)


VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")  # containers that hold H.264 + AAC as written


def check_video_path(path: str | os.PathLike) -> Path:
    """`path` as a Path, or a RenderError if its extension is not a container we write.

    Without this, `-o out.txt` (or `.webm`, whose codecs differ) would get an mp4 under a name
    that players and browsers misread."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise RenderError(f"cannot write {path}: unsupported video type {path.suffix or '(none)'!r}; "
                          f"use {', '.join(VIDEO_SUFFIXES)}")
    return path


def _muxer(path: Path) -> str | None:
    """mp4 unless the name asks for mov or mkv (ffmpeg then picks by extension)."""
    return None if path.suffix.lower() in (".mov", ".mkv") else "mp4"


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().rstrip(".")


# ---------------------------------------------------------------------------------------------
# reading back


def _drop_audio(path: Path) -> None:
    """Rewrite `path` without its (empty) audio track: a stream copy, no re-encoding."""
    tmp = path.with_name(f".{path.stem}.video-only{path.suffix}")
    try:
        with av.open(str(path)) as src, av.open(str(tmp), mode="w", format=_muxer(path)) as dst:
            vin = src.streams.video[0]
            vout = dst.add_stream_from_template(vin)
            for packet in src.demux(vin):
                if packet.dts is None:  # demuxer's end-of-stream marker
                    continue
                packet.stream = vout
                dst.mux(packet)
        os.replace(tmp, path)
    except _AV_ERRORS as exc:
        tmp.unlink(missing_ok=True)
        raise RenderError(f"could not remove the empty audio track from {path}: {_reason(exc)}") from None


def _open_video(path: str | os.PathLike):
    p = Path(path)
    if not p.is_file():
        raise RenderError(f"video file not found: {p}")
    try:
        container = av.open(str(p))
    except _AV_ERRORS as exc:
        raise RenderError(f"{p} is not a readable video ({_reason(exc)})") from None
    if not container.streams.video:
        container.close()
        raise RenderError(f"{p} has no video stream")
    return container


def _declared(stream) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def inspect_video(path: str | os.PathLike) -> VideoInfo:
    """Decode every frame and audio packet once and report what the file really holds."""
    with _open_video(path) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        n_frames, first_v, last_v, first_a, samples = 0, None, None, None, 0
        try:
            for packet in container.demux(*(s for s in (video, audio) if s is not None)):
                for frame in packet.decode():
                    t = float(frame.pts * frame.time_base) if frame.pts is not None else None
                    if packet.stream.type == "video":
                        n_frames += 1
                        first_v = t if first_v is None else first_v
                        last_v = t
                    else:
                        first_a = t if first_a is None else first_a
                        samples += frame.samples
        except _AV_ERRORS as exc:
            raise RenderError(f"{path} is corrupt ({_reason(exc)})") from None
        fps = float(video.average_rate or video.guessed_rate or 0)
        video_duration = _declared(video)
        if video_duration is None:
            video_duration = (last_v - first_v + 1 / fps) if n_frames and fps else 0.0
        audio_duration = None
        if audio is not None:
            audio_duration = _declared(audio)
            if audio_duration is None and audio.rate:
                audio_duration = samples / audio.rate
        return VideoInfo(
            width=video.codec_context.width, height=video.codec_context.height, fps=fps,
            n_frames=n_frames, video_duration=video_duration, audio_duration=audio_duration,
            audio_sample_rate=audio.rate if audio is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            video_codec=video.codec_context.name,
            first_video_pts=first_v if first_v is not None else 0.0, first_audio_pts=first_a)


def read_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yield the video's frames as H x W x 3 uint8 RGB arrays, one at a time."""
    with _open_video(path) as container:
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except _AV_ERRORS as exc:
            raise RenderError(f"{path} is corrupt ({_reason(exc)})") from None
