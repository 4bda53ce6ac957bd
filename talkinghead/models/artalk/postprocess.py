"""ARTalk's output post-processing and frame count, batch and streaming forms that agree.

The runtime smooths the raw (T, 106) motion with Savitzky-Golay filters (scipy, mode 'interp'):
window 5 / order 2 on every dim, then window 9 / order 3 on the global rotation (dims 100-102)
computed from the *unsmoothed* input. Then it crops to `clip_length`, zeroes the jaw's y/z
rotation (dims 104-105) and, with `fix_pose`, the global rotation.

Interior frames of a Savitzky-Golay filter depend only on their +-4 neighbours and the edges
on the first/last 9 frames, so `StreamingSmoother` reproduces the batch result bit for bit with
a delay of 4 frames.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import savgol_filter

from ...errors import AudioError

SAMPLE_RATE = 16000
FPS = 25.0
CLIP_LENGTH = 750  # the original runtime's crop (30 s)
POSE_DIMS = slice(100, 103)
ZEROED_DIMS = slice(104, 106)
MIN_FRAMES = 9
_HALF = MIN_FRAMES // 2


def artalk_frame_count(num_samples: int) -> int:
    """ceil(n / 16000 * 25.0) in IEEE double, in that order (n = 4480 gives 8, not 7)."""
    return math.ceil(num_samples / SAMPLE_RATE * FPS)


def savgol_smooth(raw: np.ndarray) -> np.ndarray:
    """(T, 106) float32 -> smoothed (T, 106); T >= 9."""
    raw = np.asarray(raw, dtype=np.float32)
    if raw.shape[0] < MIN_FRAMES:
        raise AudioError(f"ARTalk smoothing needs at least {MIN_FRAMES} frames "
                         f"({MIN_FRAMES / FPS:.2f} s of audio), got {raw.shape[0]}")
    out = savgol_filter(raw, 5, 2, axis=0)
    out[:, POSE_DIMS] = savgol_filter(raw[:, POSE_DIMS], 9, 3, axis=0)
    return out


def finish(frames: np.ndarray, fix_pose: bool = False) -> np.ndarray:
    """The per-frame part: zero dims 104-105 (and 100-102 with `fix_pose`)."""
    frames = frames.copy()
    if fix_pose:
        frames[:, POSE_DIMS] = 0
    frames[:, ZEROED_DIMS] = 0
    return frames


def postprocess(raw: np.ndarray, clip_length: int | None = CLIP_LENGTH,
                fix_pose: bool = False) -> np.ndarray:
    """The runtime's order: smooth, crop to `clip_length` (None: no crop), zero dims."""
    smoothed = savgol_smooth(raw)
    if clip_length is not None:
        smoothed = smoothed[:clip_length]
    return finish(smoothed, fix_pose)


class StreamingSmoother:
    """Feed raw frames as they are decoded; get post-processed frames 4 frames later."""

    def __init__(self, clip_length: int | None = None, fix_pose: bool = False) -> None:
        self.clip_length = clip_length
        self.fix_pose = fix_pose
        self.raw = np.zeros((0, 106), np.float32)
        self.emitted = 0

    def push(self, frames: np.ndarray) -> np.ndarray:
        self.raw = np.concatenate([self.raw, np.asarray(frames, np.float32)])
        return self._emit(len(self.raw) - _HALF, final=False)

    def flush(self) -> np.ndarray:
        return self._emit(len(self.raw), final=True)

    def _emit(self, stop: int, final: bool) -> np.ndarray:
        n = len(self.raw)
        if self.clip_length is not None:
            stop = min(stop, self.clip_length)
        if stop <= self.emitted or (n < MIN_FRAMES and not final):
            return np.zeros((0, self.raw.shape[1]), np.float32)
        # Enough context that every frame in [emitted, stop) sees what it saw in the batch call.
        start = max(0, min(self.emitted - _HALF, n - MIN_FRAMES))
        smoothed = savgol_smooth(self.raw[start:n])[self.emitted - start:stop - start]
        self.emitted = stop
        return finish(smoothed, self.fix_pose)
