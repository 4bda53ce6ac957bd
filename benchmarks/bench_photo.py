"""Photo avatar: speed (end to end, with encoding), closed-loop lip accuracy, contact sheets.

    python benchmarks/bench_photo.py            # figures as JSON
    python benchmarks/bench_photo.py --sheets   # also write docs/img/photo_*.png

`bench_photo()` renders the default avatar (the astronaut, 512x512) for a 10 s phonetic-style
motion and encodes it to H.264 on the machine's threads (2 on the dev boxes); per-stage times
come from timing the stages separately on the same frames. `closed_loop()` runs MediaPipe on
rendered frames and correlates the measured inner-lip opening with the commanded one.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from talkinghead.motion import ARKIT52_CHANNELS, Motion

REPO = Path(__file__).resolve().parents[1]
CH = {n: i for i, n in enumerate(ARKIT52_CHANNELS)}


def varied_motion(n: int = 250, seed: int = 0) -> Motion:
    """Speech-like motion: jaw openings of varied size and speed, some rounding, blinks, head sway."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 25.0
    values = np.zeros((n, len(ARKIT52_CHANNELS)), np.float32)
    syll = np.clip(np.sin(2 * np.pi * 2.6 * t + rng.uniform(0, 6)) * 0.5 + 0.5, 0, 1) ** 1.5
    envelope = 0.25 + 0.75 * np.clip(np.sin(2 * np.pi * 0.31 * t) * 0.5 + 0.6, 0, 1)
    values[:, CH["jawOpen"]] = syll * envelope
    values[:, CH["mouthFunnel"]] = 0.5 * np.clip(np.sin(2 * np.pi * 0.45 * t), 0, 1)
    values[:, CH["mouthPucker"]] = 0.4 * np.clip(np.sin(2 * np.pi * 0.45 * t + 0.3), 0, 1)
    blink = np.exp(-(((t % 3.7) - 1.5) / 0.07) ** 2)
    values[:, CH["eyeBlinkLeft"]] = values[:, CH["eyeBlinkRight"]] = blink
    values[:, CH["headYaw"]] = 0.03 * np.sin(2 * np.pi * 0.2 * t)
    values[:, CH["headPitch"]] = 0.02 * np.sin(2 * np.pi * 0.13 * t + 1)
    return Motion(values, ARKIT52_CHANNELS, "arkit52")


def mouth_ratio(points: np.ndarray) -> np.ndarray:
    """|p13 - p14| / |p33 - p263| for (T, >=468, 2|3) points."""
    p = np.asarray(points)[..., :2]
    return np.linalg.norm(p[:, 13] - p[:, 14], axis=-1) / np.linalg.norm(p[:, 33] - p[:, 263], axis=-1)


def commanded_ratio(renderer, motion: Motion) -> np.ndarray:
    """The rig's mouth opening for the weights the renderer actually plays."""
    from talkinghead.rigs import load_rig
    rig = load_rig("arkit52")
    values = motion.values.astype(np.float64).copy()
    for k in range(len(values)):
        values[k, :52] = renderer.target_weights(values[k], renderer.avatar.frame_index(k))
    return mouth_ratio(rig.landmarks(values))


def closed_loop(motion: Motion | None = None, avatar=None) -> dict:
    """Pearson r between measured (MediaPipe on our frames) and commanded mouth opening."""
    from talkinghead.avatar.photo import resolve_avatar
    from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer
    from talkinghead.rigs.facemesh import FaceMesh
    motion = motion or varied_motion(100)
    renderer = AvatarRenderer(resolve_avatar(avatar or "photo"))
    measured = []
    with FaceMesh(static=True) as mesh:
        for frame in renderer.frames(motion):
            points = mesh(frame)
            measured.append(mouth_ratio(points[None])[0] if points is not None else np.nan)
    measured = np.array(measured)
    commanded = commanded_ratio(renderer, motion)
    ok = np.isfinite(measured)
    r = float(np.corrcoef(measured[ok], commanded[ok])[0, 1])
    return {"closed_loop_r": round(r, 4), "closed_loop_frames": int(len(motion)), "faces_found": int(ok.sum()),
            "measured_range": [round(float(np.nanmin(measured)), 3), round(float(np.nanmax(measured)), 3)],
            "commanded_range": [round(float(commanded.min()), 3), round(float(commanded.max()), 3)]}


def real_clips_through_avatar(eval_dir: Path = REPO.parent / "shared" / "eval", model: str = "phonetic") -> dict:
    """Whole-system lip sync: each dev-set clip's audio -> motion -> rendered photo avatar ->
    MediaPipe on our own frames -> mouth opening, scored against the real person."""
    import subprocess
    import tempfile
    from talkinghead.avatar.photo import resolve_avatar
    from talkinghead.pipeline import predict_motion, speech_from_file
    from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer
    from talkinghead.rigs.facemesh import FaceMesh
    if not (eval_dir / "lipsync_metrics.py").is_file():
        return {"skipped": f"{eval_dir} is absent"}
    renderer = AvatarRenderer(resolve_avatar("photo"))
    with tempfile.TemporaryDirectory() as tmp:
        for wav in sorted((eval_dir / "audio").glob("*.wav")):
            motion = predict_motion(speech_from_file(wav), model)
            with FaceMesh(static=False) as mesh:
                found = [mesh(frame) for frame in renderer.frames(motion)]
            opening = np.array([mouth_ratio(p[None])[0] if p is not None else np.nan for p in found])
            np.savez(Path(tmp) / f"{wav.stem}.npz", mouth_open=opening)
        done = subprocess.run([sys.executable, str(eval_dir / "lipsync_metrics.py"), tmp,
                               "--gt-dir", str(eval_dir / "clips"), "--json", str(Path(tmp) / "s.json")],
                              capture_output=True, text=True)
        scores = json.loads((Path(tmp) / "s.json").read_text())
    print(done.stdout)
    return scores.get("mean", scores)


