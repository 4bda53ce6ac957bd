"""How fast audio comes in and video goes out: load/stream speed (x real time) and mp4 frames/s.

Run as a script for a table: `python benchmarks/bench_io.py`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from talkinghead.audio.io import load_audio, stream_audio
from talkinghead.sinks.mp4 import Mp4Writer

from timing import best_of

AUDIO_SECONDS = 60.0
SOURCE_RATE = 44100
FRAMES, SIZE, FPS = 500, 512, 25


def _speech_like(seconds: float, sr: int) -> np.ndarray:
    """Stereo harmonics under a syllable-rate envelope: costs the codecs what speech costs."""
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.7 * t)) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8)) * (1 + np.sin(2 * np.pi * 4 * t)) ** 2 / 8
    mono = 0.3 * voiced + 0.005 * np.random.default_rng(0).standard_normal(len(t))
    return np.stack([mono, 0.8 * mono], axis=1).astype(np.float32)


def _frame(i: int) -> np.ndarray:
    """A textured background with a moving square, so the encoder has real work per frame."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    img = np.stack([(x + 2 * i) % 256, (y + i) % 256, ((x + y) // 2) % 256], axis=-1).astype(np.uint8)
    left = (5 * i) % (SIZE - 96)
    img[200:296, left:left + 96] = (240, 90, 30)
    return img


def _write_sources(root: Path) -> dict[str, Path]:
    audio = _speech_like(AUDIO_SECONDS, SOURCE_RATE)
    paths = {ext: root / f"speech.{ext}" for ext in ("wav", "flac", "mp3")}
    for path in paths.values():
        sf.write(path, audio, SOURCE_RATE)
    paths["mp4"] = root / "speech.mp4"
    with Mp4Writer(paths["mp4"], fps=FPS, size=(64, 64), sample_rate=SOURCE_RATE) as writer:
        writer.write_audio(audio.mean(axis=1))
        for _ in range(int(AUDIO_SECONDS * FPS)):
            writer.write_frame(np.zeros((64, 64, 3), np.uint8))
    return paths


def _bench_writer(root: Path, with_audio: bool) -> float:
    frames = [_frame(i) for i in range(50)]  # precomputed so only encoding is timed
    audio = _speech_like(FRAMES / FPS, 16000)[:, 0]
    hop = 16000 // FPS
    start = time.perf_counter()
    with Mp4Writer(root / "bench.mp4", fps=FPS, size=(SIZE, SIZE)) as writer:
        for i in range(FRAMES):
            writer.write_frame(frames[i % len(frames)])
            if with_audio:
                writer.write_audio(audio[i * hop:(i + 1) * hop])
    return FRAMES / (time.perf_counter() - start)


def bench_io() -> dict:
    """Figures on this machine: audio decode speed per format, mp4 writing frames/s."""
    results: dict = {"audio_seconds": AUDIO_SECONDS, "source": f"{SOURCE_RATE} Hz stereo -> 16 kHz mono"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _write_sources(root)
        for ext, path in paths.items():
            results[f"load_{ext}_x_realtime"] = AUDIO_SECONDS / best_of(lambda p=path: load_audio(p))
        results["stream_wav_x_realtime"] = AUDIO_SECONDS / best_of(
            lambda: sum(len(c) for c in stream_audio(paths["wav"], chunk_seconds=1.0)))
        results[f"mp4_{SIZE}px_fps_with_audio"] = _bench_writer(root, with_audio=True)
        results[f"mp4_{SIZE}px_fps_video_only"] = _bench_writer(root, with_audio=False)
    return results


if __name__ == "__main__":
    figures = bench_io()
    print(f"{'measure':32s} value")
    for key, value in figures.items():
        print(f"{key:32s} {value:.0f}" if isinstance(value, float) else f"{key:32s} {value}")
