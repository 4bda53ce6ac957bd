"""Procedural mouth interior for warped photos: cavity, teeth, tongue, painted where the lips part.

A photo with closed lips holds no pixels of the inside of the mouth, so when the warp opens the
lips the gap has to be synthesised. We paint, between the upper and lower inner-lip contours:

  * a dark cavity, lighter near the lips (lit inner lip), darker towards the corners;
  * a tongue hint: a dim rounded shape resting low in the mouth, seen at wider openings;
  * the lower teeth: a band carried by the jaw (it descends as the jaw opens, partly behind the
    lower lip), in the shadow of the upper jaw;
  * the upper teeth: a band hanging from the upper lip, tapering and darkening towards the
    corners (the dental arch turns away from the camera).

Everything is clipped to the anti-aliased inner-lip polygon, so teeth can never float over the
lips, and blended with strength `alpha` (the renderer fades it in as the lips part beyond the
source's own opening). Colours come from the avatar's reference colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_TEETH = (232.0, 226.0, 212.0)
DEFAULT_LIPS = (170.0, 90.0, 90.0)


@dataclass(frozen=True)
class MouthStyle:
    """Colours (RGB 0..255) and proportions (fractions of the resting mouth width)."""

    teeth: tuple[float, float, float] = DEFAULT_TEETH
    cavity: tuple[float, float, float] = (52.0, 20.0, 22.0)
    tongue: tuple[float, float, float] = (150.0, 64.0, 70.0)
    upper_teeth: float = 0.13      # height of the visible upper incisors
    lower_teeth: float = 0.07


def mouth_style(reference: dict) -> MouthStyle:
    """Adapt the colours to the avatar: teeth as measured (or skin-lit), cavity/tongue from the lips."""
    teeth = tuple(float(v) for v in reference.get("teeth_rgb", DEFAULT_TEETH))
    skin = np.asarray(reference.get("skin_rgb", (200.0, 160.0, 140.0)), np.float64)
    light = float(np.clip((skin @ [0.299, 0.587, 0.114]) / 180.0, 0.4, 1.2))   # scene brightness
    cavity = tuple(float(v) for v in np.clip(np.array(MouthStyle.cavity) * light, 0, 255))
    tongue = tuple(float(v) for v in np.clip(np.array(MouthStyle.tongue) * light, 0, 255))
    return MouthStyle(teeth=teeth, cavity=cavity, tongue=tongue)


def lip_box(upper: np.ndarray, lower: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Pixel box (x0, y0, x1, y1) around two lip contours, clipped to the image; None if empty."""
    h, w = shape
    pts = np.concatenate([upper, lower])
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 2, [w, h])
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def lip_mask(upper: np.ndarray, lower: np.ndarray, shape: tuple[int, int], box) -> np.ndarray:
    """Anti-aliased coverage (float32 0..1) of the inner-lip polygon inside `box` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    poly = np.concatenate([upper, lower[::-1][1:-1]]) - [x0, y0]
    canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(canvas, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return canvas.astype(np.float32) / 255.0


def _along(contour: np.ndarray, xs: np.ndarray) -> np.ndarray:
    order = np.argsort(contour[:, 0])
    return np.interp(xs, contour[order, 0], contour[order, 1])


def interior(upper: np.ndarray, lower: np.ndarray, box, width: float, jaw_drop: float,
             style: MouthStyle) -> np.ndarray:
    """RGB float32 (h, w, 3) image of the mouth interior over `box`.

    `upper`, `lower`: inner-lip contours (corner to corner, same end points) in image pixels;
    `width`: the resting mouth width (sets the teeth size); `jaw_drop`: how far (px) the jaw has
    opened, which carries the lower teeth down."""
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, dtype=np.float32)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    yu, yl = _along(upper, xs)[None], _along(lower, xs)[None]
    left, right = upper[:, 0].min(), upper[:, 0].max()
    u = np.clip((xs[None] - (left + right) / 2) / max((right - left) / 2, 1.0), -1, 1)
    arch = np.sqrt(np.clip(1 - u * u, 0, 1))                  # teeth recede towards the corners
    gap = np.maximum(yl - yu, 1e-3)
    v = np.clip((ys - yu) / gap, 0, 1)

    light = 0.55 + 0.45 * (2 * v - 1) ** 2                     # inner lips catch some light
    out = np.asarray(style.cavity, np.float32) * (light * (0.6 + 0.4 * arch))[..., None]

    mid_gap = float(np.max(yl - yu))
    tongue_top = float(np.max(yl)) - 0.45 * mid_gap
    ty = (ys - tongue_top) / max(0.45 * mid_gap, 1.0)
    tongue = np.clip(1.0 - (u / 0.62) ** 2 - np.clip(1 - ty, 0, None) ** 2, 0, 1) * (ty > 0)
    t_rgb = np.asarray(style.tongue, np.float32) * (0.5 + 0.4 * tongue[..., None])
    out = out * (1 - tongue[..., None] * 0.7) + t_rgb * tongue[..., None] * 0.7

    hu = style.upper_teeth * width * arch
    hl = style.lower_teeth * width * arch
    lower_top = yu + hu * 0.75 + jaw_drop                        # carried down by the jaw, behind the lip
    low = _band(ys, lower_top, lower_top + hl)
    dim = 0.45 + 0.3 * arch                                       # in the upper jaw's shadow
    low_rgb = np.asarray(style.teeth, np.float32) * 0.8 + np.asarray(style.cavity, np.float32) * 0.2
    out = _paint(out, low, low_rgb, dim)
    up = _band(ys, yu - 2.0, yu + hu)
    shade = (0.5 + 0.5 * arch) * (0.8 + 0.2 * np.clip((ys - yu) / 1.5, 0, 1))   # upper lip's shadow
    return _paint(out, up, style.teeth, shade)


def _band(ys: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Coverage 0..1 of rows between `top` and `bottom` with one-pixel soft edges."""
    return np.clip(ys - top + 0.5, 0, 1) * np.clip(bottom - ys + 0.5, 0, 1)


