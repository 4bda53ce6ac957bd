"""arkit52 motion -> frames of a prepared photo/video avatar, by warping the real image.

Per output frame (avatar frame i: the photo, or the video's ping-pong frame):

  1. target weights: mouth-opening channels are absolute (a closed-lip motion closes a photo that
     smiles with parted lips), all others add to the avatar's own rest expression;
  2. rig displacements (468, 3) = posed rig at the target minus the rig at rest (photo avatars
     also turn by the motion's head rotation about the rig's neck pivot);
  3. into the image: scale and rotate by the frame's fitted similarity, drop depth; a guard keeps
     the lower inner lip from crossing the upper one;
  4. warp mesh (landmarks + hole triangles + a fixed border ring) at the moved positions is
     rasterised (only triangles that move) into a backward map: output pixel -> source pixel;
  5. `grid_sample` of the source window, then the procedural mouth interior where the lips part
     beyond the source's own opening; pixels outside the moved triangles are the source, exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from talkinghead.avatar.store import Avatar
from talkinghead.errors import RenderError
from talkinghead.motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES, Motion
from talkinghead.render.photo2d.mouth import (MouthStyle, lip_box, lip_mask, mouth_style, paint_mouth,
                                              paint_seam)

ABSOLUTE = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLowerDownLeft", "mouthLowerDownRight",
            "mouthUpperUpLeft", "mouthUpperUpRight", "mouthRollLower", "mouthRollUpper")
_IMAGE = np.array([1.0, -1.0, -1.0])     # rig axes (y up, z to viewer) -> image axes (y down)
MOVE_EPS = 0.02                          # px: vertices moving less are treated as fixed
MIN_AREA = 0.05                          # px^2: thinner deformed triangles cover no pixel


class AvatarRenderer:
    """Renders arkit52 motion on one avatar. `frames(motion)` yields RGB uint8 frames (H, W, 3)
    and is lazy, so it also works on an endless stream of 55-value rows."""

    def __init__(self, avatar: Avatar, head_motion: bool | None = None, style: MouthStyle | None = None,
                 mouth: str | Path | None = None):
        """`mouth`: None (or "procedural") paints the procedural interior; "trained" uses the
        avatar's own `renderer.safetensors` (`talkinghead train renderer`), "auto" uses it when
        present; any other value is the path of such a file."""
        from talkinghead.rigs import load_rig
        rig = load_rig("arkit52")
        self.avatar = avatar
        self.head_motion = avatar.kind == "photo" if head_motion is None else bool(head_motion)
        self.style = style or mouth_style(avatar.reference)
        self.style_lips = avatar.reference.get("lip_rgb", (170.0, 90.0, 90.0))
        self.basis = rig.basis.astype(np.float64)                 # (52, 468, 3)
        self.base = rig.neutral + avatar.identity                # the avatar's own rig at zero weights
        self.pivot = rig.pivot
        self.absolute = np.isin(np.array(ARKIT_BLENDSHAPES), ABSOLUTE)
        self.upper = rig.groups["upper_lip_inner"]
        self.lower = rig.groups["lower_lip_inner"]
        self.triangles = avatar.triangles.astype(np.int64)
        self.jaw = self.basis[ARKIT_BLENDSHAPES.index("jawOpen")]
        rest = avatar.landmarks[:, :468, :2]
        self.rest_gap = np.median(rest[:, self.lower[3:-3], 1] - rest[:, self.upper[3:-3], 1], axis=1)
        self.mouth_width = np.linalg.norm(rest[:, 61] - rest[:, 291], axis=-1)
        self.eyes = [(rig.groups[f"{s}_eye_upper"], rig.groups[f"{s}_eye_lower"]) for s in ("right", "left")]
        self.neural = _neural_mouth(avatar, mouth)
        if self.neural is not None:
            from talkinghead.render.photo2d.neural_mouth import crop_size
            self.crop_size = crop_size(avatar.landmarks)

    # -- geometry ----------------------------------------------------------------------------

    def target_weights(self, values: np.ndarray, i: int) -> np.ndarray:
        rest = self.avatar.rest_weights[i].astype(np.float64)
        w = np.asarray(values[:52], np.float64)
        return np.clip(np.where(self.absolute, w, rest + w), 0.0, 1.0)

    def displacements(self, values: np.ndarray, i: int) -> np.ndarray:
        """(468, 2) image-pixel offsets of the landmarks of avatar frame i for one motion row."""
        from talkinghead.rigs.arkit52 import rotation
        rest_w = self.avatar.rest_weights[i].astype(np.float64)
        delta = np.einsum("k,kvc->vc", self.target_weights(values, i) - rest_w, self.basis)
        if self.head_motion and np.any(values[52:55]):
            at_rest = self.base + np.einsum("k,kvc->vc", rest_w, self.basis)
            turn = rotation(*values[52:55])
            delta = (at_rest + delta - self.pivot) @ turn.T + self.pivot - at_rest
        image = self.avatar.scale[i] * delta @ self.avatar.rotation[i].astype(np.float64).T * _IMAGE
        return image[:, :2]

    def moved_vertices(self, values: np.ndarray, i: int) -> np.ndarray:
        """Warp-mesh vertices (V, 2) of avatar frame i, moved for this motion row."""
        verts = self.avatar.mesh_vertices[i].astype(np.float64).copy()
        verts[:468] += self.displacements(values, i)
        up, lo = self.upper[1:-1], self.lower[1:-1]
        rest = self.avatar.mesh_vertices[i]
        rest_gap = (rest[lo, 1] - rest[up, 1]).astype(np.float64)
        want = self.lip_gaps(self.target_weights(values, i), i)
        fit_gap = self.lip_gaps(self.avatar.rest_weights[i], i)
        # The rig fit leaves the source's gap slightly off; keep that error at rest and let it
        # fade as the commanded gap closes, so that a closed command closes the lips exactly.
        target = want + (rest_gap - fit_gap) * np.clip(want / np.maximum(fit_gap, 1e-6), 0.0, 1.0)
        fix = np.maximum(target, 0.0) - (verts[lo, 1] - verts[up, 1])
        verts[up, 1] -= 0.3 * fix
        verts[lo, 1] += 0.7 * fix
        return verts

    def lip_gaps(self, weights: np.ndarray, i: int) -> np.ndarray:
        """Image-y gap (px) between paired inner-lip vertices of the rig at these weights."""
        shape = self.base + np.einsum("k,kvc->vc", np.asarray(weights, np.float64), self.basis)
        row = -self.avatar.scale[i] * self.avatar.rotation[i][1].astype(np.float64)   # image y
        return (shape[self.lower[1:-1]] - shape[self.upper[1:-1]]) @ row

    # -- one frame ---------------------------------------------------------------------------

    def render(self, source: np.ndarray, values, k: int = 0) -> np.ndarray:
        """Output frame k (selects the avatar frame) for one 55-value motion row; `source` is that
        avatar frame's RGB image."""
        values = np.asarray(values, np.float64)
        i = self.avatar.frame_index(k)
        rest = self.avatar.mesh_vertices[i].astype(np.float64)
        moved = self.moved_vertices(values, i)
        out = np.array(source, copy=True)
        active = np.abs(moved - rest).max(axis=1)[self.triangles].max(axis=1) > MOVE_EPS
        if not active.any():
            return out
        tris = self.triangles[active]
        box = _window(np.concatenate([rest[tris].reshape(-1, 2), moved[tris].reshape(-1, 2)]), out.shape)
        if box is None:
            return out
        x0, y0, x1, y1 = box
        offset = np.array([x0, y0], np.float64)
        src = backward_map(rest[tris] - offset, moved[tris] - offset, (y1 - y0, x1 - x0))
        if src is not None:
            out[y0:y1, x0:x1] = warp_window(source[y0:y1, x0:x1], src)
        if self.neural is not None:
            self.neural.paint(out, moved[:468], self.crop_size)
        else:
            self._mouth(out, moved, values, i)
        for upper, lower in self.eyes:
            paint_lid(out, source, rest[upper], moved[upper], rest[lower] - rest[upper])
        return out

    def _mouth(self, out: np.ndarray, moved: np.ndarray, values: np.ndarray, i: int) -> None:
        upper, lower = moved[self.upper], moved[self.lower]
        gap = float(np.median(lower[3:-3, 1] - upper[3:-3, 1]))
        rest_gap = float(self.rest_gap[i])
        alpha = np.clip((gap / max(rest_gap, 1.0) - 1.1) / 0.25, 0.0, 1.0)   # source's own inside, else ours
        w = self.target_weights(values, i)
        jaw = self.avatar.scale[i] * float(np.abs(self.jaw[14, 1]) * w[ARKIT_BLENDSHAPES.index("jawOpen")])
        paint_mouth(out, upper, lower, float(self.mouth_width[i]), 0.8 * jaw, float(alpha), self.style)
        closing = np.clip((rest_gap - gap) / max(rest_gap, 1.0), 0.0, 1.0) if rest_gap > 1.0 else 0.0
        paint_seam(out, upper, lower, self.style_lips, float(closing))

    # -- many frames -------------------------------------------------------------------------

    def frames(self, motion: Motion | np.ndarray | Iterable) -> Iterator[np.ndarray]:
        """One RGB frame per motion row, made lazily (rows may come from a live stream)."""
        rows = _rows(motion)
        sources = self.avatar.source_frames()
        for k, row in enumerate(rows):
            yield self.render(next(sources), row, k)


