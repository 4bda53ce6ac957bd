"""mesh3d renderer: camera conventions, egl/numpy agreement, shading, fallback and input errors."""

from __future__ import annotations

import numpy as np
import pytest

from talkinghead.errors import RenderError
from talkinghead.render import mesh3d
from talkinghead.render.camera import Camera
from talkinghead.render.mesh3d import MeshRenderer


# ---------------------------------------------------------------- test meshes (counter-clockwise outward)
def uv_sphere(radius=0.12, centre=(0.0, 0.0, 0.0), n_lat=16, n_lon=32):
    rows = [np.array([[0.0, radius, 0.0]])]
    for i in range(1, n_lat):
        theta = np.pi * i / n_lat
        phi = 2 * np.pi * np.arange(n_lon) / n_lon
        rows.append(np.stack([radius * np.sin(theta) * np.sin(phi), np.full(n_lon, radius * np.cos(theta)),
                              radius * np.sin(theta) * np.cos(phi)], axis=1))
    rows.append(np.array([[0.0, -radius, 0.0]]))
    verts = np.concatenate(rows) + np.asarray(centre)
    ring = lambda i, j: 1 + (i - 1) * n_lon + j % n_lon  # noqa: E731
    tris = [(0, ring(1, j), ring(1, j + 1)) for j in range(n_lon)]
    for i in range(1, n_lat - 1):
        for j in range(n_lon):
            a, b, c, d = ring(i, j), ring(i, j + 1), ring(i + 1, j), ring(i + 1, j + 1)
            tris += [(a, c, d), (a, d, b)]
    last = len(verts) - 1
    tris += [(last, ring(n_lat - 1, j + 1), ring(n_lat - 1, j)) for j in range(n_lon)]
    return verts, np.array(tris)


def cube(half=0.05, centre=(0.0, 0.0, 0.0)):
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    return corners * half + np.asarray(centre), np.array(tris)


def tilted_plane(n=12, size=0.15, tilt=0.6):
    x, y = np.meshgrid(np.linspace(-size / 2, size / 2, n), np.linspace(-size / 2, size / 2, n))
    verts = np.stack([x.ravel(), y.ravel() * np.cos(tilt), -y.ravel() * np.sin(tilt)], axis=1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    return verts, np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])


def mask(image):
    return (image != 255).any(axis=-1)


def iou(a, b):
    return (mask(a) & mask(b)).sum() / (mask(a) | mask(b)).sum()


@pytest.fixture(scope="module")
def egl_ok():
    try:
        MeshRenderer(np.array([[0, 1, 2]]), size=8, backend="egl").close()
    except RenderError as exc:
        pytest.skip(f"EGL is not available here: {exc}")


@pytest.fixture(params=["numpy", "egl"])
def backend(request) -> str:
    if request.param == "egl":
        request.getfixturevalue("egl_ok")
    return request.param


# ---------------------------------------------------------------- camera
def test_artalk_camera_projects_by_the_formula():
    cam = Camera.artalk()
    points = np.array([[0.1, -0.05, 0.3], [-0.02, 0.07, -0.1], [0.0, 0.0, 0.0]])
    uv, depth = cam.project(points)
    x, y, z = points.T
    np.testing.assert_allclose(uv[:, 0], 256 + 3072 * x / (2 - z))
    np.testing.assert_allclose(uv[:, 1], 256 - 3072 * y / (2 - z))
    np.testing.assert_allclose(depth, 2 - z)
    assert cam.focal == 3072 and Camera.artalk(256).focal == 1536
    np.testing.assert_allclose(cam.light_position(), [0.0, 1.0, 3.0])


def test_gl_matrices_agree_with_project():
    cam = Camera.look_at((0.3, 0.2, 1.5), (0.01, -0.02, 0.0), size=(320, 200), focal_ndc=4.0)
    points = np.random.default_rng(0).uniform(-0.1, 0.1, (20, 3))
    clip = (cam.projection_matrix() @ cam.view_matrix() @ np.c_[points, np.ones(20)].T).T
    ndc = clip[:, :2] / clip[:, 3:]
    pixels = np.stack([(ndc[:, 0] + 1) / 2 * 320, (1 - ndc[:, 1]) / 2 * 200], axis=1)
    np.testing.assert_allclose(pixels, cam.project(points)[0], atol=1e-9)


