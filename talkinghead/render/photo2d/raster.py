"""Raster stage of DH_live's mouth prompt (spec-dhlive §4.3, §4.5) as a small numpy rasteriser.

Reproduces the GL state of the original: depth test `less` (cleared to 1), back faces culled with
clockwise front faces in window coordinates (y up = image rows, since the read-back is not flipped),
clear colour (0.5, 0.5, 0.5, 0), unorm8 output. The fragment colour is chosen from the interpolated
vertex category `t`: flat semantic colours for lips/teeth/back wall, otherwise the flow `v_bias`
encoded as ((x+1)/2, (y+1)/2, 0.5). Because categories are interpolated, mixed triangles behave like
the original (a lip-skin triangle is flow-coloured).
"""

from __future__ import annotations

import numpy as np

CLEAR = (0.5, 0.5, 0.5, 0.0)


def fragment_colour(t: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Colour [N,4] float from category t [N] and flow [N,2], in the shader's test order."""
    out = np.empty((len(t), 4), np.float32)
    out[:, 0] = (bias[:, 0] + 1) / 2
    out[:, 1] = (bias[:, 1] + 1) / 2
    out[:, 2] = 0.5
    out[:, 3] = 1.0
    flat = [
        (t == 2.0, (1, 0, 0)),
        ((t > 2.0) & (t < 2.1), (0.5, 0, 0)),
        (t == 3.0, (0, 1, 0)),
        (t == 4.0, (0, 0, 1)),
        ((t > 3.0) & (t < 4.0), (0, 0, 0)),
        (t == -2.0, (0, 0, 0)),
    ]
    done = np.zeros(len(t), bool)
    for cond, rgb in flat:
        sel = cond & ~done
        out[sel, :3] = rgb
        done |= sel
    return out


def _samples(size: int, stride: int) -> np.ndarray:
    """Window-space x (= y) of the kept pixel centres: every `stride`-th pixel of a size^2 target."""
    return np.arange(0, size, stride, dtype=np.float64) + 0.5


def rasterize(
    ndc: np.ndarray,
    bias: np.ndarray,
    category: np.ndarray,
    faces: np.ndarray,
    size: int = 368,
    stride: int = 2,
) -> np.ndarray:
    """Draw the prompt: RGBA uint8 [size/stride, size/stride, 4], row 0 = image top.

    `size`=368 with `stride`=2 is the desktop path (render at 2x and keep pixels [::2, ::2]);
    `size`=184 with `stride`=1 is the web path. All triangles are rasterised at once: every
    (triangle, sample) pair inside a triangle's bounding box is tested, and per sample the nearest
    fragment wins, the earliest triangle on ties, which is what a `less` depth test drawing the
    triangles in order leaves behind.
    """
    ndc = np.asarray(ndc, np.float64)
    xw = (ndc[:, 0] + 1) * 0.5 * size
    yw = (ndc[:, 1] + 1) * 0.5 * size
    zw = (ndc[:, 2] + 1) * 0.5
    grid = _samples(size, stride)
    n = len(grid)
    colour = np.tile(np.asarray(CLEAR, np.float32), (n * n, 1))
    tri, pix, l1, l2 = _fragments(np.asarray(faces, np.int64), xw, yw, grid)
    if len(tri):
        v = np.asarray(faces, np.int64)[tri]
        z = zw[v[:, 0]] + (zw[v[:, 1]] - zw[v[:, 0]]) * l1 + (zw[v[:, 2]] - zw[v[:, 0]]) * l2
        keep = (z >= 0) & (z < 1)
        tri, pix, l1, l2, z, v = tri[keep], pix[keep], l1[keep], l2[keep], z[keep], v[keep]
        order = np.lexsort((tri, z, pix))
        first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
        attrs = np.concatenate([np.asarray(category, np.float32)[:, None], np.asarray(bias, np.float32)], 1)
        a0, a1, a2 = attrs[v[first, 0]], attrs[v[first, 1]], attrs[v[first, 2]]
        w1 = l1[first].astype(np.float32)[:, None]
        w2 = l2[first].astype(np.float32)[:, None]
        a = a0 + (a1 - a0) * w1 + (a2 - a0) * w2   # plane form keeps constant attributes exact
        colour[pix[first]] = fragment_colour(a[:, 0], a[:, 1:])
    return np.floor(np.clip(colour, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(n, n, 4)


def _fragments(faces: np.ndarray, xw, yw, grid):
    """All covered (triangle, flat sample index, barycentric l1, l2) of the front-facing triangles."""
    x, y = xw[faces], yw[faces]                                   # [F, 3]
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    c0, c1 = np.searchsorted(grid, x.min(1)), np.searchsorted(grid, x.max(1))
    r0, r1 = np.searchsorted(grid, y.min(1)), np.searchsorted(grid, y.max(1))
    front = (area < 0) & (c1 > c0) & (r1 > r0)   # clockwise in window space is front; others culled
    tri = np.nonzero(front)[0]
    widths, heights = (c1 - c0)[tri], (r1 - r0)[tri]
    counts = widths * heights
    tri_of = np.repeat(tri, counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    width_of = np.repeat(widths, counts)
    col = c0[tri_of] + local % width_of
    row = r0[tri_of] + local // width_of
    # Barycentrics as per-triangle plane equations l = a*x + b*y + c, gathered per sample.
    x0, y0 = x[:, 0], y[:, 0]
    ex1, ey1, ex2, ey2 = x[:, 1] - x0, y[:, 1] - y0, x[:, 2] - x0, y[:, 2] - y0
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.stack([ey2, -ex2, ex2 * y0 - ey2 * x0], 1) / area[:, None]
        p2 = np.stack([-ey1, ex1, ey1 * x0 - ex1 * y0], 1) / area[:, None]
    px, py = grid[col], grid[row]
    q1, q2 = p1[tri_of], p2[tri_of]
    l1 = q1[:, 0] * px + q1[:, 1] * py + q1[:, 2]
    l2 = q2[:, 0] * px + q2[:, 1] * py + q2[:, 2]
    inside = (l1 >= 0) & (l2 >= 0) & (l1 + l2 <= 1)
    return tri_of[inside], (row * len(grid) + col)[inside], l1[inside], l2[inside]
