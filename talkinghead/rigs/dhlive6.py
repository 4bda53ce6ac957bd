"""Rig `dhlive6`: the six numbers DH_live's Audio2Feature predicts per 40 ms frame.

They mean different things in DH_live's two generations (spec-dhlive §3.6), so the channels get
neutral names and the two decoders live here:

* mini 2.0: weights of six per-vertex displacement bases (rows 0-5 of `bs_texture_halfFace.png`)
  applied to the mouth wrap mesh. Roughly: 0 jaw / lower lip down, 1 lower lip down and lips
  forward, 2 vertical opening, 3 upper lip raise, 4 lateral lower lip, 5 upper lip down.
  `lip_guard` is the original's per-frame check that keeps the lips from crossing.
* v1: coefficients of the first six PCA components of a 15x30 BGR mouth image
  (`pca_mouth_images`).
"""

from __future__ import annotations

import numpy as np

from ..errors import MotionFileError

RIG = "dhlive6"
DHLIVE6_CHANNELS: tuple[str, ...] = tuple(f"dhlive{i}" for i in range(6))

UPPER_LIP_VERTEX = 4  # wrap vertex of MediaPipe landmark 13 (inner upper lip centre)
LOWER_LIP_VERTEX = 5  # wrap vertex of MediaPipe landmark 14 (inner lower lip centre)
MAX_OPENING = -45.0   # canonical units; a y gap below this counts as "too open"
WRAP_VERTICES = 209   # texture columns that carry displacements


def _check_weights(weights: np.ndarray) -> np.ndarray:
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != 6:
        raise MotionFileError(f"dhlive6 weights must be T x 6, got shape {weights.shape}")
    return weights


# -- mini 2.0: displacement bases -------------------------------------------------------------

def decode_bases(texture: np.ndarray) -> np.ndarray:
    """(6, 209, 3) float64 displacements per unit weight from the 16x256 RGB(A) uint8 texture."""
    texture = np.asarray(texture)
    if texture.ndim != 3 or texture.shape[0] < 6 or texture.shape[1] < WRAP_VERTICES \
            or texture.shape[2] < 3 or texture.dtype != np.uint8:
        raise MotionFileError(f"basis texture must be uint8 rows x >=209 x RGB(A), got "
                              f"{texture.shape} {texture.dtype}")
    return texture[:6, :WRAP_VERTICES, :3].astype(np.float64) / 255.0 * 2.0 - 1.0


def lip_gap_rates(bases: np.ndarray) -> np.ndarray:
    """(6,) change of (upper-lip y - lower-lip y) per unit of each weight (y down, so < 0 opens)."""
    return bases[:, UPPER_LIP_VERTEX, 1] - bases[:, LOWER_LIP_VERTEX, 1]


def lip_gap(weights: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """(T,) the original's `y_bias`: > 0 means the lips would cross."""
    return _check_weights(weights).astype(np.float64) @ np.asarray(rates, np.float64)


def lip_guard(weights: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """DH_live mini's offline guard (spec §4.4): a frame whose lips would cross or open absurdly
    is replaced by the mean of itself and the last frame that passed (zeros at first).

    It looks only at the relative lip displacement, not at absolute positions, as the original.
    """
    weights = _check_weights(weights)
    gaps = lip_gap(weights, rates)
    out = np.empty_like(weights, dtype=np.float32)
    last_valid = np.zeros(6, np.float32)
    for t, (w, gap) in enumerate(zip(weights.astype(np.float32), gaps)):
        if gap > 0.0 or gap < MAX_OPENING:
            out[t] = 0.5 * w + 0.5 * last_valid
        else:
            out[t] = w
            last_valid = w
    return out


# -- v1: PCA mouth images ---------------------------------------------------------------------

MOUTH_SHAPE = (15, 30, 3)


def symmetrize_pca(mean: np.ndarray, components: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left/right-symmetric mean and first six components, as the v1 runtime builds them: the left
    half becomes the average of itself and the mirrored right half, mirrored back to the right."""
    stacked = np.concatenate([np.asarray(mean, np.float64)[None],
                              np.asarray(components, np.float64)[:6]])
    images = stacked.reshape(-1, *MOUTH_SHAPE).copy()
    half = MOUTH_SHAPE[1] // 2
    left = (images[:, :, :half] + images[:, :, ::-1][:, :, :half]) / 2.0
    images[:, :, :half] = left
    images[:, :, half:] = left[:, :, ::-1]
    flat = images.reshape(len(stacked), -1)
    return flat[0], flat[1:]


def pca_mouth_images(coeffs: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(T, 15, 30, 3) uint8 BGR mouth images: clip(coeffs . components + mean, 0, 255), truncated."""
    coeffs = _check_weights(coeffs).astype(np.float64)
    pixels = coeffs @ np.asarray(components, np.float64)[:6] + np.asarray(mean, np.float64)
    return np.clip(pixels, 0, 255).astype(np.uint8).reshape(len(coeffs), *MOUTH_SHAPE)
