"""A per-avatar trained DINet_mini as the mouth of `AvatarRenderer` (instead of the procedural one).

Training (`talkinghead.training.renderer`) and rendering share everything in this module, so the
network sees at run time exactly the kind of input it was trained on:

  * the mouth box: the central 80x112 of DH_live's 184x184 mouth crop (spec-dhlive §4.6), cut
    with one affine map per frame (crop centred on the outer lips, one crop size per avatar);
  * the semantic input: the box with the outer-lip area blacked and the upper/lower lip painted
    as flat (255,0,0) / (127,0,0) polygons (the interior stays black, spec-dhlive §9.3);
  * the blend mask: the outer-lip polygon grown by a few pixels and feathered, so only the lips
    and the inside of the mouth come from the network and the warped skin stays as it is.

The style (64 values from the appearance encoder on the reference stack) is computed once at
export and stored with the weights.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch

from talkinghead.avatar import topology as topo
from talkinghead.errors import CheckpointError

CROP, BOX_H, BOX_W = 184, 80, 112
BOX_TOP, BOX_LEFT = (CROP - BOX_H) // 2, (CROP - BOX_W) // 2        # 52, 36
KIND = "dinet_mini"
UPPER = [topo.MAIN_KEYPOINTS[i] for i in topo.INDEX_LIPS_UPPER]     # MediaPipe ids of the lip-map polygons
LOWER = [topo.MAIN_KEYPOINTS[i] for i in topo.INDEX_LIPS_LOWER]
OUTER = [topo.MAIN_KEYPOINTS[i] for i in topo.INDEX_LIPS_OUTER]
INNER = [topo.MAIN_KEYPOINTS[i] for i in range(36, 56)]            # inner-lip ring
OVAL = [topo.MAIN_KEYPOINTS[i] for i in topo.INDEX_FACE_OVAL[2:-2]]


# -- geometry -----------------------------------------------------------------------------------

def crop_size(landmarks: np.ndarray) -> float:
    """Side (px) of the 184 mouth crop for a face: DH_live's 2 x 0.46 x the jaw-oval extent,
    as the median over frames so the crop scale stays fixed while the jaw moves."""
    oval = np.asarray(landmarks)[..., OVAL, :2]
    extent = np.maximum(np.ptp(oval[..., 0], axis=-1), np.ptp(oval[..., 1], axis=-1))
    return float(np.median(0.92 * np.atleast_1d(extent)))


def box_affine(points: np.ndarray, size: float, shift: float = 0.0) -> np.ndarray:
    """2x3 map from mouth-box pixels (u, v) to frame pixels for one frame's (468+, 2) points.

    The crop is centred like DH_live's `mouth_rect` (outer-lip mean; 0.45 above, 0.55 below);
    `shift` moves it vertically by that fraction of the crop (training jitter)."""
    cx, cy = np.asarray(points)[OUTER, :2].mean(axis=0)
    k = size / CROP
    x0, y0 = cx - size / 2, cy - 0.45 * size + shift * size
    return np.array([[k, 0.0, x0 + (BOX_LEFT + 0.5) * k - 0.5],
                     [0.0, k, y0 + (BOX_TOP + 0.5) * k - 0.5]])


def to_box(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Frame pixels -> mouth-box pixels."""
    a = affine[:, :2]
    return (np.asarray(points)[..., :2] - affine[:, 2]) @ np.linalg.inv(a).T


