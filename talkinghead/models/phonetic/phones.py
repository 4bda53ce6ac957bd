"""Timed phones: what TTS engines and aligners hand to the phonetic motion model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phone:
    """One phone from `start` to `end` seconds.

    `symbol` is written in `alphabet`: "arpabet" (CMUdict/pocketsphinx, e.g. "AA", "P", "SIL")
    or "espeak" (espeak-ng phoneme mnemonics, e.g. "@", "oU", "p", "_:" for pauses).
    """

    symbol: str
    start: float
    end: float
    alphabet: str = "arpabet"

    @property
    def duration(self) -> float:
        return self.end - self.start
