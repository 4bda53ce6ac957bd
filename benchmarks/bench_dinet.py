"""DH_live mini per-frame costs on CPU: DINet_mini, warp/composition/paste-back, prompt raster.

Random weights and synthetic inputs, so it runs without checkpoints or shared assets.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from talkinghead.render.photo2d import raster, warp
from talkinghead.render.photo2d.dinet import DINetMini


def _ms(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def _ramp_mask(h: int, w: int, border: int) -> torch.Tensor:
    y = np.minimum(np.arange(h), np.arange(h)[::-1])[:, None]
    x = np.minimum(np.arange(w), np.arange(w)[::-1])[None]
    return torch.from_numpy(np.clip(np.minimum(x, y) / border, 0, 1).astype(np.float32))


def _grid_mesh(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.meshgrid(np.linspace(-0.5, 0.6, rows), np.linspace(-0.7, 0.7, cols), indexing="ij")
    ndc = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, -0.25)], 1)
    faces = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            i = r * cols + c
            faces += [[i, i + cols, i + 1], [i + 1, i + cols, i + cols + 1]]   # clockwise = front
    return ndc, np.array(faces)


def bench_dinet(repeats: int = 50) -> dict:
    """ms/frame at the default torch thread count and single-threaded (the 80x112 net is tiny, so
    threads mostly add overhead on a loaded machine)."""
    torch.manual_seed(0)
    net = DINetMini().eval()
    style = torch.randn(1, 64) * 0.1
    mouth = torch.rand(1, 3, 80, 112)
    masks = warp.BlendMasks(_ramp_mask(184, 184, 23), _ramp_mask(80, 112, 12))
    source = torch.rand(1, 4, 184, 184)
    prompt = torch.full((1, 4, 184, 184), 0.5)
    prompt[:, 2, 70:110, 60:120] = 1.0
    frame = (np.random.default_rng(0).random((540, 360, 4)) * 255).astype(np.uint8)
    rect = (129, 193, 219, 283)
    ndc, faces = _grid_mesh(12, 21)   # 252 vertices, 440 triangles over the mouth region, like the wrap mesh

    def dinet():
        with torch.no_grad():
            net.decode(mouth, style)

    def warp_paste():
        with torch.no_grad():
            warped, blacked, m, _ = warp.warp_and_compose(source, prompt, masks.face)
            out = warp.blend_mouth(warped, blacked, m, torch.rand(1, 3, 80, 112), masks.mouth)
        crop = warp.crop_source(frame, rect)
        warp.paste_back(frame, warp.to_uint8_hwc(out), rect)
        return crop

    def prompt_raster():
        raster.rasterize(ndc, np.zeros((267, 2), np.float32), np.zeros(267), faces, 368, 2)

    threads = torch.get_num_threads()
    result = {"torch_threads": threads,
              "dinet_mini_ms_per_frame": round(_ms(dinet, repeats), 3),
              "warp_compose_paste_ms_per_frame": round(_ms(warp_paste, repeats), 3)}
    torch.set_num_threads(1)
    try:
        result["dinet_mini_ms_per_frame_1thread"] = round(_ms(dinet, repeats), 3)
        result["warp_compose_paste_ms_per_frame_1thread"] = round(_ms(warp_paste, repeats), 3)
    finally:
        torch.set_num_threads(threads)
    result["prompt_raster_ms_per_frame"] = round(_ms(prompt_raster, max(3, repeats // 5)), 3)
    print(result)
    return result


if __name__ == "__main__":
    bench_dinet()
