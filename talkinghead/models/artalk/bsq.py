"""Multi-scale binary spherical quantisation (BSQ), ARTalk's codebook-free tokenizer.

A (B, T, C) latent becomes bits at several temporal scales (1, 5, 25, 50, T tokens): each scale
area-downsamples the residual, L2-normalises every token, takes the sign of each channel
(value +-1/sqrt(C), zero -> -1), upsamples it linearly back to T and subtracts it from the
residual. The bits of all scales are concatenated along time: (B, sum(patch_nums), C).

Two ways back from bits to features matter, and they are not the same:
* the decoder input sums the *linearly upsampled* codes of every scale (`decoder_features`);
* the AR transformer's input for scale s+1 is the area-downsampled *running sum* of the
  upsampled codes of scales 0..s (`next_scale_features`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def area(x: Tensor, size: int) -> Tensor:
    """Adaptive average pooling along time of a (B, L, C) tensor (PyTorch 'area' semantics)."""
    return F.interpolate(x.transpose(1, 2), size=size, mode="area").transpose(1, 2)


def linear(x: Tensor, size: int) -> Tensor:
    """Linear interpolation along time, align_corners=False (length 1 -> constant)."""
    return F.interpolate(x.transpose(1, 2), size=size, mode="linear",
                         align_corners=False).transpose(1, 2)


def _binary_entropy(p: Tensor) -> Tensor:
    """Entropy of the pair (p, 1 - p), elementwise, with the original's +1e-8 inside the log."""
    q = 1 - p
    return -(p * torch.log(p + 1e-8) + q * torch.log(q + 1e-8))


class MultiScaleBSQ(nn.Module):
    """Residual BSQ over `patch_nums` scales. Has no tensors (nothing in the state_dict)."""

    def __init__(self, code_dim: int, patch_nums: tuple[int, ...], inv_temperature: float = 100.0,
                 entropy_weight: float = 0.1, commit_weight: float = 0.2) -> None:
        super().__init__()
        self.code_dim = code_dim
        self.patch_nums = tuple(patch_nums)
        self.inv_temperature = inv_temperature
        self.entropy_weight = entropy_weight
        self.commit_weight = commit_weight

    @property
    def length(self) -> int:
        return self.patch_nums[-1]

    def _scales(self, bits: Tensor):
        """Yield (pn, h) per scale with h = (2 bits - 1)/sqrt(C), the code values."""
        h = (bits.float() * 2 - 1) / math.sqrt(self.code_dim)
        start = 0
        for pn in self.patch_nums:
            yield pn, h[:, start:start + pn]
            start += pn

    def quantize_tokens(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """BSQ of one scale: (quantised value, bits, normalised z)."""
        z = F.normalize(z, dim=-1)  # z / max(|z|, 1e-12)
        zhat = torch.where(z > 0, 1.0, -1.0).to(z.dtype) / math.sqrt(self.code_dim)
        quantized = z + (zhat - z).detach()  # straight-through; not always bit-equal to zhat
        return quantized, (quantized > 0).to(torch.uint8), z

    def aux_loss(self, z: Tensor, quantized: Tensor) -> Tensor:
        """Entropy penalty (per-sample minus codebook entropy) plus commitment, one scale."""
        prob0 = torch.sigmoid(-4 * z / math.sqrt(self.code_dim) * self.inv_temperature)
        per_sample = _binary_entropy(prob0).sum(-1).mean()
        codebook = _binary_entropy(prob0.flatten(0, 1).mean(0)).sum()
        commit = (quantized - z).pow(2).sum(-1).mean()
        entropy = (per_sample - codebook) / self.inv_temperature
        return self.entropy_weight * entropy + self.commit_weight * commit

    def forward(self, f: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Latent (B, T, C) -> (sum of upsampled codes, bits (B, L, C) uint8, aux losses (S,))."""
        residual, q_sum = f, torch.zeros_like(f)
        all_bits, losses = [], []
        for pn in self.patch_nums:
            z = residual if pn == self.length else area(residual, pn)
            quantized, bits, zn = self.quantize_tokens(z)
            losses.append(self.aux_loss(zn, quantized))
            up = quantized if pn == self.length else linear(quantized, self.length)
            residual = residual - up
            q_sum = q_sum + up
            all_bits.append(bits)
        return q_sum, torch.cat(all_bits, dim=1), torch.stack(losses)

    def decoder_features(self, bits: Tensor) -> Tensor:
        """Bits (B, L, C) -> (B, T, C): sum of linearly upsampled codes; last scale as is."""
        feat = None
        for pn, h in self._scales(bits):
            up = h if pn == self.length else linear(h, self.length)
            feat = up if feat is None else feat + up
        return feat

    def next_scale_features(self, bits: Tensor, upto: int | None = None) -> Tensor:
        """AR inputs built from the bits of scales 0..upto (default: all but the last).

        Returns the (B, sum(patch_nums[1:upto+2]), C) features of scales 1..upto+1: the
        area-downsampled cumulative upsampled code. Only the first sum(patch_nums[:upto+1])
        tokens of `bits` are read, so a partial bit tensor is fine.
        """
        upto = len(self.patch_nums) - 2 if upto is None else upto
        acc = torch.zeros(bits.shape[0], self.length, self.code_dim, device=bits.device)
        pieces = []
        for s, (pn, h) in enumerate(self._scales(bits)):
            if s > upto:
                break
            acc = acc + (h if pn == self.length else linear(h, self.length))
            pieces.append(area(acc, self.patch_nums[s + 1]))
        return torch.cat(pieces, dim=1)
