"""mesh3d speed: frames/s at 512^2 for a face-sized mesh on each backend, readback included.

The mesh is a 468-vertex (18 x 26) patch of a bumpy ellipsoid, 850 triangles, about the size
of MediaPipe's face (468 vertices, 852 triangles) and covering a similar share of the frame. It
deforms every frame, so per-vertex normals are recomputed as they would be for speech.
Run as a script for a table: `python benchmarks/bench_render.py`.
"""

from __future__ import annotations

import time

import numpy as np

from talkinghead.errors import RenderError
from talkinghead.render.mesh3d import MeshRenderer

SIZE = 512


def face_like_mesh(rows: int = 26, cols: int = 18) -> tuple[np.ndarray, np.ndarray]:
    """(rows*cols, 3) vertices of the front of an ellipsoid 0.15 m wide, and its triangles."""
    lat, lon = np.meshgrid(np.linspace(-1.0, 1.0, rows), np.linspace(-1.1, 1.1, cols), indexing="ij")
    x, y = 0.075 * np.sin(lon) * np.cos(lat * 0.9), 0.1 * np.sin(lat * 0.9)
    z = 0.06 * np.cos(lon) * np.cos(lat * 0.9) + 0.004 * np.sin(5 * lon) * np.cos(4 * lat)
    verts = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    idx = np.arange(rows * cols).reshape(rows, cols)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    return verts, np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])


def _frames(verts: np.ndarray, count: int) -> np.ndarray:
    """A jaw-like wobble of the lower half, different in every frame."""
    t = np.arange(count)[:, None]
    lower = np.clip(-verts[:, 1] / 0.1, 0, 1)[None]
    out = np.repeat(verts[None], count, axis=0)
    out[..., 1] -= 0.01 * lower * (1 + np.sin(0.7 * t))
    return out


def _fps(backend: str, frames: np.ndarray, triangles: np.ndarray, antialias: bool = False) -> dict:
    renderer = MeshRenderer(triangles, SIZE, backend=backend, antialias=antialias)
    renderer.render(frames[0])  # fit the camera, warm caches
    best = np.inf
    for _ in range(3):  # best of three: the machine is shared
        start = time.perf_counter()
        for _ in renderer.render_many(frames):
            pass
        best = min(best, (time.perf_counter() - start) / len(frames))
    renderer.close()
    return {"fps": round(1.0 / best, 1), "ms_per_frame": round(1000 * best, 2)}


def bench_render() -> dict:
    verts, triangles = face_like_mesh()
    result: dict = {"size": f"{SIZE}x{SIZE}", "vertices": len(verts), "triangles": len(triangles)}
    cases = {"egl": ("egl", 200, False), "egl_msaa4": ("egl", 200, True), "numpy": ("numpy", 15, False)}
    for name, (backend, count, antialias) in cases.items():
        try:
            result[name] = _fps(backend, _frames(verts, count), triangles, antialias)
        except RenderError as exc:
            result[name] = f"skipped: {exc}"
    return result


if __name__ == "__main__":
    figures = bench_render()
    print(f"mesh3d at {figures['size']}, {figures['vertices']} vertices, {figures['triangles']} triangles")
    print(f"{'backend':<12}{'frames/s':>10}{'ms/frame':>10}")
    for name in ("egl", "egl_msaa4", "numpy"):
        row = figures[name]
        if isinstance(row, dict):
            print(f"{name:<12}{row['fps']:>10}{row['ms_per_frame']:>10}")
        else:
            print(f"{name:<12}  {row}")
