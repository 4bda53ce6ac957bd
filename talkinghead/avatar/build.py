"""From landmarks and frame 0 to a complete DH_live mini avatar (spec-dhlive §6.5-6.9, §5.3).

This chains the stages of `prepare` and `reference`; landmark extraction (MediaPipe) and video
writing happen elsewhere, so this step is deterministic and testable from stored landmarks.
"""

from __future__ import annotations

import numpy as np
import torch

from talkinghead.avatar import prepare as prep
from talkinghead.avatar import reference as ref
from talkinghead.avatar.formats import AvatarFrame, MiniAvatarData
from talkinghead.avatar.topology import INDEX_WRAP


def prepare_frames(landmarks: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw landmarks [N,478,3] -> (smoothed landmarks, square rects [N,4], crop-space landmarks [N,478,3])."""
    if landmarks.ndim != 3 or landmarks.shape[1:] != (478, 3):
        raise prep.AvatarError(f"landmarks must be [frames, 478, 3], got {list(landmarks.shape)}")
    smooth = prep.smooth_frames(landmarks)
    prep.check_not_speaking(smooth)
    rects = np.array([prep.mouth_rect(prep.main_keypoints(f), width, height) for f in smooth])
    squares = prep.square_rects(rects, width, height)
    standard = np.stack([prep.crop_space(f, r) for f, r in zip(smooth, squares)])
    return smooth, squares, standard


def build_avatar(
    landmarks: np.ndarray,
    frame0_rgba: np.ndarray,
    canonical_face: np.ndarray,
    wrap_template: np.ndarray,
    wrap_faces: np.ndarray,
    teeth_rgba: np.ndarray,
    net: torch.nn.Module,
) -> MiniAvatarData:
    """Landmarks of every frame (video px) + frame 0 (RGBA) -> avatar data for the renderer.

    `canonical_face` is the 478-point template the poses are fitted to; `wrap_template` [267,5] and
    `wrap_faces` the wrap mesh to personalise; `teeth_rgba` an 80x112 teeth reference; `net` the
    DINet_mini whose appearance encoder gives the style.
    """
    landmarks = np.asarray(landmarks, np.float64)
    height, width = frame0_rgba.shape[:2]
    _, rects, standard = prepare_frames(landmarks, width, height)
    mats, mean = prep.pose_and_mean(standard, canonical_face[:478, :3])
    wrap = prep.personalise_wrap(wrap_template, prep.normalize_lips(mean, canonical_face[:478, :3]))
    crop, keypoints = ref.reference_crop(frame0_rgba, landmarks[0])
    with torch.no_grad():
        style = net.encode_ref(ref.reference_tensor(crop, keypoints, teeth_rgba))
    ref_values = np.asarray(ref.ref_data(style, ref.luminance_grid(crop)))
    wrap_ids = list(INDEX_WRAP[:209])
    frames = [AvatarFrame(tuple(int(v) for v in r), m, s[wrap_ids, :2]) for r, m, s in zip(rects, mats, standard)]
    return MiniAvatarData(wrap, np.asarray(wrap_faces, np.int64), ref_values, frames)
