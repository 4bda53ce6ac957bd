"""StyleEncoder: a short raw motion clip (B, Ts, 106) -> one 128-d style vector.

Normalise, project to 128, add a sinusoidal position term, run four post-norm transformer
encoder layers (exact GELU) and average over time.

Quirk (`pe_quirk=True`, the original's behaviour and the default): the position term is the
single table row PE[Ts] (index = sequence length) added to every frame, not PE[0..Ts-1]. The
released weights were trained that way; `pe_quirk=False` gives the textbook version for models
trained from scratch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ...errors import MotionFileError
from .config import ARTalkConfig
from .stats import MOTION_MEAN, MOTION_STD


def sinusoid_table(rows: int, dim: int) -> Tensor:
    """(1, rows, dim): sin at even channels, cos at odd, frequency exp(-2i ln(10000)/dim)."""
    pos = torch.arange(rows, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(rows, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe.unsqueeze(0)


class PositionalEncoding(nn.Module):
    def __init__(self, dim: int, rows: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoid_table(rows, dim))


class _Encoder(nn.Module):
    """Holds the checkpoint's `style_encoder.encoder.{motion_proj, transformer}`."""

    def __init__(self, cfg: ARTalkConfig) -> None:
        super().__init__()
        self.motion_proj = nn.Linear(cfg.motion_dim, cfg.style_dim)
        layer = nn.TransformerEncoderLayer(cfg.style_dim, cfg.style_heads, cfg.style_ffn,
                                           dropout=0.1, activation="gelu", batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, cfg.style_depth, enable_nested_tensor=False)


class StyleEncoder(nn.Module):
    def __init__(self, cfg: ARTalkConfig, pe_quirk: bool = True) -> None:
        super().__init__()
        self.pe_quirk = pe_quirk
        self.register_buffer("motion_mean", torch.tensor(MOTION_MEAN, dtype=torch.float32))
        self.register_buffer("motion_std", torch.tensor(MOTION_STD, dtype=torch.float32))
        self.PE = PositionalEncoding(cfg.style_dim, cfg.style_pe_rows)
        self.encoder = _Encoder(cfg)

    def forward(self, motion: Tensor) -> Tensor:
        """Raw style motion (B, Ts, 106) -> (B, 128)."""
        T, rows = motion.shape[1], self.PE.pe.shape[1]
        if T < 1 or T >= rows:
            raise MotionFileError(f"style motion must have 1..{rows - 1} frames, got {T}")
        h = self.encoder.motion_proj((motion - self.motion_mean) / self.motion_std)
        h = h + (self.PE.pe[:, T] if self.pe_quirk else self.PE.pe[:, :T])
        return self.encoder.transformer(h).mean(dim=1)
