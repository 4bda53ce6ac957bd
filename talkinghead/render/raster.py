"""A pure numpy triangle rasteriser with ARTalk's Phong shading: the fallback when GL is missing.

It follows the GL pipeline closely enough that both backends produce nearly the same picture:
samples at pixel centres, a depth test on 1/depth (which orders fragments like GL's NDC depth),
perspective-correct barycentrics for normals and colours, and the same two-sided normal flip
for back-facing triangles. Triangles are grouped by bounding-box size (powers of two) and each
group is tested over one broadcast pixel grid, in chunks so that big triangles cannot exhaust
memory; the depth test is a scatter-max of 1/depth into a z-buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkinghead.render.camera import Camera

_CHUNK = 1 << 20  # candidate pixels per batch of triangles
_EDGE_EPS = 1e-9  # keeps pixel centres lying exactly on a shared edge from falling through both


@dataclass(frozen=True)
class Lighting:
    """PyTorch3D's PointLights/Materials defaults as ARTalk uses them; `position` None = camera's."""

    position: tuple[float, float, float] | None = None
    ambient: float = 0.5
    diffuse: float = 0.3
    specular: float = 0.2
    specular_color: float = 0.6
    shininess: float = 10.0

    def __post_init__(self) -> None:  # a tuple keeps the dataclass hashable and comparable
        if self.position is not None:
            object.__setattr__(self, "position", tuple(float(x) for x in np.asarray(self.position).ravel()))

    def light_for(self, camera: Camera) -> np.ndarray:
        return camera.light_position() if self.position is None else np.asarray(self.position, float)


@dataclass(frozen=True)
class Fragments:
    """The visible fragment of every covered pixel: flat pixel index, triangle, barycentrics."""

    pixels: np.ndarray  # (M,) int, y * width + x
    triangles: np.ndarray  # (M,) int, index into the triangle list
    bary: np.ndarray  # (M, 3) perspective-correct barycentric weights
    back_facing: np.ndarray  # (F,) bool per input triangle


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (the sum of adjacent face cross products, as PyTorch3D)."""
    v0, v1, v2 = (vertices[triangles[:, k]] for k in range(3))
    face = np.cross(v1 - v0, v2 - v0)
    corners = triangles.ravel()
    normals = np.stack([np.bincount(corners, np.repeat(face[:, c], 3), len(vertices)) for c in range(3)], 1)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(length, 1e-12)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.sqrt(np.einsum("mc,mc->m", x, x)), 1e-12)[:, None]


def shade(points, normals, albedo, eye, light, lighting: Lighting) -> np.ndarray:
    """Phong: (ambient + diffuse*max(0, n.l))*albedo + specular, all (M, 3) float in [0, 1]."""
    n, l, v = _unit(normals), _unit(light - points), _unit(eye - points)
    cos_l = np.einsum("mc,mc->m", n, l)
    reflect = 2.0 * cos_l[:, None] * n - l
    highlight = np.maximum(np.einsum("mc,mc->m", v, reflect), 0.0) ** lighting.shininess
    spec = np.where(cos_l > 0, lighting.specular * lighting.specular_color * highlight, 0.0)
    colour = (lighting.ambient + lighting.diffuse * np.maximum(cos_l, 0.0))[:, None] * albedo
    return np.clip(colour + spec[:, None], 0.0, 1.0)


def _bounding_boxes(tri_uv: np.ndarray, width: int, height: int) -> tuple[np.ndarray, ...]:
    """Integer pixel ranges whose centres (x + 0.5) can fall inside each triangle."""
    lo, hi = tri_uv.min(axis=1), tri_uv.max(axis=1)
    x0 = np.clip(np.ceil(lo[:, 0] - 0.5), 0, width).astype(np.int64)
    y0 = np.clip(np.ceil(lo[:, 1] - 0.5), 0, height).astype(np.int64)
    x1 = np.clip(np.floor(hi[:, 0] - 0.5), -1, width - 1).astype(np.int64)
    y1 = np.clip(np.floor(hi[:, 1] - 0.5), -1, height - 1).astype(np.int64)
    return x0, y0, np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)


def _planes(tri_uv: np.ndarray, area2: np.ndarray, inv_depth: np.ndarray) -> np.ndarray:
    """(F, 4, 3): coefficients (a, b, c) of a*u + b*v + c for w0, w1, w2 and 1/depth.

    Screen-space barycentrics are affine in the pixel position, and so is 1/depth; evaluating
    planes avoids gathering vertex data for every candidate pixel.
    """
    planes = np.empty((len(tri_uv), 4, 3))
    for i in range(3):
        pj, pk = tri_uv[:, (i + 1) % 3], tri_uv[:, (i + 2) % 3]
        e = pk - pj  # w_i = cross(pk - pj, p - pj) / area2
        planes[:, i, 0] = -e[:, 1] / area2
        planes[:, i, 1] = e[:, 0] / area2
        planes[:, i, 2] = (e[:, 1] * pj[:, 0] - e[:, 0] * pj[:, 1]) / area2
    planes[:, 3] = np.einsum("fi,fic->fc", inv_depth, planes[:, :3])
    return planes