def test_fit_frames_the_mesh_front_on():
    verts, _ = uv_sphere(radius=0.08, centre=(0.3, -0.1, 0.05))
    cam = Camera.fit(verts, size=(400, 300), margin=0.1)
    uv, depth = cam.project(verts)
    assert (depth > cam.near).all()
    assert uv[:, 0].min() >= 40 - 1e-6 and uv[:, 0].max() <= 360 + 1e-6
    assert uv[:, 1].min() >= 30 - 1e-6 and uv[:, 1].max() <= 270 + 1e-6
    assert np.isclose(uv[:, 1].min(), 30, atol=0.5) or np.isclose(uv[:, 0].min(), 40, atol=0.5)
    right, up = cam.project(np.array([[0.35, -0.1, 0.05], [0.3, -0.05, 0.05]]))[0]
    assert right[0] > 200 and up[1] < 150  # +x is image right, +y is image up


def test_camera_rejects_bad_arguments():
    with pytest.raises(RenderError):
        Camera.look_at((0, 0, 1), (0, 0, 1), focal=100)
    with pytest.raises(RenderError):
        Camera.look_at((0, 0, 1), size=0, focal=100)
    with pytest.raises(RenderError):
        Camera.fit(np.zeros((0, 3)))
    with pytest.raises(RenderError, match="too large"):
        Camera.look_at((0, 0, 1), size=100_000, focal=100)


# ---------------------------------------------------------------- rendering
@pytest.mark.usefixtures("egl_ok")
@pytest.mark.parametrize("mesh", ["sphere", "cube", "plane"])
def test_egl_and_numpy_agree(mesh):
    verts, tris = {"sphere": uv_sphere, "cube": cube, "plane": tilted_plane}[mesh]()
    if mesh == "cube":  # rotate so three faces show
        c, s = np.cos(0.6), np.sin(0.6)
        yaw, pitch = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]), np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
        verts = verts @ yaw @ pitch
    cam = Camera.fit(verts, 256)
    gl = MeshRenderer(tris, 256, camera=cam, backend="egl").render(verts)
    ref = MeshRenderer(tris, 256, camera=cam, backend="numpy").render(verts)
    assert iou(gl, ref) > 0.97
    assert np.abs(gl.astype(int) - ref.astype(int)).mean() < 1.0


def test_sphere_is_brightest_towards_the_light_on_white(backend):
    verts, tris = uv_sphere(radius=0.12)
    image = MeshRenderer(tris, 256, camera=Camera.artalk(256), backend=backend).render(verts)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    luminance = np.where(mask(image), image.sum(-1), -1)
    v, u = np.unravel_index(np.argmax(luminance), luminance.shape)
    assert v < 128 - 10 and abs(u - 128) <= 3  # light (0, 1, 3): above and in front
    assert (image[0, 0] == 255).all() and (image[-1, -1] == 255).all()
    assert (image[~mask(image)] == 255).all()
    radius_px = 0.12 * 1536 / 2
    assert abs(mask(image).sum() - np.pi * radius_px**2) < 0.03 * np.pi * radius_px**2
    ambient = np.round(255 * 0.5 * np.array([142, 179, 247]) / 255)
    assert (image[mask(image)] >= ambient - 1).all()  # nothing darker than ambient * albedo


def test_pixel_position_matches_projection(backend):
    centre = np.array([0.1, 0.05, 0.2])
    verts, tris = cube(half=0.01, centre=centre)
    image = MeshRenderer(tris, 256, camera=Camera.artalk(256), backend=backend).render(verts)
    v, u = np.nonzero(mask(image))
    expected = Camera.artalk(256).project(centre[None])[0][0]
    np.testing.assert_allclose([u.mean() + 0.5, v.mean() + 0.5], expected, atol=1.5)


def test_moving_vertices_changes_the_image(backend):
    verts, tris = uv_sphere(radius=0.05, n_lat=8, n_lon=16)
    renderer = MeshRenderer(tris, 128, camera=Camera.artalk(128), backend=backend)
    frames = list(renderer.render_many(np.stack([verts, verts, verts + [0.02, 0.0, 0.0]])))
    assert len(frames) == 3
    assert np.array_equal(frames[0], frames[1])
    assert (frames[0] != frames[2]).any(axis=-1).sum() > 100
    bulged = verts * np.where(verts[:, 1:2] > 0, 1.3, 1.0)  # deformation: normals follow
    assert not np.array_equal(renderer.render(bulged), frames[0])


def test_either_winding_renders_the_same(backend):
    verts, tris = uv_sphere(radius=0.1, n_lat=10, n_lon=20)
    cam = Camera.artalk(128)
    outward = MeshRenderer(tris, 128, camera=cam, backend=backend).render(verts)
    inward = MeshRenderer(tris[:, ::-1], 128, camera=cam, backend=backend).render(verts)
    assert np.abs(outward.astype(int) - inward.astype(int)).max() <= 1


