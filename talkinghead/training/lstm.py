"""Train DH_live's Audio2Feature with an arkit52 head (55 outputs) from a motion corpus.

The network and its front end are exactly what `LSTMMotionModel` runs (v1: 16 kHz fbank, frames
paired, output delay 4 steps = 160 ms of look-ahead), so a trained net drops into the toolkit
with `load_dhlive_lstm(path, "v1")`. Windows of `window_steps` steps start anywhere in a clip
with a zero LSTM state, as DH_live trains; output row i of a window is compared with motion
frame start + i - delay.

`feature_norm="running"` puts a causal per-bin mean/variance normaliser (featnorm.py) between
the fbank and the network, its prior taken from the clean training clips; the export's JSON
carries it and `load_export` rebuilds a `NormalizedLSTMModel`. DH_live's exact front end stays
the default ("none").

Loss: L1 on the 55 channels plus `velocity_weight` x L1 on their frame-to-frame differences
(velocity keeps the mouth from lagging and smearing), both masked where a row has no target or
a clip carries no head rotation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..models.lstm import VARIANTS, Audio2Feature, LSTMMotionModel
from .data import ARKIT_BLENDSHAPES, JAW_OPEN, ClipSet, DataError, pearson, sample_windows
from .featnorm import MODES, FeatureNorm, NormalizedLSTMModel, normalize_pairs, prior_from_frames

SECONDS_PER_STEP = 0.04


@dataclass
class LSTMRecipe:
    variant: str = "v1"
    window_steps: int = 64
    velocity_weight: float = 1.0
    init_seed: int = 0
    val_clips: int = 48  # held-aside clips scored at each validation (bounded time)
    feature_norm: str = "none"  # "running": causal per-bin fbank normalisation (featnorm.py)

    def __post_init__(self) -> None:
        if self.feature_norm not in MODES:
            raise DataError(f"feature_norm must be one of {list(MODES)}, got {self.feature_norm!r}")


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    return ((pred - target).abs() * mask).sum() / mask.sum().clamp(min=1.0)


def motion_loss(pred: Tensor, target: Tensor, mask: Tensor,
                velocity_weight: float) -> tuple[Tensor, dict[str, Tensor]]:
    """L1 + velocity L1 over (B, T, C) with a 0/1 mask; a velocity needs both frames valid."""
    l1 = masked_l1(pred, target, mask)
    vmask = mask[:, 1:] * mask[:, :-1]
    vel = masked_l1(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1], vmask)
    return l1 + velocity_weight * vel, {"l1": l1.detach(), "velocity_l1": vel.detach()}


class LSTMObjective(nn.Module):
    """forward(batch) -> (loss, metrics); holds the Audio2Feature being trained as `net`."""

    def __init__(self, net: Audio2Feature, velocity_weight: float) -> None:
        super().__init__()
        self.net = net
        self.velocity_weight = velocity_weight

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        pred, _, _ = self.net(batch["x"])
        return motion_loss(pred, batch["y"], batch["mask"], self.velocity_weight)


class LSTMTask:
    """Everything the loop needs to train the arkit52 LSTM on `clips`."""

    def __init__(self, clips: ClipSet, recipe: LSTMRecipe, batch_size: int) -> None:
        self.clips, self.recipe, self.batch_size = clips, recipe, batch_size
        self.norm = normalize_clips(clips) if recipe.feature_norm == "running" else None
        self.delay = VARIANTS[recipe.variant].delay
        torch.manual_seed(recipe.init_seed)
        self.module = LSTMObjective(Audio2Feature(out_dim=55), recipe.velocity_weight)
        self.windows_per_batch = batch_size
        self.seconds_per_window = recipe.window_steps * SECONDS_PER_STEP

    def batch(self, rng: np.random.Generator) -> dict[str, Tensor]:
        b = sample_windows(self.clips.train, rng, self.batch_size, self.recipe.window_steps, self.delay)
        return {k: torch.from_numpy(v) for k, v in b.items()}

    @torch.no_grad()
    def validate(self, module: nn.Module) -> dict[str, float]:
        """Whole held-aside clips from a zero state, as inference runs them: loss and lip r."""
        net = module.net.eval()
        losses, rs, jaw_pred, jaw_true = [], [], [], []
        n = len(ARKIT_BLENDSHAPES)
        for clip in self.clips.val[: self.recipe.val_clips]:
            x = torch.from_numpy(clip.pairs.astype(np.float32)).reshape(1, -1, 80)
            rows = net(x)[0][0, self.delay:self.delay + clip.frames]
            target = torch.from_numpy(clip.motion)
            mask = torch.ones_like(target)
            if not clip.head_valid:
                mask[:, n:] = 0
            loss, _ = motion_loss(rows[None], target[None], mask[None], self.recipe.velocity_weight)
            losses.append(loss.item())
            jaw = rows[:, JAW_OPEN].clamp(0, 1).numpy()
            rs.append(pearson(jaw, clip.motion[:, JAW_OPEN]))
            jaw_pred.append(jaw)
            jaw_true.append(clip.motion[:, JAW_OPEN])
        net.train()
        if not losses:
            return {}
        return {"loss": float(np.mean(losses)), "jaw_r": float(np.mean(rs)),
                "jaw_r_pooled": pearson(np.concatenate(jaw_pred), np.concatenate(jaw_true))}

    def describe(self) -> dict[str, Any]:
        return {"trainer": "lstm", "recipe": asdict(self.recipe), "data": self.clips.describe()}

    def motion_model(self) -> LSTMMotionModel:
        """The net being trained as a ready MotionModel (eval mode; shares the weights)."""
        if self.norm is not None:
            return NormalizedLSTMModel(self.module.net, self.recipe.variant, self.norm)
        return LSTMMotionModel(self.module.net, self.recipe.variant)


def normalize_clips(clips: ClipSet) -> FeatureNorm:
    """Prior from the clean training clips, then every clip (copies, validation) normalised in
    place from a fresh state at its start, as a new inference stream would see it."""
    norm = prior_from_frames(c.pairs for c in clips.train_clean)
    for clip in [c for group in clips.train for c in group] + list(clips.val):
        clip.pairs = normalize_pairs(clip.pairs, norm).astype(np.float16)
    return norm
