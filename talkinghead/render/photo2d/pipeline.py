"""Per-frame DH_live mini rendering: weights + avatar frame -> video frame with a new mouth.

Chains the stages in the order of spec-dhlive §4: vertex stage and rasteriser draw the prompt for
the frame's pose, the crop is warped and its mouth redrawn by DINet_mini, the crop is pasted back.
Video avatars play their frames ping-pong (0..N-1, N-1..0) so the loop has no jump.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from talkinghead.avatar.formats import MiniAvatarData
from talkinghead.errors import RenderError
from talkinghead.render.photo2d import raster, vertex, warp


def pingpong_index(k: int, n_frames: int) -> int:
    """Avatar frame for output frame k when the N frames play forward then backward."""
    k %= 2 * n_frames
    return k if k < n_frames else 2 * n_frames - 1 - k


class MiniRenderer:
    """Renders mouth frames of one prepared avatar.

    `texture_rgb` is the [rows, 256, 3] uint8 basis texture (rows 0-5 = the six mouth bases);
    `shader` picks the desktop (368 render subsampled, border shift quirk) or web (184) behaviour.
    """

    def __init__(self, avatar: MiniAvatarData, net: torch.nn.Module, texture_rgb: np.ndarray,
                 masks: warp.BlendMasks, shader: Literal["desktop", "web"] = "desktop"):
        self.avatar, self.net, self.masks, self.shader = avatar, net.eval(), masks, shader
        self.texture = np.asarray(texture_rgb)[..., :3]
        self.style = torch.from_numpy(avatar.style)[None]

    def prompt(self, frame: int, weights: np.ndarray) -> np.ndarray:
        """184x184 RGBA uint8 prompt (flow + mouth semantics) of avatar frame `frame`."""
        entry = self.avatar.frames[frame]
        if self.shader == "desktop":
            world, ref, size, stride = 2 * entry.matrix, 2 * entry.points / warp.CROP - 1, 2 * warp.CROP, 2
        else:
            world, ref, size, stride = entry.matrix, entry.points, warp.CROP, 1
        verts = self.avatar.wrap_verts
        ndc, bias = vertex.vertex_stage(verts, world, ref, weights, self.texture, size, self.shader)
        return raster.rasterize(ndc, bias, verts[:, 3], self.avatar.wrap_faces, size, stride)

    def render_crop(self, source_rgba: np.ndarray, frame: int, weights: np.ndarray) -> np.ndarray:
        """The 184x184 crop with the synthesised mouth, RGBA uint8."""
        source = _to_tensor(source_rgba)
        prompt = _to_tensor(self.prompt(frame, weights))
        return warp.to_uint8_hwc(warp.render_mouth(source, prompt, self.net, self.style, self.masks))

    def render_frame(self, image_rgba: np.ndarray, frame: int, weights: np.ndarray) -> np.ndarray:
        """A full video frame (RGBA uint8) of avatar frame `frame` with the mouth for `weights`."""
        if not 0 <= frame < len(self.avatar.frames):
            raise RenderError(f"avatar frame {frame} out of range 0..{len(self.avatar.frames) - 1}")
        rect = self.avatar.frames[frame].rect
        crop = self.render_crop(warp.crop_source(image_rgba, rect), frame, weights)
        return warp.paste_back(image_rgba, crop, rect)


def _to_tensor(rgba: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((rgba / 255.0).astype(np.float32)).permute(2, 0, 1)[None]
