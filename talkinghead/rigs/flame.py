"""Rig `flame`: the FLAME head model driven by ARTalk's 106-channel motion (user-supplied files).

FLAME cannot ship with the toolkit (its licence is gated), so `FlameRig.from_file` reads what a
user has: FLAME 2020's `generic_model.pkl` (a Python 2 pickle of chumpy objects and a scipy
sparse matrix; read with a restricted unpickler that needs neither chumpy nor trust in the file)
or ARTalk's `FLAME_with_eye.pt` (a torch.save dict of dicts that also carries landmark tables).

Motion: 100 expression coefficients, global head rotation (axis-angle, radians), jaw rotation
(axis-angle). Geometry follows spec-artalk §14: shape+expression blendshapes, joints from the
regressor, Rodrigues (with the original's +1e-8 inside the norm), pose correctives, kinematic
chain root -> neck -> jaw / eyes, linear blend skinning; all float32 like the original. Axes:
metres, +x the subject's left, +y up, +z toward the viewer (the same as the arkit52 rig).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import scipy.sparse
import torch

from ..errors import CheckpointError, MotionFileError, reason
from ..motion import Motion

NAME = "flame"
N_SHAPE = 300
N_EXP = 100
N_JOINTS = 5  # root, neck, jaw, left eye, right eye
FLAME_CHANNELS: tuple[str, ...] = (tuple(f"exp{i}" for i in range(N_EXP))
                                   + ("globalX", "globalY", "globalZ", "jawX", "jawY", "jawZ"))
MODEL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f")


# -- geometry -----------------------------------------------------------------------------------

def rodrigues(rotvec: torch.Tensor) -> torch.Tensor:
    """(N, 3) axis-angle -> (N, 3, 3) rotation matrices.

    As in FLAME's reference code, 1e-8 is added to every component before the norm (so a zero
    vector gives the identity without dividing by zero, and tiny rotations differ by ~1e-8).
    """
    angle = torch.linalg.vector_norm(rotvec + 1e-8, dim=1, keepdim=True)
    k = rotvec / angle
    zero = torch.zeros_like(k[:, 0])
    kx, ky, kz = k.unbind(1)
    cross = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=1).view(-1, 3, 3)
    sin = torch.sin(angle)[:, :, None]
    cos = torch.cos(angle)[:, :, None]
    eye = torch.eye(3, dtype=rotvec.dtype)[None]
    return eye + sin * cross + (1 - cos) * torch.bmm(cross, cross)


def _rigid_chain(rot: torch.Tensor, joints: torch.Tensor, parents: list[int]) -> torch.Tensor:
    """Per-joint skinning transforms A (N, J, 4, 4): world transform of each joint composed with
    the inverse of its rest position, so rest-pose points map to their posed positions."""
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = torch.zeros(*rot.shape[:2], 4, 4, dtype=rot.dtype)
    local[..., :3, :3] = rot
    local[..., :3, 3] = rel
    local[..., 3, 3] = 1.0
    chain = [local[:, 0]]
    for j in range(1, len(parents)):
        chain.append(chain[parents[j]] @ local[:, j])
    world = torch.stack(chain, dim=1)
    offset = world[..., :3, :3] @ joints[..., None]
    skin = world.clone()
    skin[..., :3, 3] = world[..., :3, 3] - offset[..., 0]
    return skin


class FlameRig:
    """FLAME geometry from a user's model file; `vertices(motion)` is the ARTalk path."""

    name = NAME
    channels = FLAME_CHANNELS
    BLOCK = 128  # frames per LBS batch

    def __init__(self, flame_model: Mapping, lmk_embeddings: Mapping | None = None,
                 lmk_embeddings_mediapipe: Mapping | None = None) -> None:
        """Arrays in the structure of `FLAME_with_eye.pt` (`flame_model` holds MODEL_KEYS)."""
        missing = [k for k in MODEL_KEYS if k not in flame_model]
        if missing:
            raise CheckpointError(f"FLAME model lacks {missing}")
        arr = {k: np.asarray(_to_numpy(flame_model[k])) for k in MODEL_KEYS}
        self.v_template = torch.from_numpy(arr["v_template"].astype(np.float32))
        n_vert = len(self.v_template)
        shapedirs = arr["shapedirs"].astype(np.float32)
        if shapedirs.shape[:2] != (n_vert, 3) or shapedirs.shape[2] < N_SHAPE + N_EXP:
            raise CheckpointError(f"FLAME shapedirs must be ({n_vert}, 3, >=400), got {shapedirs.shape}")
        self.shapedirs = torch.from_numpy(np.concatenate(
            [shapedirs[..., :N_SHAPE], shapedirs[..., N_SHAPE:N_SHAPE + N_EXP]], axis=2))
        posedirs = arr["posedirs"].astype(np.float32)
        if posedirs.shape != (n_vert, 3, 9 * (N_JOINTS - 1)):
            raise CheckpointError(f"FLAME posedirs must be ({n_vert}, 3, 36), got {posedirs.shape}")
        self.posedirs = torch.from_numpy(np.ascontiguousarray(posedirs.reshape(-1, 36).T))
        self.j_regressor = torch.from_numpy(_dense(arr["J_regressor"]).astype(np.float32))
        self.lbs_weights = torch.from_numpy(arr["weights"].astype(np.float32))
        kintree = arr["kintree_table"].astype(np.int64)
        if self.j_regressor.shape != (N_JOINTS, n_vert) or kintree.shape != (2, N_JOINTS) \
                or self.lbs_weights.shape != (n_vert, N_JOINTS):
            raise CheckpointError("FLAME J_regressor / kintree_table / weights have the wrong shapes "
                                  f"{tuple(self.j_regressor.shape)} {kintree.shape} "
                                  f"{tuple(self.lbs_weights.shape)}")
        self.parents = [-1] + kintree[0, 1:].tolist()
        faces = arr["f"].astype(np.int64)
        if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= n_vert:
            raise CheckpointError(f"FLAME faces must be (F, 3) vertex indices, got {faces.shape}")
        self.faces = faces
        self._lmk = {}
        if lmk_embeddings is not None and "full_lmk_faces_idx_with_eye" in lmk_embeddings:
            self._lmk["lmks70"] = (_to_numpy(lmk_embeddings["full_lmk_faces_idx_with_eye"]),
                                   _to_numpy(lmk_embeddings["full_lmk_bary_coords_with_eye"]))
        self.landmark_indices = None
        if lmk_embeddings_mediapipe is not None:
            self._lmk["dense105"] = (_to_numpy(lmk_embeddings_mediapipe["lmk_face_idx"]),
                                     _to_numpy(lmk_embeddings_mediapipe["lmk_b_coords"]))
            self.landmark_indices = _to_numpy(
                lmk_embeddings_mediapipe["landmark_indices"]).astype(np.int64).ravel()
        self._lmk = {k: (np.asarray(i, np.int64).reshape(-1), np.asarray(b, np.float32).reshape(-1, 3))
                     for k, (i, b) in self._lmk.items()}
        for kind, (idx, bary) in self._lmk.items():
            if len(idx) != len(bary) or idx.min() < 0 or idx.max() >= len(faces):
                raise CheckpointError(f"FLAME {kind} landmark table does not fit the mesh")

    # -- files ------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, mediapipe_embedding: str | Path | None = None) -> "FlameRig":
        """`generic_model.pkl` (FLAME 2020) or `FLAME_with_eye.pt` (ARTalk).

        FLAME's own pickle has no landmark tables; `mediapipe_embedding` may name FLAME's
        `mediapipe_landmark_embedding.npz` (lmk_face_idx, lmk_b_coords, landmark_indices).
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"FLAME model file not found: {path}")
        if path.suffix == ".pkl":
            groups = {"flame_model": read_generic_model(path)}
        else:
            groups = read_flame_with_eye(path)
        if mediapipe_embedding is not None:
            groups["lmk_embeddings_mediapipe"] = _read_npz(Path(mediapipe_embedding))
        return cls(groups["flame_model"], groups.get("lmk_embeddings"),
                   groups.get("lmk_embeddings_mediapipe"))

    # -- evaluation -------------------------------------------------------------------------

    @property
    def triangles(self) -> np.ndarray:
        """(F, 3) int64 vertex indices."""
        return self.faces

    @property
    def num_vertices(self) -> int:
        return len(self.v_template)

    @torch.inference_mode()
    def forward(self, shape=None, expression=None, pose=None, eye_pose=None) -> np.ndarray:
        """FLAME vertices (N, V, 3) for shape (N, 300), expression (N, 100), pose (N, 6) =
        [global | jaw] axis-angles (width 3 means jaw only) and eye_pose (N, 6); None = zeros."""
        given = [np.asarray(a) for a in (shape, expression, pose, eye_pose) if a is not None]
        n = max([len(a) if a.ndim == 2 else 1 for a in given] or [1])
        shape = self._param(shape, n, N_SHAPE, "shape")
        expression = self._param(expression, n, N_EXP, "expression")
        pose = np.asarray(pose, np.float32) if pose is not None else np.zeros((n, 6), np.float32)
        if pose.ndim == 1:
            pose = pose[None]
        if pose.ndim == 2 and pose.shape[1] == 3:  # jaw only: the global rotation is zero
            pose = np.concatenate([np.zeros_like(pose), pose], axis=1)
        pose = self._param(pose, n, 6, "pose")
        eyes = self._param(eye_pose, n, 6, "eye_pose")
        neck = torch.zeros(n, 3)
        full_pose = torch.cat([pose[:, :3], neck, pose[:, 3:], eyes], dim=1)
        betas = torch.cat([shape, expression], dim=1)
        # blocks of frames keep the per-vertex 4x4 transforms (320 kB a frame) bounded
        return torch.cat([self._lbs(betas[i:i + self.BLOCK], full_pose[i:i + self.BLOCK])
                          for i in range(0, n, self.BLOCK)]).numpy()

    def vertices(self, motion_values: np.ndarray, shape: np.ndarray | None = None,
                 with_global: bool = True) -> np.ndarray:
        """ARTalk's `get_flame_verts`: (T, 106) motion -> (T, V, 3); shape (300,) or (T, 300)."""
        motion_values = np.asarray(motion_values, np.float32)
        if motion_values.ndim != 2 or motion_values.shape[1] != len(FLAME_CHANNELS):
            raise MotionFileError(f"FLAME motion must be T x {len(FLAME_CHANNELS)}, "
                                  f"got shape {motion_values.shape}")
        pose = motion_values[:, N_EXP:].copy()
        if not with_global:
            pose[:, :3] = 0.0
        return self.forward(shape, motion_values[:, :N_EXP], pose)

    def landmarks(self, vertices: np.ndarray, kind: str = "dense105") -> np.ndarray:
        """(T, V, 3) vertices -> (T, K, 3) barycentric landmarks: 'lmks70' (68 face + 2 eyes)
        or 'dense105' (FLAME points matching MediaPipe landmarks `landmark_indices`)."""
        if kind not in ("lmks70", "dense105"):
            raise MotionFileError(f"FLAME landmarks are 'lmks70' or 'dense105', got {kind!r}")
        if kind not in self._lmk:
            raise CheckpointError(f"this FLAME model file carries no {kind!r} landmark table")
        idx, bary = self._lmk[kind]
        vertices = np.asarray(vertices, np.float32)
        corners = vertices[:, self.faces[idx]]  # (T, K, 3 corners, 3 xyz)
        return np.einsum("tkcx,kc->tkx", corners, bary)

    def motion(self, values: np.ndarray, fps: float = 25.0) -> Motion:
        """Wrap (T, 106) ARTalk motion as a Motion on this rig."""
        return Motion(values, FLAME_CHANNELS, NAME, fps)

    def _param(self, value, n: int, width: int, what: str) -> torch.Tensor:
        if value is None:
            return torch.zeros(n, width)
        value = np.asarray(value, np.float32)
        if value.ndim == 1:
            value = value[None]
        if value.shape[1] != width or len(value) not in (1, n):
            raise MotionFileError(f"FLAME {what} must be ({n}, {width}), got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise MotionFileError(f"FLAME {what} contains NaN or infinity")
        return torch.from_numpy(np.array(np.broadcast_to(value, (n, width))))

    def _lbs(self, betas: torch.Tensor, full_pose: torch.Tensor) -> torch.Tensor:
        n = len(betas)
        v_shaped = self.v_template + torch.einsum("nl,vcl->nvc", betas, self.shapedirs)
        joints = torch.einsum("jv,nvc->njc", self.j_regressor, v_shaped)
        rot = rodrigues(full_pose.reshape(-1, 3)).reshape(n, N_JOINTS, 3, 3)
        pose_feature = (rot[:, 1:] - torch.eye(3)).reshape(n, -1)
        v_posed = v_shaped + (pose_feature @ self.posedirs).reshape(n, -1, 3)
        skin = _rigid_chain(rot, joints, self.parents)
        per_vertex = (self.lbs_weights @ skin.reshape(n, N_JOINTS, 16)).reshape(n, -1, 4, 4)
        return (per_vertex[..., :3, :3] @ v_posed[..., None])[..., 0] + per_vertex[..., :3, 3]


# -- FLAME -> arkit52 ----------------------------------------------------------------------------

def flame_to_arkit52(flame_rig: FlameRig, motion: Motion | np.ndarray, shape: np.ndarray | None = None,
                     smoothness: float = 0.0) -> Motion:
    """Convert FLAME motion to arkit52 by fitting on the 105 landmarks both models share.

    FLAME's 'dense105' points lie under MediaPipe landmarks `landmark_indices`, and the arkit52
    rig's vertices are MediaPipe's landmarks. The two neutral faces differ (FLAME's identity is
    not ours), so what is transferred is motion: each frame's landmark displacement from FLAME's
    own neutral (same `shape`, no pose), carried into arkit52 space by the similarity between the
    two neutrals and added to the arkit52 neutral; the global rotation is then re-applied (in
    arkit52 axes) and `fitting.fit_landmarks` recovers weights and head rotation.
    """
    from . import load_rig
    from .fitting import fit_landmarks  # the fitter loads the arkit52 rig; only needed here

    values = motion.values if isinstance(motion, Motion) else np.asarray(motion, np.float32)
    if isinstance(motion, Motion) and motion.channels != FLAME_CHANNELS:
        raise MotionFileError(f"expected motion on the flame rig, got rig {motion.rig!r}")
    if flame_rig.landmark_indices is None:
        raise CheckpointError("this FLAME model file carries no MediaPipe landmark table "
                              "(pass mediapipe_embedding= when loading generic_model.pkl)")
    idx = flame_rig.landmark_indices
    target = load_rig("arkit52").neutral[idx].astype(np.float64)
    rest = flame_rig.landmarks(flame_rig.forward(shape), "dense105")[0].astype(np.float64)
    local = flame_rig.landmarks(flame_rig.vertices(values, shape, with_global=False), "dense105")
    scale, align = _similarity(rest, target)
    moved = target + scale * np.einsum("ij,tvj->tvi", align, local - rest)
    with torch.inference_mode():
        head = rodrigues(torch.from_numpy(np.array(values[:, N_EXP:N_EXP + 3]))).double().numpy()
    head = align @ head @ align.T  # the FLAME-space head rotation, seen in arkit52 axes
    posed = np.einsum("tij,tvj->tvi", head, moved)
    fps = motion.fps if isinstance(motion, Motion) else 25.0
    return fit_landmarks(posed, indices=idx, space="rig", identity=False,
                         smoothness=smoothness, fps=fps)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and rotation of the least-squares similarity dst ~ s R src + t (Umeyama)."""
    s0, d0 = src - src.mean(0), dst - dst.mean(0)
    u, sig, vt = np.linalg.svd(d0.T @ s0)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ flip @ vt
    return float((sig * np.diag(flip)).sum() / (s0 ** 2).sum()), rot


# -- file readers -------------------------------------------------------------------------------

class _Kept:
    """Stand-in for a class we will not import (chumpy, scipy.sparse): keeps the pickled state."""

    source = ""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple):  # (dict, slots) form
            merged = {}
            for part in state:
                merged.update(part or {})
            state = merged
        self.state = state if isinstance(state, dict) else {"value": state}


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"), ("__builtin__", "object"), ("builtins", "object"),
    ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # Python 3 pickles (protocol < 3) spell bytes as encode(str, 'latin1')
}


class _FlameUnpickler(pickle.Unpickler):
    """Reads FLAME's Python 2 pickle without chumpy and refuses anything but arrays and data."""

    def find_class(self, module: str, name: str):
        if module == "chumpy" or module.startswith("chumpy.") \
                or module.startswith("scipy.sparse"):
            return type(name, (_Kept,), {"source": f"{module}.{name}"})
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise CheckpointError(f"FLAME pickle refers to {module}.{name}, which a model file "
                              "should not contain")


def _to_numpy(value) -> np.ndarray:
    """Arrays, tensors, chumpy stand-ins (their `x`) and sparse stand-ins -> numpy."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, _Kept):
        if "sparse" in value.source:
            return _sparse_from_state(value)
        if "x" in value.state:
            return np.asarray(value.state["x"])
        raise CheckpointError(f"cannot recover an array from pickled {value.source} "
                              f"(fields {sorted(value.state)[:6]})")
    return np.asarray(value)


def _sparse_from_state(kept: _Kept) -> np.ndarray:
    state = kept.state
    shape = tuple(state.get("_shape", state.get("shape", ())))
    kind = kept.source.rsplit(".", 1)[-1]
    try:
        if kind.startswith("csc"):
            matrix = scipy.sparse.csc_matrix((state["data"], state["indices"], state["indptr"]), shape)
        elif kind.startswith("csr"):
            matrix = scipy.sparse.csr_matrix((state["data"], state["indices"], state["indptr"]), shape)
        elif kind.startswith("coo"):
            coords = state.get("coords") or (state["row"], state["col"])
            matrix = scipy.sparse.coo_matrix((state["data"], tuple(coords)), shape)
        else:
            raise KeyError(kind)
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"cannot rebuild sparse {kept.source} from the pickle: {reason(exc)}") from None
    return matrix.toarray()


def _dense(value) -> np.ndarray:
    return value.toarray() if scipy.sparse.issparse(value) else np.asarray(value)


def read_generic_model(path: Path) -> dict[str, np.ndarray]:
    """FLAME 2020 `generic_model.pkl` -> the MODEL_KEYS arrays (numpy)."""
    try:
        with open(path, "rb") as f:
            raw = _FlameUnpickler(f, encoding="latin1").load()
    except CheckpointError:
        raise
    except Exception as exc:  # truncated files, wrong formats
        raise CheckpointError(f"cannot read FLAME pickle {path}: {reason(exc)}") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"FLAME pickle {path} does not hold a dict")
    missing = [k for k in MODEL_KEYS if k not in raw]
    if missing:
        raise CheckpointError(f"FLAME pickle {path} lacks {missing}")
    return {k: _to_numpy(raw[k]) for k in MODEL_KEYS}


def read_flame_with_eye(path: Path) -> dict[str, dict]:
    """ARTalk's `FLAME_with_eye.pt`: a torch.save dict of dicts of tensors.

    Loaded with `weights_only=True`; should a copy hold numpy arrays instead of tensors, the
    numpy reconstruction functions are allowed as well (still no arbitrary code)."""
    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            safe = [np.core.multiarray._reconstruct, np.ndarray, np.dtype]
            safe += [type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "uint32")]
            with torch.serialization.safe_globals(safe):
                data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read FLAME file {path}: {reason(exc)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("flame_model"), dict):
        raise CheckpointError(f"{path} is not a FLAME_with_eye.pt dict (no 'flame_model' entry)")
    return data


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise CheckpointError(f"landmark embedding not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
    except Exception as exc:
        raise CheckpointError(f"cannot read landmark embedding {path}: {reason(exc)}") from None
    need = ("lmk_face_idx", "lmk_b_coords", "landmark_indices")
    if any(k not in out for k in need):
        raise CheckpointError(f"landmark embedding {path} needs keys {need}")
    return out
