"""Running per-bin mean/variance normalisation of log-mel (fbank) frames, for our own LSTM heads.

Why: a log-mel bin moves by a constant with the input gain and by a per-bin offset with the
microphone and room, and synthetic training speech has one of each while users bring many.
Subtracting each bin's mean (and dividing by its spread) removes both, as ASR front ends do.
It must stream, so the statistics are causal: frame t is normalised by the mean and variance of
frames 0..t, started from a prior worth `prior_frames` frames (the training corpus's statistics)
and, once `window_frames` frames have been seen, forgetting exponentially with that time
constant. `normalize` (a whole clip) and `RunningNorm.feed` (any chunking) give the same numbers.

Digital silence (exact zeros, common in TTS output, rare in real recordings) gives log energies
at the fbank floor (about -15.9); frames are clipped at `floor` first so such stretches do not
drag the statistics far below anything a microphone produces.

DH_live's own checkpoints never see this: it is an option of our arkit52 recipe
(`LSTMRecipe.feature_norm`), stored in the export's JSON (`feature_norm`), and applied by
`NormalizedLSTMModel` in front of the unchanged network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.signal import lfilter

from ..errors import CheckpointError
from ..models.lstm import Audio2Feature, LSTMMotionModel, LSTMStream

FBANK_DIM = 80
MODES = ("none", "running")


@dataclass
class FeatureNorm:
    """Settings and prior of the running normaliser (JSON-serialisable via `to_json`)."""

    prior_mean: list[float] = field(default_factory=lambda: [0.0] * FBANK_DIM)
    prior_std: list[float] = field(default_factory=lambda: [1.0] * FBANK_DIM)
    prior_frames: int = 100     # 1 s at 100 fbank frames/s
    window_frames: int = 300    # 3 s time constant once warmed up
    floor: float = -10.0        # log energy below which frames are clipped
    min_std: float = 0.5        # spread floor: a flat bin is not blown up

    def __post_init__(self) -> None:
        if len(self.prior_mean) != FBANK_DIM or len(self.prior_std) != FBANK_DIM:
            raise CheckpointError(f"feature_norm priors must have {FBANK_DIM} values each")
        if not 1 <= self.prior_frames <= self.window_frames:
            raise CheckpointError("feature_norm needs 1 <= prior_frames <= window_frames")

    def to_json(self) -> dict[str, Any]:
        return {"mode": "running", **asdict(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "FeatureNorm":
        if d.get("mode") != "running":
            raise CheckpointError(f"unknown feature_norm mode {d.get('mode')!r}; expected 'running'")
        return cls(**{k: v for k, v in d.items() if k != "mode"})

    def start(self) -> "RunningNorm":
        return RunningNorm(self)


def prior_from_frames(frames: Iterable[np.ndarray], **settings: Any) -> FeatureNorm:
    """A FeatureNorm whose prior is the pooled per-bin mean/std of `frames` (after the floor)."""
    norm = FeatureNorm(**settings)
    count, total, squares = 0, np.zeros(FBANK_DIM), np.zeros(FBANK_DIM)
    for f in frames:
        x = np.maximum(np.asarray(f, np.float64).reshape(-1, FBANK_DIM), norm.floor)
        count, total, squares = count + len(x), total + x.sum(0), squares + (x * x).sum(0)
    if count == 0:
        raise CheckpointError("feature_norm prior needs at least one frame")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, norm.min_std ** 2))
    norm.prior_mean, norm.prior_std = [float(v) for v in mean], [float(v) for v in std]
    return norm


class RunningNorm:
    """Causal normaliser state; `feed(frames (n, 80)) -> (n, 80) float32` for successive chunks."""

    def __init__(self, cfg: FeatureNorm) -> None:
        self.cfg = cfg
        mean = np.asarray(cfg.prior_mean, np.float64)
        self.mean = mean
        self.sq = np.asarray(cfg.prior_std, np.float64) ** 2 + mean ** 2
        self.seen = 0

    def feed(self, frames: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(frames, np.float64).reshape(-1, FBANK_DIM), self.cfg.floor)
        if len(x) == 0:
            return np.zeros((0, FBANK_DIM), np.float32)
        mean = self._track(x, "mean")
        sq = self._track(x * x, "sq")
        self.seen += len(x)
        std = np.sqrt(np.maximum(sq - mean * mean, self.cfg.min_std ** 2))
        return ((x - mean) / std).astype(np.float32)

    def _track(self, x: np.ndarray, name: str) -> np.ndarray:
        """Running average of `x` rows continuing from state `name`; updates the state.

        Weight of frame t (counting from the stream start): 1 / (prior_frames + t + 1) while
        that exceeds 1 / window_frames (a plain mean with the prior as pseudo-frames), then the
        constant 1 / window_frames (an exponential average)."""
        cfg, prev = self.cfg, getattr(self, name)
        t = self.seen + np.arange(len(x))
        warm = int(np.sum(cfg.prior_frames + t + 1 < cfg.window_frames))
        out = np.empty_like(x)
        if warm:
            n0 = cfg.prior_frames + self.seen          # pseudo-frames behind `prev`
            counts = n0 + np.arange(1, warm + 1)[:, None]
            out[:warm] = (n0 * prev + np.cumsum(x[:warm], axis=0)) / counts
            prev = out[warm - 1]
        if warm < len(x):
            a = 1.0 / cfg.window_frames
            out[warm:], _ = lfilter([a], [1.0, a - 1.0], x[warm:], axis=0, zi=((1.0 - a) * prev)[None])
        setattr(self, name, out[-1].copy())
        return out


def normalize(frames: np.ndarray, cfg: FeatureNorm) -> np.ndarray:
    """A whole clip's frames normalised from a fresh state (what a new stream would give)."""
    return cfg.start().feed(frames)


def normalize_pairs(pairs: np.ndarray, cfg: FeatureNorm) -> np.ndarray:
    """(steps, 160) fbank pairs -> the same, normalised frame by frame in time order."""
    steps = len(pairs)
    return normalize(np.asarray(pairs).reshape(2 * steps, FBANK_DIM), cfg).reshape(steps, 2 * FBANK_DIM)


class NormalizedLSTMModel(LSTMMotionModel):
    """`LSTMMotionModel` with a running feature normaliser between the fbank and the network."""

    def __init__(self, net: Audio2Feature, variant: str, norm: FeatureNorm) -> None:
        super().__init__(net, variant)
        self.norm = norm

    def stream(self) -> "NormalizedLSTMStream":
        return NormalizedLSTMStream(self)


class NormalizedLSTMStream(LSTMStream):
    """The LSTM stream with every new fbank frame normalised before pairing."""

    def __init__(self, model: NormalizedLSTMModel) -> None:
        super().__init__(model)
        self._norm = model.norm.start()

    def _advance(self, feats: np.ndarray) -> np.ndarray:
        return super()._advance(self._norm.feed(feats))
