"""What a TTS engine hands back, and the small contract an engine implements.

Every engine returns 16 kHz float32 mono audio, the rate the motion models consume, so the
caller never resamples. Engines that know their phone timings (espeak) return them; the
others return no phones and leave timing to the aligner.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import soxr

from ...errors import TTSError
from ...models.base import SAMPLE_RATE
from ...models.phonetic.phones import Phone

SILENCE = "_"


@dataclass
class Speech:
    """Synthesised speech: `audio` (float32, mono, `sample_rate` Hz) and its timed `phones`."""

    audio: np.ndarray
    phones: list[Phone] = field(default_factory=list)
    text: str = ""
    voice: str = ""
    engine: str = ""
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


@runtime_checkable
class TTSEngine(Protocol):
    """A speech synthesiser. `synthesize` gets one sentence and raises TTSError on bad voices."""

    name: str
    default_voice: str

    def available(self) -> bool:
        """True when the engine can run on this machine (library or binary present)."""

    def voices(self) -> list[str]:
        """Voice names `synthesize` accepts."""

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> Speech:
        """Speak `text` at `rate` words per minute and `pitch` 0-100 (engines may ignore it)."""


def unknown_voice(what: str, voice: str, known: list[str]) -> TTSError:
    """An error naming the bad voice and the closest known ones, so typos are one glance away."""
    close = difflib.get_close_matches(voice.lower(), [k.lower() for k in known], n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(known)[:12])}"
    return TTSError(f"unknown {what} {voice!r}; {hint}")


def to_model_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at SAMPLE_RATE: int16 is scaled to [-1, 1), other rates go through soxr."""
    if audio.dtype == np.int16:
        audio = audio.astype(np.float32) / 32768.0
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if sample_rate != SAMPLE_RATE and len(audio):
        audio = soxr.resample(audio, sample_rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)
