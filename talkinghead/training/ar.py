"""Train ARTalk's multi-scale bitwise AR generator on arkit52, with a small fbank audio encoder.

wav2vec2 weights are not available offline, so the generator listens through `FbankEncoder`:
the same 80-bin fbank pairs the LSTM uses (one 160-d vector per 40 ms frame), a LayerNorm, a
projection and two temporal convolutions -> (B, frames, audio_dim). It has ARTalk's
`features(windows)` method, so a trained net works inside `ARTalkModel` unchanged.

The codec (`basic_vae`) comes from the VAE trainer's export (`vae` in the recipe) and stays frozen:
its bits are the targets. Training follows spec-artalk §13.2:
* teacher forcing through `BitwiseARModel.teacher_forced` with the input bits of every scale but
  the last flipped at a ratio drawn from {0, .01, ..., .30} per scale and sample; the residual of
  the following scales is re-quantised from the flipped codes, so each target is the bit the
  codec would emit given what the generator was shown;
* 2-class cross-entropy per bit (mean over tokens x channels);
* condition dropout 0.1 each: audio (features zeroed), style (the null token), previous window
  (raw zero motion, as the first window sees).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError
from ..models.artalk.ar import STYLE_GUIDANCE, BitwiseARModel
from ..models.artalk.bsq import MultiScaleBSQ, area, linear
from ..models.artalk.config import ARTalkConfig
from .data import JAW_OPEN, PAIR_DIM, ClipSet, audio_motion_windows, fbank_pairs, pearson, window_pair
from .vae import VAERecipe, build_vae, motion_stats


class FbankEncoder(nn.Module):
    """fbank pairs (B, frames, 160) -> audio condition (B, frames, audio_dim)."""

    def __init__(self, audio_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(PAIR_DIM)
        self.proj = nn.Linear(PAIR_DIM, hidden)
        self.conv1 = nn.Conv1d(hidden, hidden, 5, padding=2)
        self.conv2 = nn.Conv1d(hidden, audio_dim, 5, padding=2)

    def forward(self, pairs: Tensor) -> Tensor:
        h = F.gelu(self.proj(self.norm(pairs))).transpose(1, 2)
        return self.conv2(F.gelu(self.conv1(h))).transpose(1, 2)

    @torch.no_grad()
    def features(self, windows: Tensor) -> Tensor:
        """(B, window_samples) 16 kHz audio -> (B, frames, audio_dim), as ARTalkModel calls it."""
        frames = windows.shape[1] // 640
        pairs = np.stack([fbank_pairs(w.cpu().numpy(), frames) for w in windows])
        return self(torch.from_numpy(pairs).to(windows.device))


@dataclass
class ARRecipe:
    ar_width: int = 128
    ar_depth: int = 3
    ar_heads: int = 4
    audio_dim: int = 128
    encoder_hidden: int = 128
    style_dim: int = 64
    style_depth: int = 2
    style_heads: int = 4
    style_ffn: int = 128
    style_frames: int = 50
    style_frames_max: int | None = None  # style excerpt length drawn per batch from [style_frames, this]
    max_flip: float = 0.30
    cond_dropout: float = 0.1
    vae: str | None = None  # path of an exported VAE (.safetensors); None: a fresh codec (tests)
    init_seed: int = 0
    val_windows: int = 32
    val_clips: int = 8


def ar_config(recipe: ARRecipe, vae_cfg: ARTalkConfig) -> ARTalkConfig:
    return vae_cfg.with_(ar_width=recipe.ar_width, ar_depth=recipe.ar_depth, ar_heads=recipe.ar_heads,
                         audio_dim=recipe.audio_dim, style_dim=recipe.style_dim,
                         style_depth=recipe.style_depth, style_heads=recipe.style_heads,
                         style_ffn=recipe.style_ffn, audio_encoder=None)


def build_ar(cfg: ARTalkConfig, encoder_hidden: int, mean: np.ndarray, std: np.ndarray) -> BitwiseARModel:
    """A fresh generator for 55-channel motion with an fbank encoder (textbook style positions)."""
    net = BitwiseARModel(cfg, pe_quirk=False)
    net.audio_encoder = FbankEncoder(cfg.audio_dim, encoder_hidden)
    net.basic_vae = build_vae(cfg, mean, std)
    net.style_encoder.motion_mean = torch.as_tensor(mean).clone()
    net.style_encoder.motion_std = torch.as_tensor(std).clone()
    return net


def flip_bits(bits: Tensor, ratio: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Flip each bit of (B, n, C) with the per-sample probability `ratio` (B,)."""
    flips = torch.rand(bits.shape, generator=gen, device=bits.device) < ratio.view(-1, 1, 1)
    return bits ^ flips.to(bits.dtype)


