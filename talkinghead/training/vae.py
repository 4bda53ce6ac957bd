"""Train ARTalk's two-window bitwise VAE (BITWISE_VAE + MultiScaleBSQ) on arkit52 motion (55 dims).

The codec is the module the toolkit runs (`models.artalk.vae.BitwiseVAE`), built with
`motion_dim=55` and normalisation statistics measured on the training clips (the released
FLAME statistics mean nothing for blendshapes; std is floored so constant channels stay finite).

Training differs from inference in one place: the quantiser. Inference computes `z + (zhat - z)`
with nothing detached, whose gradient with respect to z is exactly zero. Training needs the
straight-through estimator, `z + (zhat - z).detach()`, so `st_quantize` re-runs the multi-scale
residual loop with it (same scales, same area/linear resampling, the module's own aux loss). The
decoder is fed the straight-through sum of codes, which equals `decoder_features(bits)` in value.

Losses (spec-artalk §13.2, adapted: FLAME mesh terms have no arkit52 counterpart): mean BSQ aux
loss x1, L1 on all channels x1, L1 on the lip channels (jaw*, mouth*) x8 (the recipe's x8 on
pose + jaw), L1 on velocities x1, MSE of head-rotation velocity x5 and of its change x0.5.
Both halves of the two-window decode are reconstructed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..models.artalk.bsq import MultiScaleBSQ, area, linear
from ..models.artalk.config import ARTalkConfig
from ..models.artalk.vae import BitwiseVAE
from .data import HEAD_COLS, JAW_OPEN, LIP_COLS, ClipSet, motion_windows, pearson, window_pair

STD_FLOOR = 0.02


@dataclass
class VAERecipe:
    vae_hidden: int = 128
    vae_depth: int = 2
    vae_heads: int = 4
    code_dim: int = 32
    patch_nums: tuple[int, ...] = (1, 5, 10, 25, 50)
    weights: dict[str, float] = field(default_factory=lambda: {
        "vq": 1.0, "l1": 1.0, "lip_l1": 8.0, "velocity_l1": 1.0, "head_velocity": 5.0,
        "head_accel": 0.5})
    init_seed: int = 0
    val_windows: int = 64

    def config(self) -> ARTalkConfig:
        return ARTalkConfig(motion_dim=55, code_dim=self.code_dim, vae_hidden=self.vae_hidden,
                            vae_depth=self.vae_depth, vae_heads=self.vae_heads,
                            patch_nums=tuple(self.patch_nums), audio_encoder=None)


def motion_stats(clips: ClipSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and floored std of the training motion."""
    frames = np.concatenate([c.motion for c in clips.train_clean])
    return frames.mean(0).astype(np.float32), np.maximum(frames.std(0), STD_FLOOR).astype(np.float32)


def build_vae(cfg: ARTalkConfig, mean: np.ndarray, std: np.ndarray) -> BitwiseVAE:
    """A fresh codec for `cfg.motion_dim` channels carrying the given statistics as buffers."""
    vae = BitwiseVAE(cfg)
    vae.motion_mean = torch.as_tensor(mean, dtype=torch.float32).clone()
    vae.motion_std = torch.as_tensor(std, dtype=torch.float32).clone()
    return vae


def st_quantize(bsq: MultiScaleBSQ, f: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """MultiScaleBSQ.forward with a straight-through gradient: (q_sum, bits, aux losses)."""
    residual, q_sum = f, torch.zeros_like(f)
    all_bits, losses = [], []
    for pn in bsq.patch_nums:
        z = residual if pn == bsq.length else area(residual, pn)
        zn = torch.nn.functional.normalize(z, dim=-1)
        zhat = torch.where(zn > 0, 1.0, -1.0).to(zn.dtype) / (bsq.code_dim ** 0.5)
        quantized = zn + (zhat - zn).detach()
        losses.append(bsq.aux_loss(zn, quantized))
        up = quantized if pn == bsq.length else linear(quantized, bsq.length)
        residual = residual - up
        q_sum = q_sum + up
        all_bits.append((zhat > 0).to(torch.uint8))
    return q_sum, torch.cat(all_bits, dim=1), torch.stack(losses)


def reconstruction_losses(pred: Tensor, target: Tensor) -> dict[str, Tensor]:
    """The codec's motion terms on raw (B, T, 55) motion."""
    vel_p, vel_t = pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1]
    head_v_p, head_v_t = vel_p[..., HEAD_COLS], vel_t[..., HEAD_COLS]
    return {
        "l1": (pred - target).abs().mean(),
        "lip_l1": (pred[..., LIP_COLS] - target[..., LIP_COLS]).abs().mean(),
        "velocity_l1": (vel_p - vel_t).abs().mean(),
        "head_velocity": (head_v_p - head_v_t).pow(2).mean(),
        "head_accel": ((head_v_p[:, 1:] - head_v_p[:, :-1]) - (head_v_t[:, 1:] - head_v_t[:, :-1])).pow(2).mean(),
    }


