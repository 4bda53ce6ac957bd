"""Landmarks -> arkit52 motion: measure ARKit weights and head pose on real faces.

Per frame the observed points Y relate to the rig by a similarity: Y ~ s R X(w) + t, with
X(w) = neutral + B w and w in [0, 1]^52. We alternate two exact sub-problems:
  1. pose: weighted Procrustes (Umeyama) of the current rig shape onto Y; the weights favour
     vertices no blendshape moves much (forehead, nose, temples) so a dropping jaw is not
     mistaken for a nodding head;
  2. weights: undo the pose, then a box-constrained ridge least squares on the deltas, solved
     for all frames at once by accelerated projected gradient on the 52 x 52 normal equations
     (cheap: the Gram matrix is shared by every frame). An optional temporal smoothness term
     couples neighbouring frames in the same solver.
Input points may be MediaPipe pixels (`space="image"`: y down, z away from the camera) or rig
axes (`space="rig"`); any scale and position. 478-point input is cut to the 468 mesh vertices.
"""

from __future__ import annotations

import numpy as np

from ..errors import MotionFileError
from ..motion import Motion
from . import load_rig
from .arkit52 import angles
from .topology import NUM_VERTICES, NUM_WITH_IRISES

_IMAGE_TO_RIG = np.array([1.0, -1.0, -1.0])  # a 180-degree turn about x: still a rotation


def fit_landmarks(landmarks: np.ndarray, indices: np.ndarray | None = None, regularisation: float = 1e-3,
                  smoothness: float = 0.0, iterations: int = 3, space: str = "image",
                  identity: bool = True, lip_weight: float = 20.0, fps: float = 25.0) -> Motion:
    """Fit arkit52 weights + head rotation to (T, N, 3) or (N, 3) landmarks.

    `indices` are the rig vertices the N points correspond to (default: all 468; N may also be
    468/478 with `indices` selecting a subset of them). `regularisation` is a ridge on each
    weight relative to its shape's own energy; `smoothness` penalises frame-to-frame weight changes.
    Returns Motion(rig="arkit52") with extras `residual` (T,) RMS point error in rig metres,
    `scale` (T,) and `translation` (T, 3) of the similarity in the input's units, and
    `identity` (N, 3), the fitted offset on the neutral (zeros without `identity`).
    """
    rig = load_rig("arkit52")
    points, idx = _check_input(landmarks, indices, space)
    neutral, basis = rig.neutral[idx], rig.basis[:, idx]  # (N, 3), (K, N, 3)
    rigid = _rigidity(basis)
    vw = np.where(np.isin(idx, rig.groups["lips"]), lip_weight, 1.0)
    a = (basis * np.sqrt(vw)[None, :, None]).reshape(len(basis), -1).T  # (3N, K)
    gram = a.T @ a
    gram += regularisation * np.diag(np.diag(gram) * _ridge_scale(rig.channels[: len(basis)]))
    weights = np.zeros((len(points), len(basis)))
    offset = np.zeros_like(neutral)
    for _ in range(max(1, iterations)):
        shape = neutral[None] + offset + np.einsum("tk,kvc->tvc", weights, basis)
        scale, rot, trans = _procrustes(shape, points, rigid)
        local = np.einsum("tji,tvj->tvi", rot, points - trans[:, None]) / scale[:, None, None]
        if identity and len(points) > 1:
            mean = local.mean(axis=0, keepdims=True)
            rhs = ((mean - neutral) * np.sqrt(vw)[:, None]).reshape(1, -1) @ a
            mean_w = _box_ridge(gram, rhs, 0.0, weights.mean(axis=0, keepdims=True))
            offset = (mean - neutral - np.einsum("tk,kvc->tvc", mean_w, basis))[0]
        rhs = ((local - neutral - offset) * np.sqrt(vw)[:, None]).reshape(len(points), -1) @ a
        weights = _box_ridge(gram, rhs, smoothness, weights)
    shape = neutral[None] + offset + np.einsum("tk,kvc->tvc", weights, basis)
    residual = np.sqrt(((local - shape) ** 2).sum(-1).mean(-1))
    values = np.concatenate([weights, angles(rot)], axis=1)
    extras = {"residual": residual.astype(np.float32), "identity": offset.astype(np.float32), "scale": scale.astype(np.float32),
              "translation": (trans * (_IMAGE_TO_RIG if space == "image" else 1.0)).astype(np.float32)}
    return Motion(values, rig.channels, rig.name, fps, extras)


