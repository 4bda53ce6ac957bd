"""BITWISE_VAE: ARTalk's two-window motion codec (`basic_vae.*` in the checkpoint).

Every sequence is [previous window ; this window] (2T frames). A fixed mask lets the previous
window see only itself while this window sees both, so encoding the previous window alone gives
the same bits as the first half of a pair encode. Each half is quantised separately by
MultiScaleBSQ; the decoder always decodes the pair and the model keeps the second half.

Quirks kept for checkpoint compatibility: attention logits are scaled by 1/sqrt(hidden) (not
by the head dim), and the MLP blocks are plain residuals without a norm in front.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bsq import MultiScaleBSQ
from .config import ARTalkConfig
from .stats import MOTION_MEAN, MOTION_STD


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention with a fused bias-free qkv projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = 1 / math.sqrt(dim)  # quirk: full width, not per-head width
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        B, T, D = x.shape
        q, k, v = self.to_qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = (t.view(B, T, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)
        return self.to_out(o.transpose(1, 2).reshape(B, T, D))


def _mlp(dim: int) -> nn.Sequential:
    hidden = int(dim * 1.5)
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))


def _blocks(dim: int, depth: int, heads: int) -> nn.ModuleList:
    """[attn, mlp, attn, mlp, ...]: the checkpoint indexes attention at 2j and MLPs at 2j+1."""
    layers = []
    for _ in range(depth):
        layers += [SelfAttention(dim, heads), _mlp(dim)]
    return nn.ModuleList(layers)


def _run_blocks(blocks: nn.ModuleList, x: Tensor, mask: Tensor) -> Tensor:
    for i in range(0, len(blocks), 2):
        x = x + blocks[i](x, mask)
        x = x + blocks[i + 1](x)  # no norm before the MLP (quirk)
    return x


class MotionEncoder(nn.Module):
    def __init__(self, cfg: ARTalkConfig) -> None:
        super().__init__()
        self.inp_mapping = nn.Sequential(nn.Linear(cfg.motion_dim, cfg.vae_hidden), nn.LeakyReLU(0.2))
        self.encoder_transformer = _blocks(cfg.vae_hidden, cfg.vae_depth, cfg.vae_heads)
        self.code_mapping = nn.Linear(cfg.vae_hidden, cfg.code_dim)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.inp_mapping(x)
        return self.code_mapping(_run_blocks(self.encoder_transformer, x, mask))


class MotionDecoder(nn.Module):
    def __init__(self, cfg: ARTalkConfig) -> None:
        super().__init__()
        self.inp_mapping = nn.Sequential(nn.Linear(cfg.code_dim, cfg.vae_hidden), nn.LeakyReLU(0.2))
        self.decoder_transformer = _blocks(cfg.vae_hidden, cfg.vae_depth, cfg.vae_heads)
        self.out_mapping = nn.Linear(cfg.vae_hidden, cfg.motion_dim)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.inp_mapping(x)
        return self.out_mapping(_run_blocks(self.decoder_transformer, x, mask))


def two_window_mask(T: int) -> Tensor:
    """(1, 1, 2T, 2T) additive mask: prev rows see prev columns only; this rows see all."""
    mask = torch.zeros(1, 1, 2 * T, 2 * T)
    mask[..., :T, T:] = float("-inf")
    return mask


class BitwiseVAE(nn.Module):
    """Raw motion <-> bits, always in the two-window layout."""

    def __init__(self, cfg: ARTalkConfig) -> None:
        super().__init__()
        T = cfg.window_frames
        self.T = T
        self.enc_pos_embed = nn.Parameter(torch.zeros(1, 2 * T, cfg.motion_dim))
        self.dec_pos_embed = nn.Parameter(torch.zeros(1, 2 * T, cfg.code_dim))
        self.register_buffer("attn_mask", two_window_mask(T))
        self.register_buffer("motion_mean", torch.tensor(MOTION_MEAN, dtype=torch.float32))
        self.register_buffer("motion_std", torch.tensor(MOTION_STD, dtype=torch.float32))
        self.encoder = MotionEncoder(cfg)
        self.decoder = MotionDecoder(cfg)
        self.quantize = MultiScaleBSQ(cfg.code_dim, cfg.patch_nums)
        nn.init.trunc_normal_(self.enc_pos_embed, std=math.sqrt(1 / (3 * cfg.motion_dim)))
        nn.init.trunc_normal_(self.dec_pos_embed, std=math.sqrt(1 / (3 * cfg.code_dim)))
        nn.init.xavier_uniform_(self.decoder.out_mapping.weight, gain=0.05)
        nn.init.zeros_(self.decoder.out_mapping.bias)

    def normalize(self, motion: Tensor) -> Tensor:
        return (motion - self.motion_mean) / self.motion_std

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.motion_std + self.motion_mean

    def encode_latent(self, prev: Tensor, this: Tensor | None = None) -> Tensor:
        """Encoder output before quantisation: (B, T, C) for prev alone, (B, 2T, C) for a pair."""
        if this is None:
            x = self.normalize(prev) + self.enc_pos_embed[:, :self.T]
            return self.encoder(x, self.attn_mask[..., :self.T, :self.T])
        x = self.normalize(torch.cat([prev, this], dim=1)) + self.enc_pos_embed
        return self.encoder(x, self.attn_mask)

    def encode(self, prev: Tensor, this: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """Raw motion (B, T, 106) -> bits (B, L, C); with `this`, (prev_bits, this_bits)."""
        latent = self.encode_latent(prev, this)
        if this is None:
            return self.quantize(latent)[1]
        return self.quantize(latent[:, :self.T])[1], self.quantize(latent[:, self.T:])[1]

    def decoder_input(self, prev_bits: Tensor, this_bits: Tensor) -> Tensor:
        """(B, 2T, C) features of both windows, before `dec_pos_embed`."""
        q = self.quantize
        return torch.cat([q.decoder_features(prev_bits), q.decoder_features(this_bits)], dim=1)

    def decode(self, prev_bits: Tensor, this_bits: Tensor) -> tuple[Tensor, Tensor]:
        """Bits of both windows -> raw motion (prev half, this half), each (B, T, 106)."""
        x = self.decoder_input(prev_bits, this_bits) + self.dec_pos_embed
        motion = self.denormalize(self.decoder(x, self.attn_mask))
        return motion[:, :self.T], motion[:, self.T:]
