"""Render a deforming triangle mesh with ARTalk's look: smooth Phong shading on a white background.

The default backend is OpenGL through an EGL standalone context (Mesa llvmpipe renders it on the
CPU without a display, about a millisecond a frame). Where no GL context can be made, a numpy
rasteriser (raster.py) draws the same picture, only slower. Per frame only the vertex buffer
changes: normals are recomputed from the deformed mesh on the CPU (cheap for a face) and
everything else (context, program, index buffer, framebuffer) lives as long as the renderer.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Iterator

import numpy as np

from talkinghead.errors import RenderError
from talkinghead.render.camera import Camera, parse_size
from talkinghead.render.raster import Lighting, render_numpy, vertex_normals

ARTALK_COLOR = (142 / 255, 179 / 255, 247 / 255)
BACKENDS = ("auto", "egl", "numpy")
_MSAA_SAMPLES = 4
_fallback_warned = False

_VERTEX_SHADER = """
#version 330
uniform mat4 mvp;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_color;
void main() {
    v_pos = in_pos;
    v_normal = in_normal;
    v_color = in_color;
    gl_Position = mvp * vec4(in_pos, 1.0);
}
"""

# Mirrors raster.shade; a back-facing triangle flips its normal so either winding lights the same.
_FRAGMENT_SHADER = """
#version 330
uniform vec3 eye;
uniform vec3 light;
uniform float ambient;
uniform float diffuse;
uniform float specular;
uniform float shininess;
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_color;
out vec4 f_color;
void main() {
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 l = normalize(light - v_pos);
    vec3 v = normalize(eye - v_pos);
    float cos_l = dot(n, l);
    vec3 r = -l + 2.0 * cos_l * n;
    float spec = cos_l > 0.0 ? specular * pow(max(dot(v, r), 0.0), shininess) : 0.0;
    vec3 rgb = (ambient + diffuse * max(cos_l, 0.0)) * v_color + spec;
    f_color = vec4(clamp(rgb, 0.0, 1.0), 1.0);
}
"""


class _EGLBackend:
    """moderngl objects for one mesh topology and image size, reused across frames."""

    def __init__(self, triangles: np.ndarray, colors: np.ndarray, size: tuple[int, int], antialias: bool):
        import moderngl  # imported here so a broken GL stack only costs the fallback

        self.size = size
        self.ctx = moderngl.create_standalone_context(backend="egl")
        try:
            with self.ctx:
                self._build(moderngl, triangles, colors, antialias)
        except Exception:
            self.ctx.release()
            raise

    def _build(self, moderngl, triangles, colors, antialias: bool) -> None:
        ctx = self.ctx
        self.prog = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.vbo = ctx.buffer(reserve=len(colors) * 6 * 4, dynamic=True)
        self.cbo = ctx.buffer(np.ascontiguousarray(colors, dtype="f4").tobytes())
        self.ibo = ctx.buffer(np.ascontiguousarray(triangles, dtype="i4").tobytes())
        self.vao = ctx.vertex_array(
            self.prog,
            [(self.vbo, "3f 3f", "in_pos", "in_normal"), (self.cbo, "3f", "in_color")],
            index_buffer=self.ibo, index_element_size=4,
        )
        self.fbo = self._framebuffer(0)
        samples = min(_MSAA_SAMPLES, ctx.max_samples) if antialias else 0
        self.msaa = self._framebuffer(samples) if samples > 1 else None
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        ctx.front_face = "cw"  # see _set_uniforms
        self._uniform_key = None

    def _framebuffer(self, samples: int):
        color = self.ctx.renderbuffer(self.size, components=4, samples=samples)
        depth = self.ctx.depth_renderbuffer(self.size, samples=samples)
        return self.ctx.framebuffer(color_attachments=[color], depth_attachment=depth)

    def draw(self, camera: Camera, vertices, normals, lighting: Lighting, background) -> np.ndarray:
        width, height = self.size
        image = np.empty((height, width, 3), dtype=np.uint8)
        with self.ctx:
            self._set_uniforms(camera, lighting)
            self.vbo.write(np.concatenate([vertices, normals], axis=1).astype("f4").tobytes())
            target = self.fbo if self.msaa is None else self.msaa
            target.use()
            target.clear(*background, 1.0, depth=1.0)
            self.vao.render()
            if self.msaa is not None:
                self.ctx.copy_framebuffer(self.fbo, self.msaa)
            self.fbo.read_into(image, components=3, alignment=1)
        return image

    def _set_uniforms(self, camera: Camera, lighting: Lighting) -> None:
        """Upload camera and light only when they change (a fitted camera is fixed after frame one)."""
        if self._uniform_key == (camera, lighting):
            return
        # Flipping clip y stores GL's bottom row last, so the read-back is already top-down; the
        # flip mirrors winding on screen, hence clockwise front faces.
        flip = np.diag([1.0, -1.0, 1.0, 1.0])
        mvp = flip @ camera.projection_matrix() @ camera.view_matrix()
        self.prog["mvp"].write(mvp.T.astype("f4").tobytes())  # GL matrices are column-major
        self.prog["eye"].value = tuple(camera.eye)
        self.prog["light"].value = tuple(float(x) for x in lighting.light_for(camera))
        self.prog["ambient"].value = lighting.ambient
        self.prog["diffuse"].value = lighting.diffuse
        self.prog["specular"].value = lighting.specular * lighting.specular_color
        self.prog["shininess"].value = lighting.shininess
        self._uniform_key = (camera, lighting)

    def release(self) -> None:
        self.ctx.release()


class MeshRenderer:
    """Turns per-frame vertex positions of one fixed triangle mesh into RGB frames.

    triangles: (F, 3) vertex indices. size: int or (width, height). camera: None frames the first
    rendered frame with `Camera.fit` and keeps that camera, so a video does not wobble.
    backend: "egl", "numpy" or "auto" (egl, else numpy with a one-time warning); `self.backend`
    says which one runs. colors: per-vertex (N, 3) RGB floats in [0, 1] or one colour, default
    ARTalk's light blue. n_vertices: the expected N when it exceeds the highest index used by
    `triangles` (e.g. 478 face landmarks whose iris points are not triangulated).
    antialias: 4x MSAA on egl, 2x2 supersampling on numpy; off by default like ARTalk.
    """

    def __init__(
        self,
        triangles: np.ndarray,
        size: int | tuple[int, int] = 512,
        camera: Camera | None = None,
        backend: str = "auto",
        colors=None,
        background=(1.0, 1.0, 1.0),
        n_vertices: int | None = None,
        antialias: bool = False,
        lighting: Lighting | None = None,
    ):
        self.size = parse_size(size)
        self.triangles = _check_triangles(triangles)
        self.n_vertices = _vertex_count(self.triangles, colors, n_vertices)
        self.colors = _check_colors(colors, self.n_vertices)
        self.background = _check_rgb(background, "background")
        if camera is not None and camera.size != self.size:
            raise RenderError(f"camera size {camera.size} does not match renderer size {self.size}")
        self.camera = camera
        self.lighting = lighting or Lighting()
        self.antialias = bool(antialias)
        if backend not in BACKENDS:
            raise RenderError(f"unknown render backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self._closed = False
        self._gl = self._open_gl(backend) if backend != "numpy" else None
        self.backend = "egl" if self._gl is not None else "numpy"

    def _open_gl(self, backend: str) -> _EGLBackend | None:
        global _fallback_warned
        try:
            return _EGLBackend(self.triangles, self.colors, self.size, self.antialias)
        except Exception as exc:  # moderngl/glcontext raise plain Exceptions with driver text
            reason = " ".join(str(exc).split()) or type(exc).__name__
            if backend == "egl":
                raise RenderError(f"cannot create an EGL OpenGL context: {reason}") from exc
            if not _fallback_warned:
                warnings.warn(f"EGL unavailable ({reason}); rendering with the slower numpy rasteriser",
                              RuntimeWarning, stacklevel=3)
                _fallback_warned = True
            return None

    def render(self, vertices: np.ndarray) -> np.ndarray:
        """One frame: vertices (N, 3) in world units -> (H, W, 3) uint8 image."""
        if self._closed:
            raise RenderError("this MeshRenderer was closed")
        points = self._check_vertices(vertices)
        if self.camera is None:
            self.camera = Camera.fit(points, self.size)
        normals = vertex_normals(points, self.triangles)
        if self._gl is not None:
            return self._gl.draw(self.camera, points, normals, self.lighting, self.background)
        return self._render_numpy(points, normals)

    def render_many(self, vertices: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Frames for a (T, N, 3) array or any iterable of (N, 3) frames, produced lazily."""
        if isinstance(vertices, np.ndarray) and vertices.ndim != 3:
            raise RenderError(f"render_many needs (T, N, 3) vertices, got shape {vertices.shape}")
        for frame in vertices:
            yield self.render(frame)

    def _render_numpy(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        scale = 2 if self.antialias else 1
        camera = self.camera
        if scale > 1:
            camera = dataclasses.replace(camera, width=camera.width * scale, height=camera.height * scale,
                                         focal=camera.focal * scale)
        image = render_numpy(camera, self.triangles, points, normals, self.colors, self.lighting,
                             self.background)
        if scale > 1:
            height, width = self.size[1], self.size[0]
            image = image.reshape(height, scale, width, scale, 3).mean(axis=(1, 3))
        return np.rint(image * 255.0).astype(np.uint8)

    def _check_vertices(self, vertices) -> np.ndarray:
        try:
            points = np.asarray(vertices, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise RenderError(f"vertices must be a numeric (N, 3) array: {exc}") from None
        if points.shape != (self.n_vertices, 3):
            raise RenderError(f"vertices must have shape ({self.n_vertices}, 3), got {points.shape}")
        if not np.isfinite(points).all():
            raise RenderError(f"vertices contain {int((~np.isfinite(points)).sum())} NaN/inf values")
        return points

    def close(self) -> None:
        """Free the GL context now instead of at garbage collection."""
        self._closed = True
        if self._gl is not None:
            self._gl.release()
            self._gl = None

    def __del__(self) -> None:
        if getattr(self, "_gl", None) is not None:
            try:
                self._gl.release()
            except Exception:  # the GL library may already be unloaded at interpreter exit
                pass

    def __enter__(self) -> "MeshRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_triangles(triangles) -> np.ndarray:
    tris = np.asarray(triangles)
    if tris.ndim != 2 or tris.shape[1] != 3 or len(tris) == 0:
        raise RenderError(f"triangles must be a non-empty (F, 3) index array, got shape {tris.shape}")
    if not np.issubdtype(tris.dtype, np.integer):
        raise RenderError(f"triangles must hold integer vertex indices, got dtype {tris.dtype}")
    if tris.min() < 0:
        raise RenderError("triangles contain negative vertex indices")
    return tris.astype(np.int64)


def _vertex_count(triangles: np.ndarray, colors, n_vertices: int | None) -> int:
    needed = int(triangles.max()) + 1
    per_vertex = colors is not None and np.ndim(colors) == 2
    count = n_vertices if n_vertices is not None else (len(colors) if per_vertex else needed)
    if count < needed:
        raise RenderError(f"triangles index vertex {needed - 1} but the mesh has only {count} vertices")
    return int(count)


def _check_rgb(value, name: str) -> np.ndarray:
    rgb = np.asarray(value, dtype=np.float64)
    if rgb.shape != (3,) or not np.isfinite(rgb).all() or rgb.min() < 0 or rgb.max() > 1:
        raise RenderError(f"{name} must be 3 floats in [0, 1], got {value!r}")
    return rgb


def _check_colors(colors, n_vertices: int) -> np.ndarray:
    if colors is None:
        colors = ARTALK_COLOR
    if np.ndim(colors) == 1:
        return np.tile(_check_rgb(colors, "colour"), (n_vertices, 1))
    rgb = np.asarray(colors, dtype=np.float64)
    if rgb.shape != (n_vertices, 3):
        raise RenderError(f"per-vertex colours must have shape ({n_vertices}, 3), got {rgb.shape}")
    if not np.isfinite(rgb).all() or rgb.min() < 0 or rgb.max() > 1:
        raise RenderError("per-vertex colours must be finite floats in [0, 1]")
    return rgb
