"""Idle life: blinks and small head motion, so a talking face does not look frozen.

Everything is a function of the seed and the absolute frame index (plus, for nods, a causal
filter of the speech loudness), so a clip rendered in one go and the same clip streamed in
chunks get identical blinks and head motion.

* Blinks: intervals drawn like a Poisson process with a refractory gap (about one every 4 s, never
  two within 1.2 s), each 150-250 ms long, closing faster than it opens.
* Head: a few slow sinusoids with seeded frequencies and phases (smooth, aperiodic-looking noise,
  a few hundredths of a radian), plus a slight downward nod when speech gets louder.
"""

from __future__ import annotations

import numpy as np

from ..base import SAMPLE_RATE

BLINK_GAP = 1.2          # seconds: shortest interval between blinks
BLINK_MEAN = 4.0         # seconds: mean interval
BLINK_LENGTH = (0.15, 0.25)
HEAD_AMPLITUDE = (0.03, 0.04, 0.015)   # pitch, yaw, roll (radians, per-axis noise scale)
NOD_GAIN = 0.04                        # radians of pitch per unit of loudness rise


def blink_times(seed: int, until: float) -> list[tuple[float, float]]:
    """(start, length) of every blink before `until` seconds; a prefix of the same seeded list."""
    rng = np.random.default_rng([seed, 1])
    out, t = [], rng.uniform(0.5, 2.5)
    while t < until:
        out.append((t, rng.uniform(*BLINK_LENGTH)))
        t += BLINK_GAP + rng.exponential(BLINK_MEAN - BLINK_GAP)
    return out


def blink_curve(n_frames: int, seed: int = 0, fps: float = 25.0, start: int = 0) -> np.ndarray:
    """eyeBlink weight (0 open .. 1 shut) for frames start..start+n_frames-1."""
    times = (start + np.arange(n_frames)) / fps
    out = np.zeros(n_frames)
    if n_frames == 0:
        return out
    for t0, length in blink_times(seed, times[-1] + 1.0):
        close = 0.4 * length                     # lids fall fast and rise slowly
        u = times - t0
        shut = np.where(u < close, u / close, 1.0 - (u - close) / (length - close))
        out = np.maximum(out, np.where((u >= 0) & (u <= length), np.sin(np.pi / 2 * np.clip(shut, 0, 1)), 0))
    return out


def loudness(audio: np.ndarray, n_frames: int, start: int = 0, fps: float = 25.0) -> np.ndarray:
    """Per-frame loudness in [0, 1] (RMS over the 40 ms around each frame time, -60..-10 dBFS)."""
    half = int(SAMPLE_RATE / fps / 2)
    out = np.zeros(n_frames)
    for k in range(n_frames):
        centre = round((start + k) * SAMPLE_RATE / fps)
        window = audio[max(0, centre - half):max(0, centre + half)]  # frames before 0 hear nothing
        if len(window):
            db = 10 * np.log10(np.mean(window.astype(np.float64) ** 2) + 1e-12)
            out[k] = np.clip((db + 60.0) / 50.0, 0.0, 1.0)
    return out


class HeadMotion:
    """Seeded head rotation (pitch, yaw, roll); call it on consecutive frames' loudness."""

    def __init__(self, seed: int = 0, fps: float = 25.0) -> None:
        rng = np.random.default_rng([seed, 2])
        self.freqs = rng.uniform(0.05, 0.5, size=(3, 4))
        self.phases = rng.uniform(0, 2 * np.pi, size=(3, 4))
        self.weights = rng.uniform(0.5, 1.0, size=(3, 4))
        self.weights /= np.sqrt((self.weights ** 2).sum(axis=1, keepdims=True) / 2)
        self.fps = fps
        self.frame = 0
        self._fast = self._slow = 0.0

    def __call__(self, loud: np.ndarray) -> np.ndarray:
        """(n, 3) radians for the next n frames, given their loudness in [0, 1]."""
        n = len(loud)
        t = (self.frame + np.arange(n)) / self.fps
        waves = np.sin(2 * np.pi * self.freqs[None] * t[:, None, None] + self.phases[None])
        head = (waves * self.weights[None]).sum(axis=2) * np.asarray(HEAD_AMPLITUDE)
        head[:, 0] += NOD_GAIN * self._nods(loud)
        self.frame += n
        return head

    def _nods(self, loud: np.ndarray) -> np.ndarray:
        """Fast minus slow causal average of loudness: positive when speech swells."""
        out = np.empty(len(loud))
        a_fast, a_slow = 1 - np.exp(-1 / (0.15 * self.fps)), 1 - np.exp(-1 / (1.0 * self.fps))
        for k, x in enumerate(loud):
            self._fast += a_fast * (x - self._fast)
            self._slow += a_slow * (x - self._slow)
            out[k] = max(0.0, self._fast - self._slow)
        return out
