"""How well arkit52 reproduces real mouths, and how fast fitting runs.

For each real clip in ../shared/eval/clips: fit every valid frame's MediaPipe landmarks
(normalised -> pixels) and report
  * lips_rms_iod: RMS over the 40 lip landmarks of (observed - fitted rig incl. identity
    offset), in the rig frame, divided by the observed eye-corner distance |p33 - p263|;
  * mouth_open_r: Pearson r between the clip's measured mouth_open and |p13 - p14| / |p33 - p263|
    recomputed from `rig.landmarks(fitted motion)` (pure rig: no identity offset);
  * fit_fps: frames fitted per second (all frames of the clip in one call).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from talkinghead.rigs import load_rig
from talkinghead.rigs.arkit52 import rotation
from talkinghead.rigs.fitting import fit_landmarks

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "clips"


def clip_pixels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, 478, 3) pixel-scaled landmarks of the valid frames, and their mouth_open."""
    with np.load(path) as data:
        valid = data["valid"].astype(bool)
        w, h = (int(v) for v in data["image_size"])
        points = data["landmarks"][valid].astype(np.float64) * np.array([w, h, w])
        return points, data["mouth_open"][valid].astype(np.float64)


def mouth_open(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, 13] - points[:, 14], axis=1) / np.linalg.norm(points[:, 33] - points[:, 263], axis=1)


def score_clip(path: Path) -> dict:
    rig = load_rig("arkit52")
    points, measured = clip_pixels(path)
    start = time.perf_counter()
    motion = fit_landmarks(points)
    seconds = time.perf_counter() - start
    lips = rig.groups["lips"]
    fitted = rig.shape(motion.values[:, :52]) + motion.extras["identity"][None]
    observed = points[:, :468] * np.array([1.0, -1.0, -1.0])
    trans = motion.extras["translation"] * np.array([1.0, -1.0, -1.0])
    rot = rotation(*motion.values[:, 52:].T)
    local = np.einsum("tji,tvj->tvi", rot, observed - trans[:, None]) / motion.extras["scale"][:, None, None]
    iod = np.linalg.norm(local[:, 33] - local[:, 263], axis=1)
    lips_rms = np.sqrt(((local[:, lips] - fitted[:, lips]) ** 2).sum(-1).mean(-1)) / iod
    r = np.corrcoef(mouth_open(rig.landmarks(motion.values)), measured)[0, 1]
    return {"frames": len(points), "lips_rms_iod": float(lips_rms.mean()), "mouth_open_r": float(r),
            "fit_fps": len(points) / seconds}


def bench_rig() -> dict:
    """Per-clip and mean figures; {'skipped': reason} when ../shared/eval is absent."""
    clips = sorted(EVAL.glob("*.npz"))
    if not clips:
        return {"skipped": f"no clips under {EVAL}"}
    load_rig("arkit52")  # build (or read the cached) rig outside the timing
    result = {path.stem: score_clip(path) for path in clips}
    for key in ("lips_rms_iod", "mouth_open_r", "fit_fps"):
        result[f"mean_{key}"] = float(np.mean([v[key] for v in result.values() if isinstance(v, dict)]))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    bench_rig()
    sys.exit(0)
