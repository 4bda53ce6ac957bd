"""What every motion model offers: a batch call and a streaming call that agree.

`predict(audio)` turns 16 kHz mono float32 audio into a `Motion` at 25 fps covering the whole
audio (ceil(seconds * 25) frames). `stream()` returns a `MotionStream`: feed audio chunks of any
size, get back the frames that are ready, `flush()` at the end. Offline use is the streaming
path run to the end, so the two never disagree.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..motion import Motion

SAMPLE_RATE = 16000
FPS = 25.0


def frame_count(num_samples: int, sample_rate: int = SAMPLE_RATE, fps: float = FPS) -> int:
    """Frames that cover `num_samples` of audio: ceil(seconds * fps), computed in integers."""
    return -(-num_samples * int(fps) // sample_rate) if float(fps).is_integer() else \
        int(np.ceil(num_samples / sample_rate * fps))


@runtime_checkable
class MotionStream(Protocol):
    def feed(self, audio: np.ndarray) -> np.ndarray:
        """Take a chunk of 16 kHz float32 audio; return the (n, C) frames now final."""

    def flush(self) -> np.ndarray:
        """No more audio: return the remaining frames."""


@runtime_checkable
class MotionModel(Protocol):
    rig: str
    channels: tuple[str, ...]

    def predict(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Motion:
        """Audio -> Motion for the whole clip."""

    def stream(self) -> MotionStream:
        """A fresh streaming state."""
