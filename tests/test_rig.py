"""The arkit52 rig: topology, neutral shape, blendshape semantics, head rotation, fitting."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from talkinghead.errors import MotionFileError, TalkingHeadError
from talkinghead.motion import ARKIT52_CHANNELS, Motion
from talkinghead.rigs import load_rig, topology
from talkinghead.rigs.arkit52 import JAW_OPEN_GAP, angles, rotation
from talkinghead.rigs.fitting import fit_landmarks


@pytest.fixture(scope="module")
def rig():
    return load_rig("arkit52")


def pose(rig, **weights) -> np.ndarray:
    """(468, 3) rig landmarks with the named channels set."""
    values = np.zeros(len(ARKIT52_CHANNELS))
    for name, w in weights.items():
        values[ARKIT52_CHANNELS.index(name)] = w
    return rig.landmarks(values)[0]


def dist(p, a, b) -> float:
    return float(np.linalg.norm(p[a] - p[b]))


# -- topology -------------------------------------------------------------------------------

def test_triangles_form_a_consistently_wound_manifold(rig):
    tris = rig.triangles
    assert tris.shape == (852, 3) and tris.min() == 0 and tris.max() == 467
    undirected = Counter(tuple(sorted(e)) for t in tris.tolist() for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    directed = Counter((a, b) for t in tris.tolist() for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    assert max(undirected.values()) == 2  # manifold
    assert max(directed.values()) == 1  # neighbours traverse shared edges oppositely
    assert [len(loop) for loop in topology.boundary_loops(tris)] == [36, 20, 16, 16]  # oval, mouth, eyes
    p = rig.neutral
    normals = np.cross(p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]])
    assert (normals[:, 2] > 0).mean() > 0.8  # facing the viewer


def test_groups_are_ordered_contours():
    g = topology.groups()
    assert g["upper_lip_inner"][[0, 5, -1]].tolist() == [78, 13, 308]
    assert g["lower_lip_outer"][[0, 5, -1]].tolist() == [61, 17, 291]
    assert g["left_eye_upper"][0] == 263 and 386 in g["left_eye_upper"] and 374 in g["left_eye_lower"]
    assert len(g["lips"]) == 40 and len(g["right_brow"]) == 10


# -- neutral --------------------------------------------------------------------------------

def test_neutral_is_metric_symmetric_eyes_open_lips_closed(rig):
    p, m = rig.neutral, rig.mirror
    assert p.shape == (468, 3)
    assert dist(p, 33, 263) == pytest.approx(0.09, abs=1e-6)
    assert np.all(m[m] == np.arange(468))
    assert np.abs(p - p[m] * [-1, 1, 1]).max() < 1e-9
    edges = {tuple(sorted(e)) for t in rig.triangles.tolist() for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    mapped = sum(tuple(sorted((m[a], m[b]))) in edges for a, b in edges)
    assert mapped / len(edges) > 0.97  # mirroring is (nearly) a symmetry of the mesh itself
    assert p[33, 0] < 0 < p[263, 0] and p[10, 1] > p[1, 1] > p[152, 1] and p[1, 2] > p[33, 2]
    assert dist(p, 13, 14) < 0.002  # lips closed
    assert dist(p, 159, 145) > 0.007 and dist(p, 386, 374) > 0.007  # eyes open
    assert 0.5 < dist(p, 61, 291) / 0.09 < 0.66  # relaxed mouth width


# -- blendshapes ----------------------------------------------------------------------------

def test_every_shape_but_tongue_moves_its_region(rig):
    reach = np.linalg.norm(rig.basis, axis=-1).max(axis=1)
    names = list(rig.channels[:52])
    assert reach[names.index("tongueOut")] == 0.0
    assert np.all(np.delete(reach, names.index("tongueOut")) > 0.0009)
    for k, name in enumerate(names):
        moved = np.linalg.norm(rig.basis[k], axis=1)
        if name in ("jawLeft", "mouthLeft"):  # whole-region shifts toward +x
            assert np.all(rig.basis[k][moved > 0, 0] > 0), name
        elif name.endswith("Left"):
            assert moved[rig.neutral[:, 0] > 0].sum() > 5 * moved[rig.neutral[:, 0] < 0].sum(), name


def test_jaw_open_parts_lips_by_design_and_moves_chin(rig):
    n, o = rig.neutral, pose(rig, jawOpen=1.0)
    assert dist(o, 13, 14) - dist(n, 13, 14) == pytest.approx(JAW_OPEN_GAP, abs=0.002)
    assert o[152, 1] < n[152, 1] - 0.015  # chin drops
    assert np.abs(o[10] - n[10]).max() < 1e-9  # forehead stays
    closed = pose(rig, jawOpen=1.0, mouthClose=1.0)
    assert dist(closed, 13, 14) < 0.004 and closed[152, 1] < n[152, 1] - 0.015


def test_blinks_close_each_eye_alone(rig):
    left, right = pose(rig, eyeBlinkLeft=1.0), pose(rig, eyeBlinkRight=1.0)
    assert dist(left, 386, 374) < 0.001 and dist(left, 159, 145) == pytest.approx(dist(rig.neutral, 159, 145))
    assert dist(right, 159, 145) < 0.001
    half = pose(rig, eyeBlinkLeft=0.5)
    assert dist(half, 386, 374) == pytest.approx(0.5 * dist(rig.neutral, 386, 374), rel=0.05)


def test_mouth_shapes_do_what_they_name(rig):
    n = rig.neutral
    width = dist(n, 61, 291)
    smile = pose(rig, mouthSmileLeft=1.0, mouthSmileRight=1.0)
    assert dist(smile, 61, 291) > width + 0.008 and smile[291, 1] > n[291, 1] + 0.005
    assert dist(pose(rig, mouthPucker=1.0), 61, 291) < width - 0.012
    assert pose(rig, mouthPucker=1.0)[0, 2] > n[0, 2] + 0.005  # lips protrude
    assert pose(rig, mouthFrownLeft=1.0)[291, 1] < n[291, 1] - 0.004
    assert dist(pose(rig, mouthStretchLeft=1.0, mouthStretchRight=1.0), 61, 291) > width + 0.008
    assert dist(pose(rig, mouthFunnel=1.0), 13, 14) > dist(n, 13, 14) + 0.005
    assert pose(rig, mouthUpperUpLeft=1.0, mouthUpperUpRight=1.0)[0, 1] > n[0, 1] + 0.004
    assert pose(rig, mouthLeft=1.0)[13, 0] > 0.006
    assert pose(rig, browInnerUp=1.0)[107, 1] > n[107, 1] + 0.005
    assert pose(rig, browDownLeft=1.0)[334, 1] < n[334, 1] - 0.003
    assert pose(rig, cheekPuff=1.0)[425, 0] > n[425, 0] + 0.006


def test_vertex_colors_make_lips_red(rig):
    c = rig.vertex_colors()
    assert c.shape == (468, 3) and c.min() >= 0 and c.max() <= 1
    assert c[0, 0] / c[0, 1] > c[10, 0] / c[10, 1] * 1.3  # upper lip redder than forehead


# -- head rotation --------------------------------------------------------------------------

def test_landmarks_shape_and_head_rotation(rig):
    values = np.zeros((4, 55))
    values[1, 53] = 0.4  # yaw: the face turns to image right
    values[2, 52] = 0.3  # pitch: nods down
    out = rig.landmarks(values)
    assert out.shape == (4, 468, 3)
    assert out[1, 1, 0] > rig.neutral[1, 0] + 0.02
    assert out[2, 1, 1] < rig.neutral[1, 1] - 0.01
    assert dist(out[1], 33, 263) == pytest.approx(dist(rig.neutral, 33, 263))  # rigid
    assert rig.landmarks(Motion(values, ARKIT52_CHANNELS, "arkit52")).shape == (4, 468, 3)
    a = np.random.default_rng(1).uniform(-1.0, 1.0, (10, 3))
    assert np.allclose(angles(rotation(*a.T)), a)


# -- fitting --------------------------------------------------------------------------------

# Shapes with an exact opposite (jawLeft/Right, mouthLeft/Right) are never sampled together, as
# in ARKit's own data: only their difference is observable. Gaze (eyeLook*) is left out: without
# iris points it only nudges the lids and is not identifiable from eyeWide/eyeSquint.
_OPPOSITES = [("eyeLookInLeft", "eyeLookOutLeft"), ("eyeLookInRight", "eyeLookOutRight"),
              ("eyeLookUpLeft", "eyeLookDownLeft"), ("eyeLookUpRight", "eyeLookDownRight"),
              ("jawLeft", "jawRight"), ("mouthLeft", "mouthRight")]


def _random_motion(rng, frames: int) -> np.ndarray:
    values = np.zeros((frames, 55))
    drop = {b for _, b in _OPPOSITES} | {"tongueOut"} | {c for c in ARKIT52_CHANNELS if c.startswith("eyeLook")}
    pool = [i for i, c in enumerate(ARKIT52_CHANNELS[:52]) if c not in drop]
    for t in range(frames):
        k = rng.choice(pool, 4, replace=False)
        values[t, k] = rng.uniform(0.2, 0.9, 4)
    values[:, 52:] = rng.uniform(-0.3, 0.3, (frames, 3))
    return values


def test_fit_round_trip_recovers_weights_and_pose(rig):
    truth = _random_motion(np.random.default_rng(0), 12)
    points = rig.landmarks(truth) * 800.0 + np.array([250.0, -40.0, 7.0])  # any scale, offset
    motion = fit_landmarks(points, space="rig", identity=False)
    assert motion.rig == "arkit52" and motion.values.shape == (12, 55)
    error = np.abs(motion.values[:, :51] - truth[:, :51])
    assert error.max() < 0.1 and error.mean() < 0.01  # the ridge trades a little bias for stability
    assert np.abs(motion.values[:, 52:] - truth[:, 52:]).max() < 1e-3
    assert motion.extras["residual"].max() < 2e-4  # metres
    image = points * np.array([1.0, -1.0, -1.0])  # MediaPipe axes: same weights
    assert np.allclose(fit_landmarks(image, identity=False).values[:, :52],
                       motion.values[:, :52], atol=1e-6)


def test_fit_separates_identity_from_expression(rig):
    truth = _random_motion(np.random.default_rng(2), 30)
    other_face = np.random.default_rng(3).normal(0.0, 0.0015, (468, 3))  # a different person
    points = rig.landmarks(truth) + other_face
    motion = fit_landmarks(points, space="rig")
    assert np.corrcoef(motion.channel("jawOpen"), truth[:, 17])[0, 1] > 0.98
    assert np.abs(motion.values[:, 52:] - truth[:, 52:]).max() < 0.02


def test_fit_on_478_points_single_frame_and_subset(rig):
    truth = _random_motion(np.random.default_rng(4), 1)
    points = rig.landmarks(truth)[0]
    with_irises = np.concatenate([points, np.zeros((10, 3))])
    one = fit_landmarks(with_irises, space="rig")
    assert one.values.shape == (1, 55) and np.abs(one.values[0, :51] - truth[0, :51]).max() < 0.1
    subset = np.r_[rig.groups["lips"], rig.groups["face_oval"], rig.groups["nose"], [33, 263, 133, 362]]
    part = fit_landmarks(points[subset], indices=subset, space="rig", identity=False)
    assert abs(part.channel("jawOpen")[0] - truth[0, 17]) < 0.05
    same = fit_landmarks(points, indices=subset, space="rig", identity=False)
    assert np.allclose(same.values, part.values)


def test_fit_real_clip_reproduces_mouth(rig, eval_dir):
    with np.load(eval_dir / "clips" / "pcavs_681100216.npz") as data:
        w, h = data["image_size"]
        points = data["landmarks"][:100].astype(np.float64) * np.array([w, h, w])
        measured = data["mouth_open"][:100]
    motion = fit_landmarks(points)
    assert np.median(motion.extras["residual"]) / 0.09 < 0.03  # all 468 points, IOD-normalised
    fitted = rig.landmarks(motion.values)
    mouth = np.linalg.norm(fitted[:, 13] - fitted[:, 14], axis=1) / np.linalg.norm(fitted[:, 33] - fitted[:, 263], axis=1)
    assert np.corrcoef(mouth, measured)[0, 1] > 0.9


@pytest.mark.parametrize("bad, kwargs", [
    (np.zeros((5, 100, 3)), {}),
    (np.zeros((468, 2)), {}),
    (np.full((2, 468, 3), np.nan), {}),
    (np.zeros((0, 468, 3)), {}),
    (np.ones((1, 10, 3)), {"indices": np.arange(9)}),
    (np.ones((1, 10, 3)), {"indices": np.arange(460, 470)}),
    (np.ones((1, 468, 3)), {}),  # all points coincide
    (np.ones((1, 468, 3)), {"space": "camera"}),
])
def test_bad_fit_inputs_raise_one_line_errors(bad, kwargs):
    with pytest.raises(MotionFileError) as info:
        fit_landmarks(bad, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_rig_values_and_names_raise(rig):
    for bad in (np.zeros((3, 52)), np.full((2, 55), np.inf), np.zeros((2, 3, 55))):
        with pytest.raises(MotionFileError):
            rig.landmarks(bad)
    with pytest.raises(MotionFileError, match="unknown rig"):
        load_rig("nonesuch")


# -- MediaPipe wrapper ----------------------------------------------------------------------

def test_facemesh_on_a_photo_and_on_nothing():
    from skimage.data import astronaut

    from talkinghead.rigs.facemesh import FaceMesh

    with FaceMesh(static=True, max_faces=2) as mesh:
        points = mesh(astronaut())
        assert points.shape == (478, 3) and points.dtype == np.float32
        assert 100 < points[:, 0].min() and points[:, 0].max() < 400  # pixels, not [0, 1]
        assert mesh.count(astronaut()) == 1
        assert mesh(np.zeros((128, 128, 3), np.uint8)) is None
        with pytest.raises(TalkingHeadError):
            mesh(np.zeros((128, 128)))