def test_per_vertex_colours_and_background(backend):
    verts, tris = tilted_plane()
    colors = np.where(verts[:, :1] > 0, [[1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]])
    renderer = MeshRenderer(tris, (160, 120), backend=backend, colors=colors, background=(0.0, 0.0, 0.0))
    image = renderer.render(verts)
    assert image.shape == (120, 160, 3)
    assert (image[0, 0] == 0).all()
    left, right = image[60, 50].astype(int), image[60, 110].astype(int)
    assert right[0] > 100 and right[2] == 0 and left[2] > 100 and left[0] == 0


@pytest.mark.usefixtures("egl_ok")
def test_antialias_softens_edges_on_both_backends():
    verts, tris = cube(half=0.05)
    c, s = np.cos(0.4), np.sin(0.4)
    verts = verts @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])  # slanted silhouette edges
    cam = Camera.fit(verts, 128)
    sharp = MeshRenderer(tris, 128, camera=cam, backend="egl").render(verts)
    assert not ((sharp[..., 0] > 160) & (sharp[..., 0] < 250)).any()  # red <= 142 * 0.8 + 31
    for backend in ("egl", "numpy"):
        smooth = MeshRenderer(tris, 128, camera=cam, backend=backend, antialias=True).render(verts)
        assert iou(smooth, sharp) > 0.95
        assert ((smooth[..., 0] > 160) & (smooth[..., 0] < 250)).sum() > 50  # blended edge pixels


def test_auto_falls_back_to_numpy_when_egl_fails(monkeypatch):
    moderngl = pytest.importorskip("moderngl")

    def broken(**kwargs):
        raise Exception("eglGetDisplay failed\nsecond line")

    monkeypatch.setattr(moderngl, "create_standalone_context", broken)
    monkeypatch.setattr(mesh3d, "_fallback_warned", False)
    verts, tris = cube()
    with pytest.warns(RuntimeWarning, match="numpy"):
        renderer = MeshRenderer(tris, 64, backend="auto")
    assert renderer.backend == "numpy"
    assert mask(renderer.render(verts)).any()
    with pytest.raises(RenderError, match="EGL") as info:
        MeshRenderer(tris, 64, backend="egl")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, vertices",
    [
        ({}, np.zeros((7, 3))),  # wrong vertex count
        ({}, np.zeros((8, 2))),  # wrong shape
        ({}, np.full((8, 3), np.nan)),  # NaN
        ({}, "not numbers"),
        ({"triangles": np.array([[0.0, 1.0, 2.0]])}, None),  # float indices
        ({"triangles": np.array([[0, 1, -2]])}, None),
        ({"triangles": np.array([0, 1, 2])}, None),
        ({"n_vertices": 5}, None),  # fewer vertices than indexed
        ({"backend": "vulkan"}, None),
        ({"colors": (1.0, 2.0, 0.0)}, None),
        ({"colors": np.ones((3, 3))}, None),
        ({"size": -4}, None),
        ({"size": (32, 32, 3)}, None),
        ({"camera": Camera.artalk(512), "size": 256}, None),
    ],
)
def test_bad_inputs_raise_one_line_render_error(kwargs, vertices):
    verts, tris = cube()
    args = {"triangles": tris, "size": 32, "backend": "numpy", **kwargs}
    with pytest.raises(RenderError) as info:
        MeshRenderer(**args).render(verts if vertices is None else vertices)
    assert "\n" not in str(info.value)


def test_render_many_rejects_a_single_frame_and_closed_renderer():
    verts, tris = cube()
    renderer = MeshRenderer(tris, 32, backend="auto")
    with pytest.raises(RenderError):
        next(renderer.render_many(verts))
    renderer.close()
    with pytest.raises(RenderError):
        renderer.render(verts)


def test_renders_the_builtin_rig():
    rigs = pytest.importorskip("talkinghead.rigs")
    try:
        rig = rigs.load_rig("arkit52")
    except Exception as exc:  # the rig derives its neutral from mediapipe on first use
        pytest.skip(f"built-in rig unavailable: {exc}")
    renderer = MeshRenderer(rig.triangles, 256, n_vertices=len(rig.neutral), backend="auto")
    neutral = renderer.render(rig.neutral)
    face = mask(neutral)
    assert 0.25 < face.mean() < 0.7  # fitted: fills the frame with a margin
    assert (face & face[:, ::-1]).sum() / (face | face[:, ::-1]).sum() > 0.95  # symmetric face
    values = np.zeros(len(rig.channels))
    values[list(rig.channels).index("jawOpen")] = 1.0
    opened = renderer.render(rig.landmarks(values)[0])
    assert mask(opened).sum() != face.sum()
    if renderer.backend == "egl":
        ref = MeshRenderer(rig.triangles, 256, camera=renderer.camera, backend="numpy").render(rig.neutral)
        assert iou(ref, neutral) > 0.97
