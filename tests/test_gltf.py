"""glTF export: the .glb must move exactly like our rig (checked by evaluating the file's own
morph targets and node rotation, as an importer would) and be a well-formed container."""

from __future__ import annotations

import numpy as np
import pytest

from talkinghead.cli import main
from talkinghead.errors import MotionFileError
from talkinghead.motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES, Motion
from talkinghead.rigs import load_rig
from talkinghead.sinks.gltf import _quaternions, accessor_array, head_quaternions, read_glb


@pytest.fixture(scope="module")
def motion() -> Motion:
    rng = np.random.default_rng(3)
    values = np.zeros((12, len(ARKIT52_CHANNELS)), np.float32)
    values[:, :52] = rng.uniform(0, 1, (12, 52)) * (rng.uniform(size=52) < 0.3)
    values[:, 52:] = rng.uniform(-0.4, 0.4, (12, 3))
    return Motion(values, ARKIT52_CHANNELS, "arkit52")


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_the_file_reproduces_the_rig_frame_by_frame(tmp_path, motion):
    path = motion.to_glb(tmp_path / "talk.glb")
    doc, blob = read_glb(path)
    assert doc["asset"]["version"] == "2.0" and len(blob) == doc["buffers"][0]["byteLength"]
    mesh, node = doc["meshes"][0], doc["nodes"][0]
    primitive = mesh["primitives"][0]
    assert mesh["extras"]["targetNames"] == list(ARKIT_BLENDSHAPES)
    base = accessor_array(doc, blob, primitive["attributes"]["POSITION"])
    deltas = np.stack([accessor_array(doc, blob, t["POSITION"]) for t in primitive["targets"]])
    (weights_sampler, rotation_sampler) = doc["animations"][0]["samplers"]
    times = accessor_array(doc, blob, weights_sampler["input"])[:, 0]
    weights = accessor_array(doc, blob, weights_sampler["output"]).reshape(len(times), -1)
    quats = accessor_array(doc, blob, rotation_sampler["output"])
    np.testing.assert_allclose(times, np.arange(12) / 25.0, atol=1e-6)
    expected = load_rig("arkit52").landmarks(motion)
    for t in range(len(times)):  # what an importer computes: T(pivot) R(q) (base + sum w delta)
        local = base + np.tensordot(weights[t], deltas, 1)
        world = local @ _quat_matrix(quats[t]).T + np.array(node["translation"])
        np.testing.assert_allclose(world, expected[t], atol=2e-6)
    triangles = accessor_array(doc, blob, primitive["indices"]).reshape(-1, 3)
    assert triangles.max() == len(base) - 1 and len(triangles) > 800


def test_position_accessors_carry_bounds_and_views_stay_aligned(tmp_path, motion):
    doc, blob = read_glb(motion.to_glb(tmp_path / "talk.glb"))
    primitive = doc["meshes"][0]["primitives"][0]
    for index in [primitive["attributes"]["POSITION"]] + [t["POSITION"] for t in primitive["targets"]]:
        values, acc = accessor_array(doc, blob, index), doc["accessors"][index]
        np.testing.assert_allclose(acc["min"], values.min(axis=0), atol=1e-7)
        np.testing.assert_allclose(acc["max"], values.max(axis=0), atol=1e-7)
    assert all(view["byteOffset"] % 4 == 0 for view in doc["bufferViews"])


def test_quaternions_match_matrices_and_keep_one_hemisphere():
    from talkinghead.rigs.arkit52 import rotation
    angles = np.stack([np.linspace(-3, 3, 40), np.linspace(3, -3, 40), np.linspace(-1, 2, 40)], 1)
    quats = head_quaternions(angles)
    matrices = rotation(angles[:, 0], angles[:, 1], angles[:, 2])
    for q, m in zip(quats, matrices):
        np.testing.assert_allclose(_quat_matrix(q.astype(np.float64)), m, atol=2e-6)
    assert (np.sum(quats[1:] * quats[:-1], axis=1) >= 0).all()
    flipped = _quaternions(np.diag([1.0, -1.0, -1.0])[None])  # 180 degrees: trace -1 branch
    np.testing.assert_allclose(np.abs(flipped[0]), [1, 0, 0, 0], atol=1e-12)


def test_bad_exports_are_one_line_errors(tmp_path, motion):
    with pytest.raises(MotionFileError, match="arkit52 rig"):
        Motion(np.zeros((3, 6)), tuple("abcdef"), "dhlive6").to_glb(tmp_path / "x.glb")
    with pytest.raises(MotionFileError, match="at least one frame"):
        motion.slice(0, 0).to_glb(tmp_path / "x.glb")
    with pytest.raises(MotionFileError, match="end in .glb"):
        motion.to_glb(tmp_path / "x.gltf")
    with pytest.raises(MotionFileError, match="cannot write"):
        motion.to_glb(tmp_path / "missing" / "x.glb")


def test_cli_export_writes_a_glb(tmp_path, motion):
    motion.save(tmp_path / "m.npz")
    assert main(["export", str(tmp_path / "m.npz"), "-o", str(tmp_path / "m.glb")]) == 0
    doc, _ = read_glb(tmp_path / "m.glb")
    assert [c["target"]["path"] for c in doc["animations"][0]["channels"]] == ["weights", "rotation"]