def quantize_with_flips(bsq: MultiScaleBSQ, f: Tensor, max_flip: float) -> tuple[Tensor, Tensor]:
    """(target bits, input bits), each (B, L, C): scale s's input is its target with flips, and
    scale s+1's target quantises the residual left by the *flipped* codes of scales 0..s."""
    B = f.shape[0]
    residual = f
    targets, inputs = [], []
    levels = torch.arange(0, round(max_flip * 100) + 1, device=f.device).float() / 100
    for s, pn in enumerate(bsq.patch_nums):
        z = residual if pn == bsq.length else area(residual, pn)
        _, bits, _ = bsq.quantize_tokens(z)
        shown = bits
        if s < len(bsq.patch_nums) - 1 and max_flip > 0:
            shown = flip_bits(bits, levels[torch.randint(len(levels), (B,), device=f.device)])
        code = (shown.float() * 2 - 1) / math.sqrt(bsq.code_dim)
        residual = residual - (code if pn == bsq.length else linear(code, bsq.length))
        targets.append(bits)
        inputs.append(shown)
    return torch.cat(targets, 1), torch.cat(inputs, 1)


def bit_cross_entropy(logits: Tensor, bits: Tensor) -> tuple[Tensor, Tensor]:
    """Mean 2-class CE over tokens x channels, and the bit accuracy, for logits (B, L, 2C)."""
    B, L, C = bits.shape
    pairs = logits.view(B, L, C, 2)
    ce = F.cross_entropy(pairs.reshape(-1, 2), bits.reshape(-1).long())
    acc = (pairs.argmax(-1) == bits.long()).float().mean()
    return ce, acc


class ARObjective(nn.Module):
    def __init__(self, net: BitwiseARModel, recipe: ARRecipe) -> None:
        super().__init__()
        self.net = net
        self.recipe = recipe
        for p in net.basic_vae.parameters():
            p.requires_grad_(False)

    def style_tokens(self, style: Tensor, keep: Tensor) -> Tensor:
        """Guided style token per sample, the null token where `keep` is 0."""
        net = self.net
        s = net.style_cond_embed(net.style_encoder(style)).unsqueeze(1)
        guided = STYLE_GUIDANCE * s - (STYLE_GUIDANCE - 1) * net.null_style_cond
        null = net.null_style_cond.expand_as(guided)
        return torch.where(keep.view(-1, 1, 1) > 0, guided, null)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        net, vae = self.net, self.net.basic_vae
        B = batch["pairs"].shape[0]
        drop = self.recipe.cond_dropout if self.training else 0.0
        keep = (torch.rand(3, B, device=batch["pairs"].device) >= drop).float()
        prev = batch["prev"] * keep[2].view(-1, 1, 1)
        with torch.no_grad():
            vae.eval()
            prev_bits = vae.encode(prev)
            latent = vae.encode_latent(prev, batch["this"])[:, vae.T:]
            targets, inputs = quantize_with_flips(vae.quantize, latent,
                                                  self.recipe.max_flip if self.training else 0.0)
        feats = net.audio_encoder(batch["pairs"]) * keep[0].view(-1, 1, 1)
        style_tok = self.style_tokens(batch["style"], keep[1])
        logits = net.teacher_forced(feats, style_tok, prev_bits, inputs)
        ce, acc = bit_cross_entropy(logits, targets)
        return ce, {"bit_acc": acc.detach()}


def load_vae_export(path: str | Path):
    """(ARTalkConfig, state_dict) of an exported VAE."""
    from .export import read_export
    state, meta = read_export(path)
    if meta.get("kind") != "vae":
        raise CheckpointError(f"{path} is not an exported VAE (kind {meta.get('kind')!r})")
    return ARTalkConfig.from_dict(meta["artalk_config"]), state


