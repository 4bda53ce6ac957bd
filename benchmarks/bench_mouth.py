"""Trained (DINet_mini) against procedural mouth in `AvatarRenderer`: ms per frame.

    python benchmarks/bench_mouth.py [AVATAR_DIR]

`bench_neural_mouth()` renders the same open-mouth motion on an avatar twice, with the procedural
interior and with DINet_mini, and reports the mean time of a whole frame and of the mouth step
(cut the box, semantic input, network, blend back). Without a trained `renderer.safetensors` it
times a freshly initialised DINet_mini: the cost does not depend on the weights.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from talkinghead.motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES


def _rows(n: int) -> np.ndarray:
    rows = np.zeros((n, len(ARKIT52_CHANNELS)))
    t = np.arange(n) / 25.0
    rows[:, ARKIT_BLENDSHAPES.index("jawOpen")] = 0.2 + 0.25 * np.sin(2 * np.pi * 2.0 * t) ** 2
    return rows


def _time_frames(renderer, rows) -> float:
    t0 = time.perf_counter()
    for _ in renderer.frames(rows):
        pass
    return 1000.0 * (time.perf_counter() - t0) / len(rows)


def bench_neural_mouth(avatar_dir: str | None = None, frames: int = 100, threads: int = 1) -> dict:
    from talkinghead.avatar.photo import resolve_avatar
    from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer
    from talkinghead.render.photo2d.dinet import DINetMini
    from talkinghead.render.photo2d.neural_mouth import NeuralMouth
    torch.set_num_threads(threads)
    avatar = resolve_avatar(avatar_dir or "photo")
    rows = _rows(frames)
    procedural = AvatarRenderer(avatar)
    neural = AvatarRenderer(avatar, mouth="auto")
    weights = "trained" if neural.neural is not None else "untrained (timing only)"
    if neural.neural is None:
        from talkinghead.render.photo2d.neural_mouth import crop_size
        torch.manual_seed(0)
        neural.neural = NeuralMouth(DINetMini(), torch.zeros(64))
        neural.crop_size = crop_size(avatar.landmarks)
    _time_frames(neural, rows[:5])                    # warm-up
    neural.neural.calls, neural.neural.seconds = 0, 0.0
    out = {"avatar": str(avatar.path), "weights": weights, "frames": frames, "threads": threads,
           "procedural_frame_ms": round(_time_frames(procedural, rows), 2),
           "dinet_frame_ms": round(_time_frames(neural, rows), 2),
           "dinet_mouth_ms": round(neural.neural.ms_per_frame, 2)}
    with torch.no_grad():
        x, s = torch.rand(1, 3, 80, 112), torch.zeros(1, 64)
        t0 = time.perf_counter()
        for _ in range(frames):
            neural.neural.net.decode(x, s)
        out["dinet_network_ms"] = round(1000.0 * (time.perf_counter() - t0) / frames, 2)
    return out


if __name__ == "__main__":
    print(json.dumps(bench_neural_mouth(sys.argv[1] if len(sys.argv) > 1 else None), indent=1))


def bench_mouth() -> dict:
    """Entry point for `make bench`."""
    return bench_neural_mouth()