def _neural_mouth(avatar: Avatar, mouth: str | Path | None):
    """The trained mouth renderer asked for, or None for the procedural interior."""
    if mouth is None or str(mouth) == "procedural":
        return None
    from talkinghead.render.photo2d.neural_mouth import NeuralMouth
    own = avatar.path / "renderer.safetensors" if avatar.path is not None else None
    if str(mouth) == "auto":
        return NeuralMouth.load(own) if own is not None and own.is_file() else None
    if str(mouth) == "trained":
        if own is None or not own.is_file():
            raise RenderError(f"avatar {avatar.path} has no trained mouth (renderer.safetensors); "
                              "make one with `talkinghead train renderer`")
        return NeuralMouth.load(own)
    return NeuralMouth.load(Path(mouth))


def paint_lid(out: np.ndarray, source: np.ndarray, rest_upper: np.ndarray, upper: np.ndarray,
              opening: np.ndarray) -> None:
    """A lowered upper lid: the area it swept over the eye shows lid skin (sampled just above the
    lash line in the source, not the stretched lashes) and the lash line moves with its edge."""
    drop = float(np.median(upper[2:-2, 1] - rest_upper[2:-2, 1]))
    if drop <= 0.3:
        return
    open_px = max(float(np.median(opening[2:-2, 1])), 1.0)
    strength = float(np.clip(drop / (0.25 * open_px), 0.0, 1.0))
    lift = rest_upper - [0.0, 1.0]
    h, w = out.shape[:2]
    box = lip_box(lift, upper, (h, w))
    if box is None:
        return
    x0, y0, x1, y1 = box
    cover = lip_mask(lift, upper, (h, w), box) * strength
    above = np.round(rest_upper - [0.0, 0.45 * open_px + 1.0]).astype(int)
    skin = source[np.clip(above[:, 1], 0, h - 1), np.clip(above[:, 0], 0, w - 1)].astype(np.float32)
    order = np.argsort(rest_upper[:, 0])
    xs = np.arange(x0, x1, dtype=np.float32)
    colour = np.stack([np.interp(xs, rest_upper[order, 0], skin[order, c]) for c in range(3)], -1)[None]
    lashes = np.zeros_like(cover)
    line = np.round((upper - [x0, y0]) * 16).astype(np.int32)
    cv2.polylines(lashes, [line], False, 1.0, 1, cv2.LINE_AA, 4)
    patch = out[y0:y1, x0:x1].astype(np.float32)
    patch += (colour - patch) * cover[..., None]
    patch *= 1.0 - 0.35 * strength * np.clip(lashes, 0, 1)[..., None]
    out[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)