def _paint(out: np.ndarray, cover: np.ndarray, rgb, shade) -> np.ndarray:
    colour = np.asarray(rgb, np.float32) * np.asarray(shade, np.float32)[..., None]
    return out * (1 - cover[..., None]) + colour * cover[..., None]


def paint_seam(image: np.ndarray, upper: np.ndarray, lower: np.ndarray, lip_rgb, strength: float) -> None:
    """Lips pressed closer than in the source: what is left of the source's mouth opening (squashed
    teeth, dark corners) becomes the dim line where the lips meet."""
    if strength <= 0.0:
        return
    upper, lower = _stretch_corners(upper, 2.0), _stretch_corners(lower, 2.0)   # dark corners too
    box = lip_box(upper, lower, image.shape[:2])
    if box is None:
        return
    x0, y0, x1, y1 = box
    cover = lip_mask(upper, lower, image.shape[:2], box) * (0.6 * float(strength))
    seam = np.asarray(lip_rgb, np.float32) * [0.6, 0.45, 0.45]
    patch = image[y0:y1, x0:x1].astype(np.float32)
    patch += (seam - patch) * cover[..., None]
    image[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)


def _stretch_corners(contour: np.ndarray, px: float) -> np.ndarray:
    """Move both end points `px` further out along the corner-to-corner axis."""
    out = np.array(contour, np.float64)
    axis = out[-1] - out[0]
    axis /= max(float(np.linalg.norm(axis)), 1e-6)
    out[0] -= px * axis
    out[-1] += px * axis
    return out


def paint_mouth(image: np.ndarray, upper: np.ndarray, lower: np.ndarray, width: float,
                jaw_drop: float, alpha: float, style: MouthStyle) -> None:
    """Blend the interior into `image` (H, W, 3 uint8, modified in place) inside the lips."""
    if alpha <= 0.0:
        return
    box = lip_box(upper, lower, image.shape[:2])
    if box is None:
        return
    x0, y0, x1, y1 = box
    cover = lip_mask(upper, lower, image.shape[:2], box) * float(alpha)
    if not cover.any():
        return
    inside = interior(upper, lower, box, width, jaw_drop, MouthStyle() if style is None else style)
    patch = image[y0:y1, x0:x1].astype(np.float32)
    patch += (inside - patch) * cover[..., None]
    image[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)
