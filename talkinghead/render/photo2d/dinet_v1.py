"""DINet_five_Ref, the v1 DH_live face renderer (spec-dhlive §7.4), with the checkpoint's names.

Five reference frames (image + feature drawing each, 30 channels) are encoded once; per frame an
alignment encoder compares the masked source with them and predicts, for every reference channel, a
scale/rotation/translation (AdaAT) that warps the reference features onto the source pose before a
decoder paints the lower face.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.render.photo2d.dinet import _read_state_dict, load_strict

PI = 3.14159   # the original's constant, not math.pi


class SameBlock(nn.Module):
    """Conv (same size) -> BatchNorm -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, padding: int = 1, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class DownBlock(SameBlock):
    """Stride-2 3x3 conv -> BatchNorm -> ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(cin, cout, 3, 1, stride=2)


class UpBlock(SameBlock):
    """Nearest x2 -> 3x3 conv -> BatchNorm -> ReLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResBlock(nn.Module):
    """Pre-activation residual block (BN -> ReLU -> conv, twice)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.norm1 = nn.BatchNorm2d(channels)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.relu(self.norm1(x)))
        return x + self.conv2(F.relu(self.norm2(y)))


class AdaAT(nn.Module):
    """Per-channel affine warp of a feature map, driven by a parameter vector.

    The feature map is treated as a volume (channel = depth) and sampled trilinearly, so each channel
    is moved by its own scale, rotation and translation. `align_corners=False` sampling of a
    corner-aligned grid means the identity transform blurs slightly; the checkpoints expect that.
    """

    def __init__(self, para_dim: int = 128, channels: int = 256):
        super().__init__()
        self.channels = channels
        self.commn_linear = nn.Sequential(nn.Linear(para_dim, para_dim), nn.ReLU())
        self.scale = nn.Sequential(nn.Linear(para_dim, channels), nn.Sigmoid())
        self.rotation = nn.Sequential(nn.Linear(para_dim, channels), nn.Tanh())
        self.translation = nn.Sequential(nn.Linear(para_dim, 2 * channels), nn.Tanh())

    def forward(self, feature: torch.Tensor, para: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feature.shape
        p = self.commn_linear(para)
        scale = (2 * self.scale(p))[:, :, None, None]
        angle = (PI * self.rotation(p))[:, :, None, None]
        shift = self.translation(p).view(b, c, 2)[:, :, None, None, :]
        ys = torch.linspace(-1, 1, h, dtype=feature.dtype) if h > 1 else torch.full((1,), -1.0)
        xs = torch.linspace(-1, 1, w, dtype=feature.dtype) if w > 1 else torch.full((1,), -1.0)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        cos, sin = torch.cos(angle), torch.sin(angle)
        x = scale * (cos * gx - sin * gy) + shift[..., 0]
        y = scale * (sin * gx + cos * gy) + shift[..., 1]
        z = (2 * torch.arange(c, dtype=feature.dtype) / (c - 1) - 1)[None, :, None, None].expand(b, c, h, w)
        grid = torch.stack([x, y, z], dim=-1)                      # [B, C, H, W, 3] = (x, y, depth)
        out = F.grid_sample(feature[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out[:, 0]


class DINetFiveRef(nn.Module):
    """`DINet_five_Ref(6, 30)`: masked face + prompt (6 ch) and 5 references (30 ch) -> RGB, all /255 BGR."""

    def __init__(self, source_channel: int = 6, ref_channel: int = 30):
        super().__init__()
        self.source_in_conv = nn.Sequential(SameBlock(source_channel, 32, 7, 3), DownBlock(32, 64), DownBlock(64, 128))
        self.ref_in_conv = nn.Sequential(SameBlock(ref_channel, 64, 7, 3), DownBlock(64, 128), DownBlock(128, 256))
        self.trans_conv = nn.Sequential(
            SameBlock(384, 128, 3, 1), SameBlock(128, 128, 7, 3), DownBlock(128, 128),
            SameBlock(128, 128, 7, 3), DownBlock(128, 128), SameBlock(128, 128, 3, 1),
            DownBlock(128, 128), SameBlock(128, 128, 3, 1), DownBlock(128, 128),
        )
        self.appearance_conv_list = nn.ModuleList([
            nn.Sequential(ResBlock(256), ResBlock(256)),
            nn.Sequential(ResBlock(256), ResBlock(256)),
        ])
        self.adaAT = AdaAT(128, 256)
        self.out_conv = nn.Sequential(
            SameBlock(384, 128, 3, 1), UpBlock(128, 128), ResBlock(128), UpBlock(128, 128),
            nn.Conv2d(128, 3, 3, 1, 1), nn.Sigmoid(),
        )
        self.ref_feature: torch.Tensor | None = None

    def ref_input(self, ref: torch.Tensor) -> torch.Tensor:
        """Encode and cache the 5-reference stack (once per avatar)."""
        self.ref_feature = self.ref_in_conv(ref)
        return self.ref_feature

    def alignment(self, source_feature: torch.Tensor, ref_feature: torch.Tensor) -> torch.Tensor:
        """The 128-d AdaAT parameter: global mean of the alignment encoder."""
        return self.trans_conv(torch.cat([source_feature, ref_feature], 1)).mean(dim=(2, 3))

    def interface(self, source_img: torch.Tensor, source_prompt: torch.Tensor) -> torch.Tensor:
        """Render one frame with the cached references."""
        if self.ref_feature is None:
            raise RuntimeError("call ref_input() before interface()")
        source = self.source_in_conv(torch.cat([source_img, source_prompt], 1))
        para = self.alignment(source, self.ref_feature)
        ref = self.appearance_conv_list[0](self.ref_feature)
        ref = self.appearance_conv_list[1](self.adaAT(ref, para))
        return self.out_conv(torch.cat([source, ref], 1))

    def forward(self, source_img, source_prompt, ref_img) -> torch.Tensor:
        self.ref_input(ref_img)
        return self.interface(source_img, source_prompt)


def load_dinet_five_ref(path: str | Path) -> DINetFiveRef:
    """Load v1 `render.pth` (bare state_dict) or a training container into an eval-mode model."""
    path = Path(path)
    return load_strict(DINetFiveRef(), _read_state_dict(path), str(path))