class ARTask:
    def __init__(self, clips: ClipSet, recipe: ARRecipe, batch_size: int) -> None:
        self.clips, self.recipe, self.batch_size = clips, recipe, batch_size
        if recipe.vae:
            vae_cfg, vae_state = load_vae_export(recipe.vae)
            mean, std = vae_state["motion_mean"].numpy(), vae_state["motion_std"].numpy()
        else:
            vae_cfg, vae_state = VAERecipe().config(), None
            mean, std = motion_stats(clips)
        self.cfg = ar_config(recipe, vae_cfg)
        torch.manual_seed(recipe.init_seed)
        net = build_ar(self.cfg, recipe.encoder_hidden, mean, std)
        if vae_state is not None:
            net.basic_vae.load_state_dict(vae_state)
        self.module = ARObjective(net, recipe)
        self.windows_per_batch = batch_size
        self.seconds_per_window = self.cfg.window_frames / 25.0
        self._val = self._val_batch()

    def _val_batch(self) -> dict[str, Tensor] | None:
        T, Ts = self.cfg.window_frames, self.recipe.style_frames
        rows = []
        for clip in self.clips.val:
            for start in range(0, clip.frames, T):
                p, t = window_pair(clip.motion, start, T)
                pairs = np.zeros((T, PAIR_DIM), np.float32)
                seg = clip.pairs[start:start + T]
                pairs[:len(seg)] = seg
                style = clip.motion[np.minimum(np.arange(Ts), clip.frames - 1)]
                rows.append((pairs, p, t, style))
        if not rows:
            return None
        rows = rows[: self.recipe.val_windows]
        return {k: torch.from_numpy(np.stack([r[i] for r in rows]))
                for i, k in enumerate(("pairs", "prev", "this", "style"))}

    def batch(self, rng: np.random.Generator) -> dict[str, Tensor]:
        b = audio_motion_windows(self.clips.train, rng, self.batch_size, self.cfg.window_frames,
                                 self.style_length(rng))
        return {k: torch.from_numpy(v) for k, v in b.items()}

    def style_length(self, rng: np.random.Generator) -> int:
        """Frames of this batch's style excerpts: fixed, or drawn so the encoder sees many lengths."""
        lo, hi = self.recipe.style_frames, self.recipe.style_frames_max
        return lo if hi is None or hi <= lo else int(rng.integers(lo, hi + 1))

    @torch.no_grad()
    def validate(self, module: nn.Module) -> dict[str, float]:
        """Teacher-forced CE / bit accuracy, and jawOpen r of greedy decoding of whole clips."""
        if self._val is None:
            return {}
        module.eval()
        ce, metrics = module(self._val)
        r = [pearson(self.generate(module.net, clip.pairs, clip.frames)[:, JAW_OPEN],
                     clip.motion[:, JAW_OPEN]) for clip in self.clips.val[: self.recipe.val_clips]]
        module.train()
        return {"ce": ce.item(), "bit_acc": float(metrics["bit_acc"]), "jaw_r": float(np.mean(r))}

    @staticmethod
    def generate(net: BitwiseARModel, pairs: np.ndarray, frames: int) -> np.ndarray:
        """Greedy window-by-window decoding (no style) of a clip's fbank pairs -> (frames, 55)."""
        T = net.cfg.window_frames
        state = net.start(None)
        out = []
        for w in range(0, frames, T):
            window = np.zeros((T, PAIR_DIM), np.float32)
            seg = pairs[w:w + T].astype(np.float32)
            window[:len(seg)] = seg
            out.append(net.step(state, net.audio_encoder(torch.from_numpy(window)[None]))[0].numpy())
        return np.concatenate(out)[:frames]

    def describe(self) -> dict[str, Any]:
        return {"trainer": "ar", "recipe": asdict(self.recipe), "config": self.cfg.to_dict(),
                "data": self.clips.describe()}


def ar_meta(task: ARTask) -> dict[str, Any]:
    """What an AR export needs to rebuild the net."""
    return {"kind": "ar", "artalk_config": task.cfg.to_dict(),
            "encoder_hidden": task.recipe.encoder_hidden, "pe_quirk": False,
            "recipe": json.loads(json.dumps(asdict(task.recipe)))}