class VAEObjective(nn.Module):
    def __init__(self, vae: BitwiseVAE, weights: dict[str, float]) -> None:
        super().__init__()
        self.vae = vae
        self.weights = dict(weights)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        vae = self.vae
        latent = vae.encode_latent(batch["prev"], batch["this"])
        q_prev, _, aux_prev = st_quantize(vae.quantize, latent[:, :vae.T])
        q_this, _, aux_this = st_quantize(vae.quantize, latent[:, vae.T:])
        x = torch.cat([q_prev, q_this], dim=1) + vae.dec_pos_embed
        pred = vae.denormalize(vae.decoder(x, vae.attn_mask))
        target = torch.cat([batch["prev"], batch["this"]], dim=1)
        terms = reconstruction_losses(pred, target)
        terms["vq"] = torch.cat([aux_prev, aux_this]).mean()
        loss = sum(self.weights.get(k, 0.0) * v for k, v in terms.items())
        return loss, {k: v.detach() for k, v in terms.items()}


class VAETask:
    def __init__(self, clips: ClipSet, recipe: VAERecipe, batch_size: int) -> None:
        self.clips, self.recipe, self.batch_size = clips, recipe, batch_size
        self.cfg = recipe.config()
        self.mean, self.std = motion_stats(clips)
        torch.manual_seed(recipe.init_seed)
        self.module = VAEObjective(build_vae(self.cfg, self.mean, self.std), recipe.weights)
        self.windows_per_batch = batch_size
        self.seconds_per_window = self.cfg.window_frames / 25.0
        self._val = self._val_windows()

    def _val_windows(self) -> tuple[Tensor, Tensor] | None:
        """Fixed validation windows: consecutive windows of the held-aside clips."""
        T, prev, this = self.cfg.window_frames, [], []
        for clip in self.clips.val:
            for start in range(0, clip.frames, T):
                p, t = window_pair(clip.motion, start, T)
                prev.append(p)
                this.append(t)
        if not prev:
            return None
        n = self.recipe.val_windows
        return torch.from_numpy(np.stack(prev[:n])), torch.from_numpy(np.stack(this[:n]))

    def batch(self, rng: np.random.Generator) -> dict[str, Tensor]:
        b = motion_windows(self.clips.train, rng, self.batch_size, self.cfg.window_frames)
        return {k: torch.from_numpy(v) for k, v in b.items()}

    @torch.no_grad()
    def validate(self, module: nn.Module) -> dict[str, float]:
        """Reconstruction through the inference path (hard bits, `decode`) of held-aside windows."""
        if self._val is None:
            return {}
        vae = module.vae.eval()
        prev, this = self._val
        prev_bits, this_bits = vae.encode(prev, this)
        _, rec = vae.decode(prev_bits, this_bits)
        vae.train()
        terms = reconstruction_losses(rec, this)
        return {"l1": terms["l1"].item(), "lip_l1": terms["lip_l1"].item(),
                "jaw_r": pearson(rec[..., JAW_OPEN].flatten().numpy(), this[..., JAW_OPEN].flatten().numpy()),
                "bit_usage": float(this_bits.float().mean())}

    def describe(self) -> dict[str, Any]:
        return {"trainer": "vae", "recipe": asdict(self.recipe), "config": self.cfg.to_dict(),
                "data": self.clips.describe()}