def _rows(motion) -> Iterable:
    if isinstance(motion, Motion):
        if motion.rig != "arkit52" or tuple(motion.channels) != ARKIT52_CHANNELS:
            raise RenderError(f"photo avatars play arkit52 motion, got rig {motion.rig!r}")
        return motion.values
    if isinstance(motion, np.ndarray):
        if motion.ndim != 2 or motion.shape[1] != len(ARKIT52_CHANNELS):
            raise RenderError(f"motion rows must have {len(ARKIT52_CHANNELS)} arkit52 values, got {motion.shape}")
    return motion


def _window(points: np.ndarray, shape, margin: int = 3):
    h, w = shape[:2]
    x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int) - margin, 0)
    x1, y1 = np.minimum(np.ceil(points.max(axis=0)).astype(int) + margin + 1, [w, h])
    return None if x1 <= x0 or y1 <= y0 else (int(x0), int(y0), int(x1), int(y1))


def backward_map(rest: np.ndarray, moved: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Rasterise the moved triangles (T, 3, 2) into per-pixel source positions (h, w, 2).

    Triangle ids are drawn with OpenCV (the last triangle drawn wins a pixel); each pixel then maps
    through its triangle's affine map moved -> rest. Uncovered pixels map to themselves."""
    h, w = shape
    affine, ok = _affine(moved, rest)
    if not ok.any():
        return None
    ids = np.full((h, w), -1, np.int32)
    fixed = np.round(moved * 16).astype(np.int32)
    for t in np.nonzero(ok)[0]:
        cv2.fillConvexPoly(ids, fixed[t], int(t), cv2.LINE_8, 4)
    ys, xs = np.nonzero(ids >= 0)
    src = np.empty((h, w, 2), np.float32)
    src[..., 0] = np.arange(w, dtype=np.float32)[None]
    src[..., 1] = np.arange(h, dtype=np.float32)[:, None]
    a = affine[ids[ys, xs]]
    src[ys, xs, 0] = xs * a[:, 0, 0] + ys * a[:, 1, 0] + a[:, 2, 0]
    src[ys, xs, 1] = xs * a[:, 0, 1] + ys * a[:, 1, 1] + a[:, 2, 1]
    return src


def _affine(moved: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle the 3x2 matrix A with [x y 1] @ A = rest position, for points of the moved
    triangle (closed-form 3x3 inverse: batched `solve` is slow for many tiny systems)."""
    m = np.concatenate([moved, np.ones(moved.shape[:2] + (1,))], axis=2)   # rows (x, y, 1)
    cols = np.stack([np.cross(m[:, 1], m[:, 2]), np.cross(m[:, 2], m[:, 0]), np.cross(m[:, 0], m[:, 1])], axis=2)
    det = np.einsum("tc,tc->t", m[:, 0], cols[:, :, 0])
    ok = np.abs(det) > 2 * MIN_AREA
    inv = cols / np.where(ok, det, 1.0)[:, None, None]
    return inv @ rest, ok


def warp_window(window: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Bilinear sampling of an RGB uint8 window at source positions (pixel centres = integers)."""
    h, w = window.shape[:2]
    grid = np.empty_like(src)
    grid[..., 0] = (2 * src[..., 0] + 1) / w - 1
    grid[..., 1] = (2 * src[..., 1] + 1) / h - 1
    image = torch.from_numpy(np.ascontiguousarray(window.transpose(2, 0, 1), np.float32))[None]
    out = F.grid_sample(image, torch.from_numpy(grid)[None], mode="bilinear", padding_mode="border",
                        align_corners=False)
    return np.clip(out[0].numpy().transpose(1, 2, 0) + 0.5, 0, 255).astype(np.uint8)


# -- to a file ------------------------------------------------------------------------------
