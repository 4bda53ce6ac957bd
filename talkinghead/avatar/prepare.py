"""Avatar preparation for the DH_live mini pipeline (spec-dhlive §6), from per-frame landmarks.

Given MediaPipe landmarks (478 points, video pixels, z in pixels) for every frame of a short video,
this computes what the renderer needs per frame (a steady square mouth rectangle, the canonical ->
crop pose matrix, crop-space landmarks of the wrap vertices) and once per avatar (the personal mean
face, its lip-normalised version and the personalised wrap mesh). Numbers follow DH_live exactly,
including its documented quirks, so avatars are interchangeable with the original's.
"""

from __future__ import annotations

import numpy as np

from talkinghead.avatar import topology as topo
from talkinghead.errors import RenderError

CROP = 184
SMOOTH_TAPS = np.array([0.015, 0.095, 0.78, 0.095, 0.015])
MAX_PCA_COMPONENTS = 25


class AvatarError(RenderError):
    """The video or its landmarks cannot make an avatar (too short, speaking, face leaves the frame)."""


def smooth_frames(x: np.ndarray) -> np.ndarray:
    """5-tap temporal filter over frames 2..N-3; the two frames at each end are kept as they are."""
    x = np.asarray(x, np.float64)
    flat = x.reshape(len(x), -1)
    out = flat.copy()
    for i in range(2, len(x) - 2):
        out[i] = SMOOTH_TAPS @ flat[i - 2 : i + 3]
    return out.reshape(x.shape)


def mouth_openness(landmarks: np.ndarray) -> np.ndarray:
    """Outer-lip height over width per frame (3-D norms), MediaPipe 0/17 against corners 61/291."""
    lips = landmarks[:, [topo.MAIN_KEYPOINTS[i] for i in topo.INDEX_LIPS_OUTER]]
    height = np.linalg.norm(lips[:, 15] - lips[:, 5], axis=-1)
    width = np.linalg.norm(lips[:, 10] - lips[:, 0], axis=-1)
    return height / (width + 1e-6)


def check_not_speaking(landmarks: np.ndarray, jump: float = 0.08, max_fraction: float = 0.15) -> None:
    """The avatar video must show a closed, still mouth; a talking video would fight the lip sync."""
    opening = mouth_openness(landmarks)
    moving = np.abs(np.diff(opening, prepend=opening[:1])) > jump
    if moving.mean() >= max_fraction:
        raise AvatarError(f"the mouth moves in {moving.mean():.0%} of the frames; use a video without speech")


def main_keypoints(landmarks: np.ndarray) -> np.ndarray:
    """[..., 478, 3] -> the 141 main keypoints."""
    return landmarks[..., list(topo.MAIN_KEYPOINTS), :]


def mouth_rect(keypoints: np.ndarray, width: int, height: int) -> list[int]:
    """Mouth rectangle from the 141 main keypoints: centred on the outer lips, sized by the jaw oval."""
    lips = keypoints[list(topo.INDEX_LIPS_OUTER), :2]
    cx, cy = lips.mean(axis=0)
    oval = keypoints[list(topo.INDEX_FACE_OVAL[2:-2]), :2]
    x0, y0 = np.maximum(oval.min(axis=0), 0)
    x1, y1 = np.minimum(oval.max(axis=0), [width, height])
    s = 0.46 * max(x1 - x0, y1 - y0)
    rect = [int(cx - s), int(cy - 0.9 * s), int(cx + s), int(cy + 1.1 * s)]
    return [max(rect[0], 0), max(rect[1], 0), min(rect[2], width), min(rect[3], height)]


def square_rects(rects: np.ndarray, width: int, height: int) -> np.ndarray:
    """One square size for the whole video (even), each frame centred on its own mouth rectangle."""
    rects = np.asarray(rects)
    size = int(np.mean(rects[:, 2] - rects[:, 0]) / 2 + np.mean(rects[:, 3] - rects[:, 1]) / 2)
    size -= size % 2
    mid_x = ((rects[:, 0] + rects[:, 2]) / 2).astype(np.int64)
    mid_y = ((rects[:, 1] + rects[:, 3]) / 2).astype(np.int64)
    half = size // 2
    if (mid_x + half).max() > width or (mid_y + half).max() > height:
        raise AvatarError("the mouth rectangle leaves the video; use a video with the face further inside")
    if (mid_x - half).min() < 0 or (mid_y - half).min() < 0:
        raise AvatarError("the mouth rectangle leaves the video; use a video with the face further inside")
    return np.stack([mid_x - half, mid_y - half, mid_x + half, mid_y + half], axis=1)