def bench_photo(seconds: float = 10.0) -> dict:
    """Frames per second of render + encode, and milliseconds per stage, on the default avatar."""
    import torch
    from talkinghead.avatar.photo import default_avatar
    from talkinghead.render.photo2d import avatar_renderer as ar
    from talkinghead.pipeline import render_video
    from talkinghead.sinks.mp4 import Mp4Writer
    avatar = default_avatar()
    motion = varied_motion(int(seconds * 25))
    renderer = ar.AvatarRenderer(avatar)
    stages = {"geometry": 0.0, "raster": 0.0, "warp": 0.0, "mouth_lids": 0.0, "encode": 0.0}
    frames = []
    for k, row in enumerate(motion.values.astype(np.float64)):
        t0 = time.perf_counter()
        rest = avatar.mesh_vertices[0].astype(np.float64)
        moved = renderer.moved_vertices(row, 0)
        tris = renderer.triangles
        t1 = time.perf_counter()
        box = ar._window(np.concatenate([rest[tris].reshape(-1, 2), moved[tris].reshape(-1, 2)]), avatar.image.shape)
        x0, y0, x1, y1 = box
        src = ar.backward_map(rest[tris] - [x0, y0], moved[tris] - [x0, y0], (y1 - y0, x1 - x0))
        t2 = time.perf_counter()
        out = avatar.image.copy()
        out[y0:y1, x0:x1] = ar.warp_window(avatar.image[y0:y1, x0:x1], src)
        t3 = time.perf_counter()
        renderer._mouth(out, moved, row, 0)
        for upper, lower in renderer.eyes:
            ar.paint_lid(out, avatar.image, rest[upper], moved[upper], rest[lower] - rest[upper])
        t4 = time.perf_counter()
        stages["geometry"] += t1 - t0
        stages["raster"] += t2 - t1
        stages["warp"] += t3 - t2
        stages["mouth_lids"] += t4 - t3
        frames.append(out)
    with tempfile.TemporaryDirectory() as tmp:
        with Mp4Writer(Path(tmp) / "enc.mp4", fps=25, size=(avatar.width, avatar.height), sample_rate=None) as w:
            t0 = time.perf_counter()
            for f in frames:
                w.write_frame(f)
        stages["encode"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        render_video(motion, Path(tmp) / "e2e.mp4", avatar=avatar)
        total = time.perf_counter() - t0
    n = len(motion)
    speed = {"avatar": f"{avatar.width}x{avatar.height} photo", "frames": n,
             "torch_threads": torch.get_num_threads(), "end_to_end_fps": round(n / total, 1),
             "ms_per_stage": {k: round(v / n * 1000, 2) for k, v in stages.items()}}
    real = real_clips_through_avatar()
    return {**speed, **closed_loop(),
            "real_clips_through_avatar": {k: real.get(k) for k in ("r", "lag", "clo_R", "clo_P", "amp", "skipped")
                                          if k in real}}


def contact_sheets(folder: Path = REPO / "docs" / "img") -> list[str]:
    """Small PNGs of the default avatar: mouth closed / open / rounded, and a blink."""
    import cv2
    from talkinghead.avatar.photo import default_avatar
    from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer
    avatar = default_avatar()
    renderer = AvatarRenderer(avatar)

    def row(**kw) -> np.ndarray:
        v = np.zeros(len(ARKIT52_CHANNELS))
        for name, x in kw.items():
            v[CH[name]] = x
        return v

    sheets = {
        "photo_mouth": [("source", None), ("closed", row()), ("open", row(jawOpen=1.0)),
                        ("half open", row(jawOpen=0.7)), ("rounded", row(jawOpen=0.35, mouthFunnel=0.8, mouthPucker=0.6)),
                        ("smile", row(mouthSmileLeft=0.5, mouthSmileRight=0.5, jawOpen=0.8))],
        "photo_blink": [("open", row()), ("half", row(eyeBlinkLeft=0.5, eyeBlinkRight=0.5)),
                        ("closed", row(eyeBlinkLeft=1.0, eyeBlinkRight=1.0)),
                        ("turned", row(headYaw=0.08, headPitch=0.05))],
    }
    folder.mkdir(parents=True, exist_ok=True)
    x0, y0, x1, y1 = (int(v) for v in avatar.rects[0])
    written = []
    for name, cases in sheets.items():
        tiles = []
        for label, values in cases:
            frame = avatar.image if values is None else renderer.render(avatar.image, values)
            tile = cv2.resize(frame[y0:y1, x0:x1], None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
            cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        path = folder / f"{name}.png"
        cv2.imwrite(str(path), np.concatenate(tiles, axis=1)[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        written.append(str(path.relative_to(REPO)))
    return written


if __name__ == "__main__":
    result = bench_photo()
    if "--sheets" in sys.argv:
        result["sheets"] = contact_sheets()
    print(json.dumps(result, indent=1))
