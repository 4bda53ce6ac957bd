"""FLAME rig: loaders for both file formats, LBS and landmarks against ARTalk's numbers."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch
from safetensors.numpy import load_file

from talkinghead.errors import CheckpointError, MotionFileError
from talkinghead.rigs.flame import FLAME_CHANNELS, FlameRig, flame_to_arkit52, rodrigues
from conftest import max_err

ATOL = 1e-6  # README: FLAME vertices atol 1e-6 (an independent float32 LBS was exact)


@pytest.fixture(scope="module")
def io(conformance_dir):
    return load_file(str(conformance_dir / "artalk" / "flame_io.safetensors"))


@pytest.fixture(scope="module")
def groups(conformance_dir):
    """flame_synthetic.safetensors back in the nested structure of FLAME_with_eye.pt."""
    flat = load_file(str(conformance_dir / "artalk" / "flame_synthetic.safetensors"))
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        group, name = key.split(".", 1)
        if name.endswith("_int8"):
            name, value = name[:-5], value.astype(np.float32) * np.float32(2.0 ** -14)
        if name == "f":
            value = value.astype(np.int64)
        out.setdefault(group, {})[name] = value
    return out


@pytest.fixture(scope="module")
def rig(groups, tmp_path_factory):
    path = tmp_path_factory.mktemp("flame") / "FLAME_with_eye.pt"
    torch.save({g: {k: torch.from_numpy(v) for k, v in d.items()} for g, d in groups.items()}, path)
    return FlameRig.from_file(path)


# -- conformance ----------------------------------------------------------------------------------

def test_channels_and_triangles(rig):
    assert len(FLAME_CHANNELS) == 106 and FLAME_CHANNELS[0] == "exp0"
    assert FLAME_CHANNELS[99] == "exp99" and FLAME_CHANNELS[100:] == (
        "globalX", "globalY", "globalZ", "jawX", "jawY", "jawZ")
    assert rig.triangles.shape == (9976, 3) and rig.triangles.dtype == np.int64
    assert rig.parents == [-1, 0, 1, 1, 1]


def test_rodrigues(io):
    rot = rodrigues(torch.from_numpy(io["in.pose"].reshape(-1, 3))).reshape(3, 2, 3, 3)
    assert max_err(rot, io["dbg.rodrigues_pose"]) <= ATOL
    assert torch.allclose(rodrigues(torch.zeros(1, 3))[0], torch.eye(3))


def test_forward_vertices(rig, io):
    verts = rig.forward(io["in.shape"], io["in.expression"], io["in.pose"])
    assert verts.shape == (3, 5023, 3) and max_err(verts, io["out.verts"]) <= ATOL


def test_eye_pose_and_jaw_only(rig, io):
    shape, exp = io["in.shape"][:1], io["in.expression"][:1]
    eyes = rig.forward(shape, exp, io["in.pose"][:1], io["in.eye_pose"][:1])
    assert max_err(eyes, io["out.verts_eyepose_f0"]) <= ATOL
    jaw = rig.forward(shape, exp, io["in.pose"][:1, 3:])
    assert max_err(jaw, io["out.verts_jaw_only_f0"]) <= ATOL


def test_landmarks(rig, io):
    verts = rig.forward(io["in.shape"], io["in.expression"], io["in.pose"])
    assert max_err(rig.landmarks(verts, "lmks70"), io["out.lmks70"]) <= ATOL
    assert max_err(rig.landmarks(verts, "dense105"), io["out.lmks_dense105"]) <= ATOL
    assert rig.landmark_indices.shape == (105,)


def test_artalk_motion_path(rig, io):
    verts = rig.vertices(io["in.motion106"], io["in.shape"][:2])
    assert max_err(verts, io["out.get_flame_verts_global"]) <= ATOL
    no_global = rig.vertices(io["in.motion106"][1:], io["in.shape"][1], with_global=False)
    assert max_err(no_global, io["out.get_flame_verts_noglobal_f1"]) <= ATOL
    long = rig.vertices(np.tile(io["in.motion106"], (70, 1)), np.tile(io["in.shape"][:2], (70, 1)))
    assert long.shape == (140, 5023, 3)  # more frames than one LBS block
    assert max_err(long[-2:], io["out.get_flame_verts_global"]) <= ATOL
    neutral = rig.vertices(np.zeros((2, 106), np.float32))
    assert max_err(neutral[0], rig.v_template.numpy()) <= 1e-6


def test_bad_inputs(rig, tmp_path):
    with pytest.raises(MotionFileError):
        rig.vertices(np.zeros((4, 105), np.float32))
    with pytest.raises(MotionFileError):
        rig.forward(expression=np.zeros((2, 50), np.float32))
    with pytest.raises(MotionFileError):
        rig.landmarks(np.zeros((1, 5023, 3)), "lmks68")
    with pytest.raises(CheckpointError, match="not found"):
        FlameRig.from_file(tmp_path / "generic_model.pkl")
    bad = tmp_path / "FLAME_with_eye.pt"
    torch.save({"something": {}}, bad)
    with pytest.raises(CheckpointError, match="flame_model"):
        FlameRig.from_file(bad)


# -- FLAME 2020 generic_model.pkl -----------------------------------------------------------------

def _fake_chumpy(monkeypatch):
    """A stand-in `chumpy.ch.Ch` that pickles the way chumpy's terminal arrays do (state `x`)."""
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x)
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch, chumpy.ch = Ch, ch
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch)
    return Ch


