"""How fast corpora build and read: synthetic utterances/s, hours of audio per minute, reader
and augmentation speed.

Run as a script for a table: `python benchmarks/bench_corpus.py [hours] [workers]`.
"""

from __future__ import annotations

import sys
import tempfile
import time

from talkinghead.corpus import Augmenter, iter_corpus
from talkinghead.corpus.augment import AugmentConfig
from talkinghead.corpus.synth import build_synth_corpus


def bench_corpus(hours: float = 0.25, workers: int = 2) -> dict:
    """Build `hours` of synthetic corpus with `workers` processes, then read and augment it."""
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as out:
        start = time.perf_counter()
        manifest = build_synth_corpus(out, hours, workers=workers)
        wall = time.perf_counter() - start
        start = time.perf_counter()
        utterances = list(iter_corpus(out))
        read = time.perf_counter() - start
        everything = AugmentConfig(speed_p=1, pitch_p=1, reverb_p=1, noise_p=1, bandlimit_p=1, codec_p=1, gain_p=1)
        augment = Augmenter(everything, seed=0)
        sample = utterances[:100]
        start = time.perf_counter()
        for u in sample:
            augment(u.audio, u.motion)
        augmented = time.perf_counter() - start
    audio_s = sum(u.seconds for u in sample)
    report = manifest["report"]
    return {
        "synth_workers": workers,
        "synth_utterances": report["utterances"],
        "synth_hours": report["hours"],
        "synth_wall_s": round(wall, 1),
        "synth_utterances_per_s": round(report["utterances"] / wall, 1),
        "synth_audio_hours_per_min": round(report["hours"] / (wall / 60), 2),
        "synth_voices": report["speakers"],
        "synth_failed": report["failed"],
        "read_utterances_per_s": round(len(utterances) / read, 1),
        "augment_all_stages_x_realtime": round(audio_s / augmented, 1),
    }


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:3]]
    figures = bench_corpus(*(args[:1] or [0.25]), *([int(args[1])] if len(args) > 1 else []))
    for name, value in figures.items():
        print(f"{name:32s} {value}")