def _check_input(landmarks, indices, space: str) -> tuple[np.ndarray, np.ndarray]:
    if space not in ("image", "rig"):
        raise MotionFileError(f"landmark space must be 'image' or 'rig', got {space!r}")
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim == 2:
        pts = pts[None]
    if pts.ndim != 3 or pts.shape[2] != 3 or len(pts) == 0:
        raise MotionFileError(f"landmarks must be (T, N, 3) or (N, 3), got shape {np.shape(landmarks)}")
    if not np.all(np.isfinite(pts)):
        raise MotionFileError("landmarks contain NaN or infinity")
    spread = pts.std(axis=1).max(axis=1)
    if np.any(spread <= 1e-9 * (1.0 + np.abs(pts).max(axis=(1, 2)))):
        raise MotionFileError("landmarks are degenerate: all points of a frame coincide")
    if indices is None:
        if pts.shape[1] not in (NUM_VERTICES, NUM_WITH_IRISES):
            raise MotionFileError(f"landmarks need 468 or 478 points without indices, got {pts.shape[1]}")
        idx = np.arange(NUM_VERTICES)
        pts = pts[:, :NUM_VERTICES]
    else:
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if len(idx) < 4 or idx.min() < 0 or idx.max() >= NUM_VERTICES or len(set(idx.tolist())) != len(idx):
            raise MotionFileError("indices must be >= 4 distinct rig vertices in [0, 468)")
        if pts.shape[1] in (NUM_VERTICES, NUM_WITH_IRISES) and pts.shape[1] != len(idx):
            pts = pts[:, idx]
        elif pts.shape[1] != len(idx):
            raise MotionFileError(f"{pts.shape[1]} landmarks but {len(idx)} indices")
    if space == "image":
        pts = pts * _IMAGE_TO_RIG
    return pts, idx


def _ridge_scale(names) -> np.ndarray:
    """Gaze shapes get 100x the ridge: without iris points they only nudge the lids, so they
    nearly coincide with eyeWide/eyeSquint and would soak up noise."""
    return np.array([100.0 if n.startswith("eyeLook") else 1.0 for n in names])


def _rigidity(basis: np.ndarray) -> np.ndarray:
    """Per-vertex Procrustes weight: ~1 where no shape moves the vertex by more than ~1 mm."""
    reach = np.linalg.norm(basis, axis=-1).max(axis=0)
    return 1.0 / (1.0 + (reach / 0.001) ** 2) + 1e-3


def _procrustes(src: np.ndarray, dst: np.ndarray, w: np.ndarray):
    """Batched weighted Umeyama: dst ~ s R src + t, with R a proper rotation."""
    w = w / w.sum()
    mu_s = np.einsum("v,tvc->tc", w, src)
    mu_d = np.einsum("v,tvc->tc", w, dst)
    s0, d0 = src - mu_s[:, None], dst - mu_d[:, None]
    cov = np.einsum("v,tvi,tvj->tij", w, d0, s0)
    u, sig, vt = np.linalg.svd(cov)
    flip = np.sign(np.linalg.det(u @ vt))
    sig[:, -1] *= flip
    u[:, :, -1] *= flip[:, None]
    rot = u @ vt
    var = np.einsum("v,tvc->t", w, s0 ** 2)
    scale = sig.sum(axis=1) / var
    trans = mu_d - scale[:, None] * np.einsum("tij,tj->ti", rot, mu_s)
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise MotionFileError("landmarks are degenerate (all points coincide or collapse)")
    return scale, rot, trans


def _box_ridge(gram: np.ndarray, target: np.ndarray, smooth: float, start: np.ndarray,
               steps: int = 400) -> np.ndarray:
    """min_w 0.5 w'Gw - b'w + smooth/2 sum_t |w_t - w_t-1|^2 with 0 <= w <= 1, all frames.

    FISTA with adaptive restart; the step is 1 / (largest eigenvalue of G + 4 smooth).
    """
    step = 1.0 / (np.linalg.eigvalsh(gram)[-1] + 4.0 * smooth)
    x = np.clip(start, 0.0, 1.0)
    y, t = x.copy(), 1.0
    for _ in range(steps):
        grad = y @ gram - target
        if smooth > 0 and len(y) > 1:
            diff = np.diff(y, axis=0)
            grad[:-1] -= smooth * diff
            grad[1:] += smooth * diff
        x_new = np.clip(y - step * grad, 0.0, 1.0)
        if np.sum((y - x_new) * (x_new - x)) > 0:  # momentum points uphill: restart
            t, y = 1.0, x.copy()
            continue
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = x_new + (t - 1.0) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x
