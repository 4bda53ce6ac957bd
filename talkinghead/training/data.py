"""Training data: corpus utterances -> in-memory features -> random windows of batches.

Corpora are read once through `talkinghead.corpus.shards.iter_corpus` (shard format v1, see
docs/training.md) and kept in memory as compact arrays: fbank pairs (steps, 160) float16 and
motion (T, 55) float32. A few hours of speech is a few hundred MB, and sampling windows from
memory is what keeps a 2-core machine busy with the network instead of with decoding tars.

Audio features are aligned the way `LSTMMotionModel` runs at inference (16 kHz "v1" front end):
the audio is padded with silence at the end, 80-bin fbank frames every 20 ms are paired (frames
2t, 2t+1 -> step t), so step t hears audio [40t - 15, 40t + 55) ms (kaldi frames are centred). Motion frame t is the target of
step t + delay; the tasks handle the delay.

Validation is held aside by hashing the key, so the split is the same for every run, trainer
and machine, and an utterance never moves between train and validation when a corpus grows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..corpus.shards import VAL_FRACTION, iter_corpus, is_validation
from ..errors import TalkingHeadError
from ..features.fbank import fbank
from ..models.base import SAMPLE_RATE
from ..motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES, HEAD_ROTATION

SAMPLES_PER_STEP = 640   # one motion frame, one LSTM step
PAIR_DIM = 160           # two 80-bin fbank frames
MARGIN_STEPS = 6         # silence after the clip so the delayed steps of its last frames exist
NUM_CHANNELS = len(ARKIT52_CHANNELS)
HEAD_COLS = [ARKIT52_CHANNELS.index(c) for c in HEAD_ROTATION]
JAW_OPEN = ARKIT52_CHANNELS.index("jawOpen")
LIP_COLS = [i for i, c in enumerate(ARKIT52_CHANNELS) if c.startswith(("jaw", "mouth"))]


class DataError(TalkingHeadError):
    """A corpus cannot be used for training (none given, empty, wrong motion shape)."""


class UtteranceLike(Protocol):
    key: str
    audio: np.ndarray
    motion: np.ndarray
    meta: dict


Augment = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (audio, motion)


# -- reading corpora ---------------------------------------------------------------------------

def read_corpus(dirs: Sequence[str | Path]) -> Iterator[UtteranceLike]:
    """Utterances of every corpus in `dirs`, streamed shard by shard by the corpus reader."""
    if not dirs:
        raise DataError("no corpus given: pass --data DIR (a folder with manifest.json)")
    return iter_corpus([str(d) for d in dirs])


def is_held_aside(key: str, fraction: float = VAL_FRACTION) -> bool:
    """True for the ~`fraction` of keys in the validation split (the corpus's key hash)."""
    return is_validation(key, fraction)


# -- features ----------------------------------------------------------------------------------

def fbank_pairs(audio: np.ndarray, steps: int) -> np.ndarray:
    """(steps, 160) float32: fbank frames 2t, 2t+1 of the clip padded with silence at the end."""
    need = SAMPLES_PER_STEP * (steps - 1) + 880   # window end of frame 2(steps-1)+1
    padded = np.concatenate([audio.astype(np.float32), np.zeros(max(0, need - len(audio)), np.float32)])
    frames = fbank(padded, SAMPLE_RATE)
    if len(frames) < 2 * steps:
        raise DataError(f"fbank gave {len(frames)} frames for {steps} steps")
    return frames[: 2 * steps].reshape(steps, PAIR_DIM)


@dataclass
class Clip:
    """One utterance in memory: `pairs` (T + MARGIN_STEPS, 160) float16, `motion` (T, 55)."""

    key: str
    pairs: np.ndarray
    motion: np.ndarray
    head_valid: bool  # False when the targets carry no head rotation (all zeros)

    @property
    def frames(self) -> int:
        return len(self.motion)


def make_clip(key: str, audio: np.ndarray, motion: np.ndarray) -> Clip:
    motion = np.asarray(motion, np.float32)
    if motion.ndim != 2 or motion.shape[1] != NUM_CHANNELS:
        raise DataError(f"{key}: motion must be (T, {NUM_CHANNELS}) arkit52, got {motion.shape}")
    pairs = fbank_pairs(np.asarray(audio, np.float32), len(motion) + MARGIN_STEPS)
    head_valid = bool(np.any(motion[:, HEAD_COLS] != 0))
    return Clip(key, pairs.astype(np.float16), motion, head_valid)


@dataclass
class ClipSet:
    """Train clips (each with its augmented copies) and clean validation clips."""

    train: list[list[Clip]]  # train[i] = [clean, augmented copy 1, ...]
    val: list[Clip]

    @property
    def train_clean(self) -> list[Clip]:
        return [copies[0] for copies in self.train]

    def describe(self) -> dict[str, Any]:
        frames = sum(c[0].frames for c in self.train)
        return {"train_utterances": len(self.train), "val_utterances": len(self.val),
                "train_seconds": round(frames / 25.0, 1),
                "augmented_copies": len(self.train[0]) - 1 if self.train else 0}


def load_clips(utterances: Iterable[UtteranceLike], val_fraction: float = VAL_FRACTION,
               augment: Augment | None = None, copies: int = 0,
               max_utterances: int | None = None, min_frames: int = 8) -> ClipSet:
    """Features of every utterance; `copies` augmented versions of each training clip.

    Augmented copies may differ in length from the clean one (speed changes resample the
    motion with the audio); each copy is its own aligned (audio, motion) pair."""
    train: list[list[Clip]] = []
    val: list[Clip] = []
    for n, utt in enumerate(utterances):
        if max_utterances is not None and n >= max_utterances:
            break
        if len(utt.motion) < min_frames:
            continue
        if is_held_aside(utt.key, val_fraction):
            val.append(make_clip(utt.key, utt.audio, utt.motion))
            continue
        group = [make_clip(utt.key, utt.audio, utt.motion)]
        for _ in range(copies if augment is not None else 0):
            audio, motion = augment(np.asarray(utt.audio, np.float32), np.asarray(utt.motion, np.float32))
            group.append(make_clip(utt.key, audio, motion))
        train.append(group)
    if not train:
        raise DataError("no training utterances (corpus empty, or all held aside)")
    return ClipSet(train, val)


# -- augmentation ------------------------------------------------------------------------------

def default_augment(seed: int = 0, overrides: dict[str, Any] | None = None) -> Augment:
    """The corpus package's augmenter (speed with motion resampled, pitch, reverb, noise, band
    limits, codecs, gain), seeded: `augment(audio, motion) -> (audio, motion)`. `overrides`
    replaces fields of its AugmentConfig (e.g. {"reverb_p": 0.6}); an unknown name is an error."""
    from ..corpus.augment import AugmentConfig, Augmenter
    overrides = dict(overrides or {})
    known = {f.name for f in fields(AugmentConfig)}
    if set(overrides) - known:
        raise DataError(f"unknown augment keys {sorted(set(overrides) - known)}; known: {sorted(known)}")
    ranges = {k: tuple(v) for k, v in overrides.items() if isinstance(v, list)}  # JSON lists
    return Augmenter(AugmentConfig(**{**overrides, **ranges}), seed=seed)


# -- batches -----------------------------------------------------------------------------------

def sample_windows(clips: Sequence[Sequence[Clip]], rng: np.random.Generator, batch: int,
                   steps: int, delay: int) -> dict[str, np.ndarray]:
    """A batch of aligned windows for a frame-rate model with output delay `delay`.

    x (B, 2*steps, 80) fbank frames; y (B, steps, 55) targets of output rows; mask (B, steps,
    55) 0 where a row has no target (its frame is before the clip or after it, or the row is
    a head-rotation channel of a clip without head motion).
    """
    x = np.zeros((batch, steps, PAIR_DIM), np.float32)
    y = np.zeros((batch, steps, NUM_CHANNELS), np.float32)
    mask = np.zeros((batch, steps, NUM_CHANNELS), np.float32)
    for b in range(batch):
        group = clips[rng.integers(len(clips))]
        clip = group[rng.integers(len(group))]
        total = len(clip.pairs)
        start = int(rng.integers(0, max(1, total - steps + 1)))
        seg = clip.pairs[start:start + steps]
        x[b, :len(seg)] = seg
        frames = np.arange(start, start + steps) - delay
        ok = (frames >= 0) & (frames < clip.frames)
        y[b, ok] = clip.motion[frames[ok]]
        mask[b, ok] = 1.0
        if not clip.head_valid:
            mask[b, :, HEAD_COLS] = 0.0
    return {"x": x.reshape(batch, 2 * steps, PAIR_DIM // 2), "y": y, "mask": mask}


def motion_windows(clips: Sequence[Sequence[Clip]], rng: np.random.Generator, batch: int,
                   frames: int) -> dict[str, np.ndarray]:
    """Motion-only batch for the codec: prev (B, T, 55), this (B, T, 55), raw units.

    The window starts anywhere in the clip; frames before the clip are raw zeros (as the first
    window at inference sees), frames after it repeat the last frame (the speaker at rest).
    """
    prev = np.zeros((batch, frames, NUM_CHANNELS), np.float32)
    this = np.zeros((batch, frames, NUM_CHANNELS), np.float32)
    for b in range(batch):
        clip = clips[rng.integers(len(clips))][0]
        start = int(rng.integers(0, max(1, clip.frames - frames // 2)))
        prev[b], this[b] = window_pair(clip.motion, start, frames)
    return {"prev": prev, "this": this}


def audio_motion_windows(clips: Sequence[Sequence[Clip]], rng: np.random.Generator, batch: int,
                         frames: int, style_frames: int) -> dict[str, np.ndarray]:
    """Batch for the windowed generator: audio pairs of this window, prev/this motion, style.

    pairs (B, T, 160) of a random copy (clean or augmented), prev/this (B, T, 55) as in
    `motion_windows`, style (B, Ts, 55) from a random place of the same clip.
    """
    pairs = np.zeros((batch, frames, PAIR_DIM), np.float32)
    prev = np.zeros((batch, frames, NUM_CHANNELS), np.float32)
    this = np.zeros((batch, frames, NUM_CHANNELS), np.float32)
    style = np.zeros((batch, style_frames, NUM_CHANNELS), np.float32)
    for b in range(batch):
        group = clips[rng.integers(len(clips))]
        clip = group[rng.integers(len(group))]
        start = int(rng.integers(0, max(1, clip.frames - frames // 2)))
        seg = clip.pairs[start:start + frames]
        pairs[b, :len(seg)] = seg
        prev[b], this[b] = window_pair(clip.motion, start, frames)
        s0 = int(rng.integers(0, max(1, clip.frames - style_frames + 1)))
        style[b] = clip.motion[np.minimum(np.arange(s0, s0 + style_frames), clip.frames - 1)]
    return {"pairs": pairs, "prev": prev, "this": this, "style": style}


def window_pair(motion: np.ndarray, start: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(prev, this) raw windows at `start`: prev is [start-T, start) with zeros before frame 0."""
    idx = np.arange(start - frames, start + frames)
    out = motion[np.clip(idx, 0, len(motion) - 1)].copy()
    out[idx < 0] = 0.0
    return out[:frames], out[frames:]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two curves (0 when either is constant)."""
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    den = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / den) if den > 0 else 0.0


__all__ = ["ARKIT_BLENDSHAPES", "Clip", "ClipSet", "DataError", "HEAD_COLS", "JAW_OPEN", "LIP_COLS",
           "audio_motion_windows", "default_augment", "fbank_pairs", "is_held_aside", "load_clips",
           "make_clip", "motion_windows", "pearson", "read_corpus", "sample_windows", "window_pair"]