def _grid_fragments(ids, planes, x0, y0, bw, bh, ky: int, kx: int):
    """Covered pixels of triangles `ids`, testing a shared ky x kx grid over each bounding box."""
    ox, oy = np.arange(kx), np.arange(ky)
    u = (x0[ids, None, None] + ox + 0.5).astype(np.float64)
    v = (y0[ids, None, None] + oy[:, None] + 0.5).astype(np.float64)
    inside = (ox < bw[ids, None, None]) & (oy[:, None] < bh[ids, None, None])
    for i in range(3):
        a, b, c = (planes[ids, i, k, None, None] for k in range(3))
        inside &= a * u + b * v + c >= -_EDGE_EPS
    f, yy, xx = np.nonzero(inside)
    return ids[f], x0[ids[f]] + xx, y0[ids[f]] + yy


def _all_fragments(ids, planes, x0, y0, bw, bh):
    """Every (triangle, x, y) sample inside a triangle, bucketing triangles by box size."""
    kx = 1 << np.ceil(np.log2(bw[ids])).astype(np.int64)
    ky = 1 << np.ceil(np.log2(bh[ids])).astype(np.int64)
    out = []
    for gx, gy in set(zip(kx.tolist(), ky.tolist())):
        group = ids[(kx == gx) & (ky == gy)]
        step = max(1, _CHUNK // (gx * gy))
        out += [_grid_fragments(group[s:s + step], planes, x0, y0, bw, bh, gy, gx)
                for s in range(0, len(group), step)]
    if not out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return tuple(np.concatenate(parts) for parts in zip(*out))


def rasterize(uv: np.ndarray, depth: np.ndarray, triangles: np.ndarray, width: int, height: int,
              near: float) -> Fragments:
    """Z-buffered coverage of projected triangles (pixel coords `uv`, view depth `depth`).

    Triangles with a vertex nearer than `near` are dropped rather than clipped: enough for a
    camera that frames the whole mesh, which is how both presets are used.
    """
    tri_uv = uv[triangles]
    tri_depth = depth[triangles]
    a, b, c = tri_uv[:, 0], tri_uv[:, 1], tri_uv[:, 2]
    area2 = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    # Pixel v grows downward, so a triangle GL calls counter-clockwise (front) has negative area here.
    back_facing = area2 > 0
    x0, y0, bw, bh = _bounding_boxes(tri_uv, width, height)
    usable = (tri_depth > near).all(axis=1) & (np.abs(area2) > 1e-12) & (bw > 0) & (bh > 0)
    ids = np.flatnonzero(usable)
    inv_depth = 1.0 / np.where(usable[:, None], tri_depth, 1.0)
    planes = _planes(tri_uv, np.where(usable, area2, 1.0), inv_depth)

    tri, px, py = _all_fragments(ids, planes, x0, y0, bw, bh)
    u, v = px + 0.5, py + 0.5
    inv_w = planes[tri, 3, 0] * u + planes[tri, 3, 1] * v + planes[tri, 3, 2]
    pixels = py * width + px
    zbuf = np.full(width * height, -np.inf)
    np.maximum.at(zbuf, pixels, inv_w)  # nearest = largest 1/depth
    win = inv_w >= zbuf[pixels]
    tri_buf = np.full(width * height, -1, dtype=np.int64)
    tri_buf[pixels[win]] = tri[win]  # exact depth ties (shared edges) may keep either triangle
    covered = np.flatnonzero(tri_buf >= 0)
    bary = _barycentrics(planes, inv_depth, tri_buf[covered], covered, width)
    return Fragments(covered, tri_buf[covered], bary, back_facing)


def _barycentrics(planes, inv_depth, tri, pixels, width) -> np.ndarray:
    """Perspective-correct weights at pixel centres: screen weights over depth, renormalised."""
    u, v = pixels % width + 0.5, pixels // width + 0.5
    p = planes[tri, :3]
    q = (p[..., 0] * u[:, None] + p[..., 1] * v[:, None] + p[..., 2]) * inv_depth[tri]
    return q / q.sum(axis=1, keepdims=True)


def render_numpy(camera: Camera, triangles: np.ndarray, vertices: np.ndarray, normals: np.ndarray,
                 colors: np.ndarray, lighting: Lighting, background) -> np.ndarray:
    """Rasterise and shade one frame: (H, W, 3) float image in [0, 1]."""
    width, height = camera.size
    uv, depth = camera.project(vertices)
    frags = rasterize(uv, depth, triangles, width, height, camera.near)
    corners = triangles[frags.triangles]  # (M, 3) vertex ids
    bary = frags.bary.astype(np.float32)  # shading in float32, like the GL backend

    def interpolate(values: np.ndarray) -> np.ndarray:
        return np.einsum("mk,mkc->mc", bary, values.astype(np.float32)[corners])

    n = interpolate(normals)
    n[frags.back_facing[frags.triangles]] *= -1.0
    eye, light = (np.asarray(x, np.float32) for x in (camera.eye, lighting.light_for(camera)))
    rgb = shade(interpolate(vertices), n, interpolate(colors), eye, light, lighting)
    image = np.empty((width * height, 3))
    image[:] = background
    image[frags.pixels] = rgb
    return image.reshape(height, width, 3)