def crop_space(landmarks: np.ndarray, rect, size: int = CROP) -> np.ndarray:
    """Landmarks [478,3] of one frame -> crop pixels; z re-based so the nearest point has z = 0."""
    x0, y0, x1, _ = rect
    out = np.asarray(landmarks, np.float64).copy()
    out[:, 2] -= out[:, 2].max()
    out[:, 0] -= x0
    out[:, 1] -= y0
    return out * (size / (x1 - x0))


def fit_pose(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Affine least-squares fit source -> target (both [K,3]) as a 4x4 matrix.

    DH_live's "correction" only flips a reflection: A keeps scale and shear (it is not a rotation), and
    the translation is re-derived from the centroids.
    """
    design = np.concatenate([source, np.ones((len(source), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    a = solution[:3].T
    u, s, vt = np.linalg.svd(a)
    if np.linalg.det(u @ vt) < 0:
        vt[-1] *= -1
    a = u @ np.diag(s) @ vt
    mat = np.eye(4)
    mat[:3, :3] = a
    mat[:3, 3] = target.mean(axis=0) - a @ source.mean(axis=0)
    return mat


def apply(mat: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ mat[:3, :3].T + mat[:3, 3]


def pose_and_mean(standard_v: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pose matrices (smoothed) and the personal mean face in canonical space.

    Frames are first posed against the canonical template, brought back to canonical space, and a
    low-rank PCA (k = min(25, N // 20)) denoises each; the final pose is refitted to the frame's own
    reconstruction so that its expression does not leak into the head pose.
    """
    n = len(standard_v)
    k = min(MAX_PCA_COMPONENTS, n // 20)
    if k < 1:
        raise AvatarError(f"the avatar video needs at least 20 frames, got {n}")
    mats = [fit_pose(template, frame) for frame in standard_v]
    posed = np.stack([apply(np.linalg.inv(m), frame) for m, frame in zip(mats, standard_v)])
    flat = posed.reshape(n, -1)
    mean = flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    basis = vt[:k]
    recon = ((flat - mean) @ basis.T @ basis + mean).reshape(posed.shape)
    mats = np.stack([fit_pose(r, frame) for r, frame in zip(recon, standard_v)])
    return smooth_frames(mats), mean.reshape(-1, 3)


def normalize_lips(personal: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Move the personal inner-lip gap towards the template's (10 % upper lip, 70 % lower lip).

    Reproduces DH_live's pairing: gap i is measured between upper point i+1 and lower point -i (for
    i = 0 that is the corner), but applied to the pair i+1 / -(i+1).
    """
    out = personal.copy()
    rings = np.asarray(topo.LIP_RINGS).reshape(4, 20)
    inner = rings[3]
    for i in range(9):
        upper, lower = inner[i + 1], inner[-i]
        gap = np.linalg.norm(template[upper] - template[lower]) - np.linalg.norm(personal[upper] - personal[lower])
        for ring in rings:
            out[ring[i + 1], 1] -= 0.1 * gap
            out[ring[-(i + 1)], 1] += 0.7 * gap
    return out


def personalise_wrap(template5: np.ndarray, mean_face: np.ndarray, factor: float = 0.32) -> np.ndarray:
    """Wrap mesh [267,5]: landmark vertices from the personal face, border re-extruded around them."""
    wrap = np.asarray(template5, np.float64).copy()
    n = len(topo.INDEX_WRAP)
    wrap[:n, :3] = mean_face[list(topo.INDEX_WRAP)]
    edge = list(topo.INDEX_EDGE_WRAP)
    mid = wrap[edge[:4] + edge[17:21], :3].mean(axis=0)
    for e, j in enumerate(edge):
        p = wrap[j, :3]
        wrap[n + e, :3] = [*(p[:2] + factor * (p[:2] - mid[:2])), p[2]]
    return wrap


def frame_points(mat: np.ndarray, standard_v: np.ndarray) -> list[float]:
    """The 434 numbers of a JSON frame: Mᵀ flattened (5 dp) + crop xy of wrap vertices 0..208 (1 dp)."""
    wrap_xy = standard_v[list(topo.INDEX_WRAP[:209]), :2]
    return [round(float(v), 5) for v in mat.T.reshape(-1)] + [round(float(v), 1) for v in wrap_xy.reshape(-1)]
