"""Flow warp, mouth composition, DINet blend and paste-back (spec-dhlive §4.6-4.7).

The prompt rendered by `raster` carries the flow in R,G and the mouth semantics as flat colours
(B is 0 or 1 inside the mouth, 0.5 on skin). The crop is warped by the flow, the mouth is blacked
out and repainted with the semantic colours, DINet_mini redraws the central 80x112 box, and the box
is blended back with a soft mouth mask so that only the mouth interior comes from the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from talkinghead.errors import RenderError

CROP = 184
BOX_H, BOX_W = 80, 112
BOX_TOP, BOX_LEFT = (CROP - BOX_H) // 2, (CROP - BOX_W) // 2   # 52, 36


@dataclass(frozen=True)
class BlendMasks:
    """Fusion masks: `face` [184,184] fades the flow out towards the crop border, `mouth` [80,112]
    selects the network's output inside the box."""

    face: torch.Tensor
    mouth: torch.Tensor


def identity_grid(size: int = CROP) -> torch.Tensor:
    """Pixel-centre sampling grid [1,size,size,2] (x, y) for `grid_sample(align_corners=False)`."""
    theta = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    return F.affine_grid(theta, [1, 1, size, size], align_corners=False)


def _read_channel0(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RenderError(f"cannot read mask image {path}")
    return img if img.ndim == 2 else img[..., 0]


def load_blend_masks(face_mask_png: str | Path, mouth_mask_png: str | Path) -> BlendMasks:
    """Resize DH_live-style mask images (channel 0, /255) to the crop and the mouth box."""
    face = cv2.resize(_read_channel0(Path(face_mask_png)), (CROP, CROP), interpolation=cv2.INTER_LINEAR)
    mouth = cv2.resize(_read_channel0(Path(mouth_mask_png)), (BOX_W, BOX_H), interpolation=cv2.INTER_LINEAR)
    return BlendMasks(torch.from_numpy(face / 255.0).float(), torch.from_numpy(mouth / 255.0).float())


def warp_and_compose(source: torch.Tensor, prompt: torch.Tensor, face_mask: torch.Tensor):
    """Warp the RGBA crop by the prompt's flow and paint the mouth semantics.

    Returns (warped RGBA W, mouth-blacked RGB Wm, mouth mask m [B,1,H,W], network input x for the box).
    """
    mouth = (torch.abs(2 * prompt[:, 2:3] - 1) - 0.9).clamp(min=0) * 10
    flow = (2 * prompt[:, :2] - 1) * face_mask
    grid = identity_grid(source.shape[-1]).to(source) - flow.permute(0, 2, 3, 1)
    warped = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    blacked = warped[:, :3] * (1 - mouth)
    box = (slice(None), slice(None), slice(BOX_TOP, BOX_TOP + BOX_H), slice(BOX_LEFT, BOX_LEFT + BOX_W))
    x = blacked[box] + (prompt[:, :3] * mouth)[box]
    return warped, blacked, mouth, x


def blend_mouth(warped, blacked, mouth, y: torch.Tensor, mouth_mask: torch.Tensor) -> torch.Tensor:
    """Put the network's box back: y inside the mouth mask, the blacked warp around it."""
    box = (slice(None), slice(None), slice(BOX_TOP, BOX_TOP + BOX_H), slice(BOX_LEFT, BOX_LEFT + BOX_W))
    out = warped.clone()
    out[:, :3][box] = y * mouth_mask + blacked[box] * (1 - mouth_mask)
    out[:, 3:4] = (warped[:, 3:4] + mouth).clamp(min=0)   # may exceed 1, as in the original
    return out


@torch.no_grad()
def render_mouth(source: torch.Tensor, prompt: torch.Tensor, model, style: torch.Tensor,
                 masks: BlendMasks) -> torch.Tensor:
    """One frame: source and prompt [B,4,184,184] in [0,1] -> output [B,4,184,184]."""
    if source.shape[-2:] != (CROP, CROP) or prompt.shape[-2:] != (CROP, CROP):
        raise RenderError(f"source and prompt must be {CROP}x{CROP}, got {tuple(source.shape)}, {tuple(prompt.shape)}")
    warped, blacked, mouth, x = warp_and_compose(source, prompt, masks.face)
    y = model.decode(x, style)
    return blend_mouth(warped, blacked, mouth, y, masks.mouth)


def to_uint8_hwc(out: torch.Tensor) -> np.ndarray:
    """[1,4,H,W] float -> HWC uint8 with the original's clip-then-truncate."""
    return (out[0].permute(1, 2, 0).clamp(0, 1) * 255).numpy().astype(np.uint8)


def crop_source(frame_rgba: np.ndarray, rect) -> np.ndarray:
    """The crop the pipeline sees: rect cut, bilinear to 368 then to 184 (as the desktop demo)."""
    x0, y0, x1, y1 = (int(v) for v in rect)
    if not (0 <= x0 < x1 <= frame_rgba.shape[1] and 0 <= y0 < y1 <= frame_rgba.shape[0]):
        raise RenderError(f"crop rectangle {rect} lies outside the {frame_rgba.shape[1]}x{frame_rgba.shape[0]} frame")
    crop = cv2.resize(frame_rgba[y0:y1, x0:x1], (2 * CROP, 2 * CROP), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(crop, (CROP, CROP), interpolation=cv2.INTER_LINEAR)


def paste_back(frame: np.ndarray, crop_hwc: np.ndarray, rect) -> np.ndarray:
    """Resize the rendered crop to the rect and overwrite the whole square (no alpha blending)."""
    x0, y0, x1, y1 = (int(v) for v in rect)
    out = frame.copy()
    patch = cv2.resize(crop_hwc, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out[y0:y1, x0:x1, :3] = patch[..., :3]
    return out
