"""Sizes of an ARTalk model, in one frozen dataclass.

The released checkpoint fixes most numbers (width 768, style encoder 128/4/4/512, motion 106);
they are fields here so the conformance fixture's small model (AR width 64) and our own smaller
models are the same code with other numbers. `patch_nums[-1]` is the window length in frames:
(1, 5, 25, 50, 100) gives ARTalk's 4-second windows; a shorter last scale gives lower latency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ...errors import CheckpointError

SAMPLES_PER_FRAME = 640  # 16000 Hz / 25 fps


@dataclass(frozen=True)
class ARTalkConfig:
    # bitwise AR transformer
    ar_width: int = 768
    ar_depth: int = 12
    ar_heads: int = 12
    prev_ratio: int = 1
    audio_dim: int = 1024
    # bitwise VAE (two-window codec) and its quantiser
    motion_dim: int = 106
    code_dim: int = 32
    vae_hidden: int = 512
    vae_depth: int = 8
    vae_heads: int = 8
    patch_nums: tuple[int, ...] = (1, 5, 25, 50, 100)
    # style encoder (fixed in the original)
    style_dim: int = 128
    style_depth: int = 4
    style_heads: int = 4
    style_ffn: int = 512
    style_pe_rows: int = 600
    # audio encoder: "xls-r-300m" (wav2vec2 inside the checkpoint) or None (features fed directly)
    audio_encoder: str | None = "xls-r-300m"

    def __post_init__(self) -> None:
        object.__setattr__(self, "patch_nums", tuple(int(p) for p in self.patch_nums))
        if self.ar_width % self.ar_heads or self.vae_hidden % self.vae_heads:
            raise CheckpointError(f"ARTalk config: widths must divide by head counts: {self}")
        if list(self.patch_nums) != sorted(set(self.patch_nums)) or self.patch_nums[0] != 1:
            raise CheckpointError(f"ARTalk config: patch_nums must rise from 1: {self.patch_nums}")

    # -- derived sizes ---------------------------------------------------------------------

    @property
    def window_frames(self) -> int:
        return self.patch_nums[-1]

    @property
    def window_samples(self) -> int:
        return self.window_frames * SAMPLES_PER_FRAME

    @property
    def num_tokens(self) -> int:
        return sum(self.patch_nums)

    @property
    def offsets(self) -> tuple[int, ...]:
        out, total = [], 0
        for pn in self.patch_nums:
            out.append(total)
            total += pn
        return tuple(out)

    # -- named configs ---------------------------------------------------------------------

    @classmethod
    def released(cls) -> "ARTalkConfig":
        """`assets/config.json` of the released ARTalk_wav2vec.pt."""
        return cls()

    @classmethod
    def fixture_small(cls) -> "ARTalkConfig":
        """The conformance fixture's small model (AR width 64, no wav2vec2 weights)."""
        return cls(ar_width=64, ar_depth=2, ar_heads=4, vae_hidden=64, vae_depth=2,
                   vae_heads=2, audio_encoder=None)

    @classmethod
    def compact(cls) -> "ARTalkConfig":
        """Ours: a quarter-size generator and codec with 2-second windows (lower latency)."""
        return cls(ar_width=384, ar_depth=6, ar_heads=6, vae_hidden=256, vae_depth=4,
                   vae_heads=4, patch_nums=(1, 5, 10, 25, 50))

    @classmethod
    def from_original(cls, cfg: dict[str, Any], ar_width: int = 768) -> "ARTalkConfig":
        """From the original repo's `{"AR_CONFIG": ..., "VAE_CONFIG": ...}` json."""
        ar, vae = cfg["AR_CONFIG"], cfg["VAE_CONFIG"]
        encoder = {"wav2vec": "xls-r-300m"}.get(ar.get("AUDIO_ENCODER", "wav2vec"))
        if encoder is None:
            raise CheckpointError(f"unsupported ARTalk audio encoder {ar.get('AUDIO_ENCODER')!r}")
        return cls(ar_width=ar_width, ar_depth=ar["T_DEPTH"], ar_heads=ar["T_NUM_HEADS"],
                   prev_ratio=ar["PREV_RATIO"], motion_dim=vae["MOTION_DIM"],
                   code_dim=vae["V_CODE_DIM"], vae_hidden=vae["T_HIDDEN_DIM"],
                   vae_depth=vae["T_DEPTH"], vae_heads=vae["T_NUM_HEADS"],
                   patch_nums=tuple(vae["V_PATCH_NUMS"]), audio_encoder=encoder)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ARTalkConfig":
        """Ours (field names) or the original's (AR_CONFIG / VAE_CONFIG)."""
        if "AR_CONFIG" in d:
            return cls.from_original(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise CheckpointError(f"unknown ARTalk config fields {sorted(unknown)}")
        return cls(**d)

    def with_(self, **changes: Any) -> "ARTalkConfig":
        return replace(self, **changes)
