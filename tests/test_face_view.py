import numpy as np

from talkinghead.motion import ARKIT52_CHANNELS, Motion
from talkinghead.pipeline import mesh_frames
from talkinghead.render.face import FaceView
from talkinghead.rigs import load_rig


def _frames(**weights):
    values = np.zeros((1, len(ARKIT52_CHANNELS)), np.float32)
    for name, w in weights.items():
        values[0, ARKIT52_CHANNELS.index(name)] = w
    return next(mesh_frames(Motion(values, ARKIT52_CHANNELS, "arkit52"), 256, backend="numpy"))


def test_display_mesh_keeps_rig_vertices_first_and_closes_holes():
    rig = load_rig("arkit52")
    view = FaceView(rig)
    lm = rig.landmarks(np.zeros((2, 55), np.float32))
    verts = view.vertices(lm)
    assert verts.shape == (2, view.n_vertices, 3)
    np.testing.assert_allclose(verts[:, :468], lm, atol=1e-6)
    assert view.triangles.max() == view.n_vertices - 1 and len(view.colors) == view.n_vertices


def test_open_mouth_shows_dark_cavity_not_background():
    closed, opened = _frames(), _frames(jawOpen=0.8)
    mouth = (slice(150, 215), slice(90, 166))
    dark = lambda img: (img[mouth].astype(int).sum(axis=2) < 200).mean()
    white = lambda img: (img[mouth].min(axis=2) > 245).mean()
    assert dark(opened) > dark(closed) + 0.03
    assert white(opened) < 0.01
