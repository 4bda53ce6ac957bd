"""DINet_mini (DH_live mini 2.0 mouth renderer), with DH_live's exact state_dict names.

The network draws the 80x112 mouth box of a 184x184 crop. A motion encoder reads the warped crop (skin
from the flow warp, mouth as flat semantic colours), an appearance encoder turns a 12-channel reference
stack into a 64-d style vector once per avatar, and a style-modulated decoder produces the RGB mouth.
Module and attribute names mirror the released checkpoint (`epoch_40_new.pth`) so it loads strictly.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.errors import CheckpointError, reason
from talkinghead.checkpoints import check_state_dict

MOUTH_H, MOUTH_W = 80, 112
STYLE_DIM = 64


class SeparableConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, both without bias (cheap conv of the mobile blocks)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class AdaptiveModulation(nn.Module):
    """Instance norm re-styled by (scale, bias), gated per pixel by a style-dependent sigmoid mask.

    The gate multiplies the *un-normalised* input, so where the gate closes the block falls back to
    the plain normalised features.
    """

    def __init__(self, channels: int, style_dim: int = STYLE_DIM):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(style_dim, channels), nn.ReLU(), nn.Linear(channels, 3 * channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        normed = F.instance_norm(x, eps=1e-5)
        scale, bias, mask_logit = self.mlp(style)[:, :, None, None].chunk(3, dim=1)
        mask = torch.sigmoid(mask_logit * x)
        return mask * (normed * (1 + scale) + bias) + (1 - mask) * normed


class DecoderBlock(nn.Module):
    """[nearest x2] -> conv (full 3x3 or separable) -> adaptive modulation -> ReLU."""

    def __init__(self, cin: int, cout: int, upsample: bool, separable: bool):
        super().__init__()
        self.upsample = upsample
        self.conv = SeparableConv(cin, cout) if separable else nn.Conv2d(cin, cout, 3, 1, 1)
        self.adain = AdaptiveModulation(cout)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.relu(self.adain(self.conv(x), style))


class DINetMini(nn.Module):
    """DH_live's `DINet_mini(3, 12)`: mouth [B,3,80,112] + style [B,64] -> RGB [B,3,80,112] in (0,1)."""

    def __init__(self, source_channel: int = 3, ref_channel: int = 12, style_dim: int = STYLE_DIM):
        super().__init__()
        # Registration order = the checkpoint's state_dict order.
        self.skip_fuse0 = nn.Conv2d(source_channel, 48, 1)
        self.skip_fuse1 = nn.Conv2d(source_channel, 24, 1)
        self.motion_encoder = nn.Sequential(
            SeparableConv(source_channel, 32, 2), nn.LeakyReLU(0.1),
            SeparableConv(32, 64, 2), nn.LeakyReLU(0.1),
            SeparableConv(64, 64, 2), nn.LeakyReLU(0.1),
        )
        self.appearance_encoder = nn.Sequential(
            nn.Conv2d(ref_channel, 64, 3, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(64, 128, 3, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(128, 256, 3, 2, 1), nn.LeakyReLU(0.1),
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(256, style_dim, 1),
        )
        self.decoder_blocks = nn.ModuleList([
            DecoderBlock(64, 96, upsample=False, separable=False),
            DecoderBlock(96, 48, upsample=True, separable=True),
            DecoderBlock(48, 24, upsample=True, separable=True),
            DecoderBlock(24, 16, upsample=True, separable=False),
        ])
        self.final_conv = nn.Conv2d(16, 3, 3, 1, 1)

    def encode_ref(self, ref: torch.Tensor) -> torch.Tensor:
        """Reference stack [B,12,80,112] -> style [B,64]; done once per avatar."""
        return self.appearance_encoder(ref).flatten(1)

    def decode(self, source: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Mouth input [B,3,80,112] rendered with a cached style [B,64]."""
        x = self.motion_encoder(source)
        blocks = self.decoder_blocks
        x = blocks[0](x, style)
        x = blocks[1](x, style) + self.skip_fuse0(F.avg_pool2d(source, 4))
        x = blocks[2](x, style) + self.skip_fuse1(F.avg_pool2d(source, 2))
        x = blocks[3](x, style)
        return torch.sigmoid(self.final_conv(x))

    def forward(self, source: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return self.decode(source, self.encode_ref(ref))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Bare state_dicts, DH_live training containers (`['state_dict']['net_g']`) and safetensors."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise CheckpointError(f"cannot read checkpoint {path}: {reason(exc)}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict) and "net_g" in obj["state_dict"]:
        obj = obj["state_dict"]["net_g"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} holds no state_dict")
    return obj


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Load with exact keys and shapes, naming what is missing, unexpected or mis-shaped."""
    check_state_dict(model.state_dict(), state, source)
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_dinet_mini(path: str | Path) -> DINetMini:
    """Load DH_live's `epoch_40_new.pth` (or a bare/safetensors state_dict) into an eval-mode DINetMini."""
    path = Path(path)
    return load_strict(DINetMini(), _read_state_dict(path), str(path))