def _write_generic_model(path, model, protocol: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        Ch = _fake_chumpy(mp)
        raw = {
            "f": model["f"].astype(np.uint32),
            "v_template": Ch(model["v_template"].astype(np.float64)),
            "shapedirs": Ch(model["shapedirs"].astype(np.float64)),
            "posedirs": model["posedirs"].astype(np.float64),
            "J_regressor": scipy.sparse.csc_matrix(model["J_regressor"].astype(np.float64)),
            "kintree_table": model["kintree_table"],
            "weights": Ch(model["weights"].astype(np.float64)),
            "J": Ch(np.zeros((5, 3))),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        with open(path, "wb") as f:
            pickle.dump(raw, f, protocol=protocol)
    assert "chumpy" not in sys.modules  # loading below really runs without chumpy


def test_generic_model_pickle_without_chumpy(groups, io, tmp_path):
    path = tmp_path / "generic_model.pkl"
    _write_generic_model(path, groups["flame_model"], protocol=2)
    assert b"chumpy" in path.read_bytes()
    embedding = tmp_path / "mediapipe_landmark_embedding.npz"
    np.savez(embedding, **groups["lmk_embeddings_mediapipe"])
    rig = FlameRig.from_file(path, mediapipe_embedding=embedding)
    verts = rig.forward(io["in.shape"], io["in.expression"], io["in.pose"])
    assert max_err(verts, io["out.verts"]) <= ATOL
    assert max_err(rig.landmarks(verts, "dense105"), io["out.lmks_dense105"]) <= ATOL
    plain = FlameRig.from_file(path)
    with pytest.raises(CheckpointError, match="lmks70"):
        plain.landmarks(verts, "lmks70")


def test_generic_model_text_pickle(tmp_path):
    """Protocol 0 (Python 2's default) goes through copy_reg._reconstructor; a small model."""
    model, mediapipe = _arkit_mesh_model()
    path = tmp_path / "generic_model.pkl"
    _write_generic_model(path, model, protocol=0)
    motion = np.random.default_rng(0).normal(0, 0.1, (3, 106)).astype(np.float32)
    loaded = FlameRig.from_file(path).vertices(motion)
    assert max_err(loaded, FlameRig(model).vertices(motion)) <= 1e-7


def test_pt_file_holding_numpy_arrays(tmp_path):
    """A FLAME_with_eye.pt written with numpy arrays instead of tensors still loads weights-only."""
    model, mediapipe = _arkit_mesh_model()
    path = tmp_path / "FLAME_with_eye.pt"
    torch.save({"flame_model": model, "lmk_embeddings_mediapipe": mediapipe}, path)
    rig = FlameRig.from_file(path)
    motion = np.random.default_rng(1).normal(0, 0.1, (2, 106)).astype(np.float32)
    assert max_err(rig.vertices(motion), FlameRig(model).vertices(motion)) == 0.0
    assert np.array_equal(rig.landmark_indices, mediapipe["landmark_indices"])


def test_pickle_with_foreign_globals_is_refused(tmp_path):
    path = tmp_path / "generic_model.pkl"
    with open(path, "wb") as f:
        pickle.dump({"v_template": os.getcwd}, f, protocol=2)
    with pytest.raises(CheckpointError, match="getcwd"):
        FlameRig.from_file(path)
    path.write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError):
        FlameRig.from_file(path)


# -- FLAME -> arkit52 -------------------------------------------------------------------------------

def _arkit_mesh_model():
    """FLAME arrays whose surface is the arkit52 neutral, with the jaw joint under the ears and the
    lower face skinned to it, so a FLAME jaw rotation opens that face's mouth."""
    from talkinghead.rigs import load_rig

    arkit = load_rig("arkit52")
    neutral = arkit.neutral.astype(np.float32)
    n = len(neutral)
    eyes = 0.5 * (neutral[33] + neutral[263])
    joints = np.array([[0, 0, 0], [0, -0.05, -0.03], [0, eyes[1] - 0.04, eyes[2] - 0.075],
                       eyes + [0.03, 0, 0], eyes - [0.03, 0, 0]],
                      np.float32)
    jaw_move = np.linalg.norm(arkit.basis[arkit.channels.index("jawOpen")], axis=1)
    jaw_weight = np.clip(jaw_move / (0.5 * jaw_move.max()), 0.0, 1.0)
    weights = np.zeros((n + 5, 5), np.float32)
    weights[:n, 2], weights[:n, 0] = jaw_weight, 1.0 - jaw_weight
    weights[n:, 0] = 1.0
    regressor = np.zeros((5, n + 5), np.float32)
    regressor[np.arange(5), n + np.arange(5)] = 1.0
    faces = np.repeat(np.arange(n)[:, None], 3, axis=1)  # degenerate: landmark i = vertex i
    indices = np.unique(np.concatenate([arkit.groups["lips"], arkit.groups["face_oval"],
                                        arkit.groups["nose"], np.arange(0, n, 16)]))[:105]
    model = {"v_template": np.concatenate([neutral, joints]),
             "shapedirs": np.zeros((n + 5, 3, 400), np.float32),
             "posedirs": np.zeros((n + 5, 3, 36), np.float32), "J_regressor": regressor,
             "kintree_table": np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]), "weights": weights,
             "f": faces}
    model["shapedirs"][:, 1, 0] = 0.01  # one shape and one expression component, so the
    model["shapedirs"][:, 2, 300] = 0.01  # pickles carry non-trivial blendshapes
    mediapipe = {"lmk_face_idx": indices, "lmk_b_coords": np.tile([1.0, 0.0, 0.0], (len(indices), 1)),
                 "landmark_indices": indices}
    return model, mediapipe


def test_flame_jaw_maps_to_jaw_open():
    model, mediapipe = _arkit_mesh_model()
    rig = FlameRig(model, None, mediapipe)
    angles = np.array([0.0, 0.05, 0.1, 0.15, 0.2], np.float32)
    motion = np.zeros((len(angles), 106), np.float32)
    motion[:, 103] = angles  # jawX: FLAME opens the jaw with a positive rotation about x
    motion[:, 101] = 0.1  # a head turn the fit must not mistake for expression
    out = flame_to_arkit52(rig, rig.motion(motion))
    jaw_open = out.channel("jawOpen")
    assert out.rig == "arkit52" and len(out) == len(angles)
    assert np.all(np.diff(jaw_open) > 0.02), jaw_open
    assert jaw_open[0] < 0.05 and jaw_open[-1] > 0.3
    assert np.allclose(out.channel("headYaw"), 0.1, atol=0.01)  # both rigs: +y up, yaw about y
    assert np.all(np.abs(out.channel("headPitch")) < 0.01)