def cut_box(frame: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The 80x112 RGB mouth box of a frame (bilinear; outside the frame repeats the edge)."""
    return cv2.warpAffine(frame, affine, (BOX_W, BOX_H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


# -- network inputs -----------------------------------------------------------------------------

def _poly(canvas: np.ndarray, pts: np.ndarray, value) -> None:
    cv2.fillPoly(canvas, [np.round(pts[:, :2] * 16).astype(np.int32)], value, cv2.LINE_8, 4)


def semantic_input(box_rgb: np.ndarray, box_points: np.ndarray) -> np.ndarray:
    """The DINet source: the box with the lips as flat colours and a black mouth opening."""
    out = np.array(box_rgb, np.uint8, copy=True)
    _poly(out, box_points[OUTER], (0, 0, 0))
    _poly(out, box_points[UPPER], (255, 0, 0))
    _poly(out, box_points[LOWER], (127, 0, 0))
    return out


def lip_map(box_points: np.ndarray) -> np.ndarray:
    """(80, 112) uint8 lip map for the reference alpha slot: upper lip 255, lower lip 127."""
    canvas = np.zeros((BOX_H, BOX_W), np.uint8)
    _poly(canvas, box_points[UPPER], 255)
    _poly(canvas, box_points[LOWER], 127)
    return canvas


def inner_mask(box_points: np.ndarray) -> np.ndarray:
    """(80, 112) bool: inside the inner-lip ring (what the teeth references keep)."""
    canvas = np.zeros((BOX_H, BOX_W), np.uint8)
    _poly(canvas, box_points[INNER], 1)
    return canvas > 0


def blend_mask(box_points: np.ndarray, grow: float = 0.06) -> np.ndarray:
    """(80, 112) float32 0..1: the outer-lip area grown by `grow` x mouth width, feathered."""
    canvas = np.zeros((BOX_H, BOX_W), np.float32)
    _poly(canvas, box_points[OUTER], 1.0)
    width = float(np.linalg.norm(box_points[61, :2] - box_points[291, :2]))
    r = max(1, int(round(grow * width)))
    canvas = cv2.dilate(canvas, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return np.clip(cv2.GaussianBlur(canvas, (0, 0), max(r / 1.5, 0.8)) * 1.3, 0.0, 1.0)


SKIN_FILL = (194, 150, 124)   # DH_live fills the teeth references outside the inner lips with this


def reference_image(box_rgb: np.ndarray, box_points: np.ndarray, teeth: bool) -> np.ndarray:
    """One (80, 112, 4) reference: RGB (+ skin fill outside the inner lips for a teeth reference)
    and the lip map."""
    rgb = np.array(box_rgb, np.uint8, copy=True)
    if teeth:
        rgb[~inner_mask(box_points)] = SKIN_FILL
    return np.concatenate([rgb, lip_map(box_points)[..., None]], axis=-1)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(..., H, W, C) uint8 -> [B, C, H, W] float32 in 0..1."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    x = x[None] if x.ndim == 3 else x
    return x.permute(0, 3, 1, 2).contiguous()


# -- the mouth at render time -------------------------------------------------------------------

class NeuralMouth:
    """Paints the mouth of one output frame with a trained DINet_mini and a fixed style.

    `ms_per_frame` is the mean wall time of `paint` (cut, network, blend) so far."""

    def __init__(self, net: torch.nn.Module, style: torch.Tensor, size_ratio: float = 1.0,
                 grow: float = 0.06):
        self.net = net.eval()
        self.style = style.reshape(1, -1).float()
        self.size_ratio, self.grow = float(size_ratio), float(grow)
        self.calls, self.seconds = 0, 0.0

    @classmethod
    def load(cls, path: str | Path) -> "NeuralMouth":
        """A `renderer.safetensors` written by `talkinghead train renderer`."""
        from talkinghead.render.photo2d.dinet import DINetMini, load_strict
        from talkinghead.training.export import read_export
        state, meta = read_export(path)
        if meta.get("kind") != KIND:
            raise CheckpointError(f"{path} is a {meta.get('kind')!r} export, not a trained mouth renderer")
        style = meta.get("style")
        if not isinstance(style, list) or len(style) != 64:
            raise CheckpointError(f"{path}: its config has no 64-value style")
        net = load_strict(DINetMini(), state, str(path))
        return cls(net, torch.tensor(style, dtype=torch.float32), meta.get("size_ratio", 1.0),
                   meta.get("grow", 0.06))

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / max(self.calls, 1)

    @torch.no_grad()
    def box(self, frame: np.ndarray, points: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(network output box RGB uint8, blend mask, box affine) for one frame."""
        affine = box_affine(points, size * self.size_ratio)
        pts = to_box(points, affine)
        x = to_tensor(semantic_input(cut_box(frame, affine), pts))
        y = self.net.decode(x, self.style)
        rgb = (y[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
        return rgb, blend_mask(pts, self.grow), affine

    def paint(self, frame: np.ndarray, points: np.ndarray, size: float) -> None:
        """Replace lips and mouth interior of `frame` (H, W, 3 uint8, in place); `points` (468+, 2)
        are the frame's (moved) landmarks, `size` the avatar's crop size (`crop_size`)."""
        t0 = time.perf_counter()
        rgb, mask, affine = self.box(frame, points, size)
        paste_box(frame, rgb, mask, affine)
        self.calls += 1
        self.seconds += time.perf_counter() - t0


def paste_box(frame: np.ndarray, rgb: np.ndarray, mask: np.ndarray, affine: np.ndarray) -> None:
    """Blend a mouth box back into the frame window it came from (bilinear, in place)."""
    h, w = frame.shape[:2]
    corners = np.array([[0, 0, 1], [BOX_W, 0, 1], [0, BOX_H, 1], [BOX_W, BOX_H, 1]], np.float64) @ affine.T
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    forward = affine.copy()
    forward[:, 2] -= [x0, y0]
    size = (int(x1 - x0), int(y1 - y0))
    patch = cv2.warpAffine(rgb, forward, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, forward, size, flags=cv2.INTER_LINEAR, borderValue=0.0)[..., None]
    window = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(window + (patch - window) * alpha + 0.5, 0, 255).astype(np.uint8)
