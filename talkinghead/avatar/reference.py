"""Reference tensor and `ref_data` of a DH_live mini avatar (spec-dhlive §5.3).

DINet_mini's style comes from 3 RGBA images of the mouth box stacked into 12 channels: the avatar's
own mouth with a lip map in the alpha slot, and twice a teeth reference image, so the network knows
both the person's lips and what teeth should look like. It is computed once per avatar.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from talkinghead.avatar import topology as topo
from talkinghead.avatar.prepare import AvatarError, CROP, crop_space, main_keypoints, mouth_rect

BOX_TOP, BOX_LEFT, BOX_H, BOX_W = 52, 36, 80, 112
GRID = 4


def reference_crop(frame_rgba: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame 0's 184x184 RGBA mouth crop (unsquared rectangle of its raw landmarks) and its 141
    main keypoints in crop coordinates."""
    h, w = frame_rgba.shape[:2]
    rect = mouth_rect(main_keypoints(landmarks), w, h)
    x0, y0, x1, y1 = rect
    crop = cv2.resize(frame_rgba[y0:y1, x0:x1], (CROP, CROP), interpolation=cv2.INTER_LINEAR)
    return crop, main_keypoints(crop_space(landmarks, rect))


def lip_map(keypoints: np.ndarray) -> np.ndarray:
    """184x184 uint8: upper lip 255, lower lip 127 (drawn second, so it wins on the shared edge)."""
    canvas = np.zeros((CROP, CROP), np.uint8)
    for index, value in ((topo.INDEX_LIPS_UPPER, 255), (topo.INDEX_LIPS_LOWER, 127)):
        poly = keypoints[list(index), :2].astype(np.int32)
        cv2.fillPoly(canvas, [poly], int(value))
    return canvas


def load_teeth_reference(path: str | Path) -> np.ndarray:
    """A teeth image (BGRA on disk, any size) -> 80x112 RGBA uint8."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3 or img.shape[2] != 4:
        raise AvatarError(f"teeth reference {path} is not a readable 4-channel image")
    img = cv2.resize(img, (BOX_W, BOX_H), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def reference_tensor(crop_rgba: np.ndarray, keypoints: np.ndarray, teeth_rgba: np.ndarray) -> torch.Tensor:
    """[1,12,80,112] float32: (mouth RGB + lip map, teeth, teeth) / 255."""
    box = (slice(BOX_TOP, BOX_TOP + BOX_H), slice(BOX_LEFT, BOX_LEFT + BOX_W))
    mouth = np.concatenate([crop_rgba[box][..., :3], lip_map(keypoints)[box][..., None]], axis=-1)
    stack = np.concatenate([mouth, teeth_rgba, teeth_rgba], axis=-1)
    return torch.from_numpy((stack / 255.0).astype(np.float32)).permute(2, 0, 1)[None]


def luminance_grid(crop_rgba: np.ndarray) -> np.ndarray:
    """4x4 mean luminance cells of the crop, row-major, /255.

    DH_live weights channels 2,1,0 with 0.299, 0.587, 0.114 on RGBA data (B and R swapped against
    the usual luma); kept for compatibility, the value is only consumed by the web runtime.
    """
    c = crop_rgba.astype(np.float64)
    luma = 0.299 * c[..., 2] + 0.587 * c[..., 1] + 0.114 * c[..., 0]
    cell = CROP // GRID
    cells = luma[: cell * GRID, : cell * GRID].reshape(GRID, cell, GRID, cell).mean(axis=(1, 3))
    return np.clip(np.round(cells), 0, 255).reshape(-1) / 255.0


def ref_data(style: torch.Tensor, grid: np.ndarray) -> list[float]:
    """The 80 numbers stored in combined_data.json.gz: 64 style values + 16 grid values, 6 dp."""
    values = np.concatenate([style.detach().double().numpy().reshape(-1), grid])
    return [round(float(v), 6) for v in values]
