"""ARTalk's audio encoder: transformers' Wav2Vec2Model (XLS-R 300M architecture) + one quirk.

The architecture is built in code from a Wav2Vec2Config (nothing is downloaded); the weights
come from the ARTalk checkpoint (`audio_encoder.*`) or from a user's local Hugging Face
directory. The quirk: every 4-second window is normalised by its own mean and unbiased std
(+1e-6), zero padding included, and the encoder runs without an attention mask.

Weight norm has two key spellings: `conv.weight_g/weight_v` (old `nn.utils.weight_norm`) and
`conv.parametrizations.weight.original0/original1` (parametrised, what transformers builds
here). `canonical_keys` maps the old one to the new one so both load strictly.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor
from transformers import Wav2Vec2Config, Wav2Vec2Model

from ...errors import CheckpointError
from ...checkpoints import check_state_dict

XLSR_300M: dict = dict(
    vocab_size=32, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
    intermediate_size=4096, hidden_act="gelu", layer_norm_eps=1e-5,
    feat_extract_norm="layer", feat_extract_activation="gelu", conv_dim=(512,) * 7,
    conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_bias=True,
    num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, do_stable_layer_norm=True,
    apply_spec_augment=True, mask_time_prob=0.075, mask_feature_prob=0.0, add_adapter=False,
    hidden_dropout=0.1, attention_dropout=0.1, feat_proj_dropout=0.1, layerdrop=0.1,
    activation_dropout=0.0,
)
# Ours, for tests and benchmarks: the same module tree as XLS-R at toy size (hidden 32).
TINY: dict = dict(XLSR_300M, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                  num_conv_pos_embedding_groups=2)
CONFIGS = {"xls-r-300m": XLSR_300M, "tiny": TINY}

# Heads of pre-training / CTC checkpoints that a bare Wav2Vec2Model does not have.
_FOREIGN_PREFIXES = ("quantizer.", "project_q.", "project_hid.", "lm_head.", "dropout_features")


class ARTalkWav2Vec2(Wav2Vec2Model):
    """Wav2Vec2Model whose `features` applies ARTalk's per-window normalisation."""

    def features(self, audio: Tensor) -> Tensor:
        """(B, n) 16 kHz windows -> last hidden state (B, frames, hidden); 64000 -> 199."""
        x = (audio - audio.mean(dim=-1, keepdim=True)) / (audio.std(dim=-1, keepdim=True) + 1e-6)
        return super().forward(x).last_hidden_state


def make_config(spec: str | dict) -> Wav2Vec2Config:
    """A named architecture ("xls-r-300m") or a dict of Wav2Vec2Config fields."""
    if isinstance(spec, str):
        if spec not in CONFIGS:
            raise CheckpointError(f"unknown wav2vec2 architecture {spec!r}; known: {sorted(CONFIGS)}")
        spec = CONFIGS[spec]
    return Wav2Vec2Config(**spec)


def build_wav2vec2(spec: str | dict | Wav2Vec2Config) -> ARTalkWav2Vec2:
    config = spec if isinstance(spec, Wav2Vec2Config) else make_config(spec)
    return ARTalkWav2Vec2(config).eval()


def canonical_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename old-style weight-norm keys (weight_g / weight_v) to the parametrised spelling."""
    out = {}
    for key, value in state.items():
        if key.endswith("conv.weight_g"):
            key = key[:-len("weight_g")] + "parametrizations.weight.original0"
        elif key.endswith("conv.weight_v"):
            key = key[:-len("weight_v")] + "parametrizations.weight.original1"
        out[key] = value
    return out


def load_wav2vec2_dir(path: str | Path) -> ARTalkWav2Vec2:
    """A local Hugging Face directory (config.json + model.safetensors or pytorch_model.bin).

    Accepts bare Wav2Vec2Model checkpoints and pre-training/CTC ones (prefix `wav2vec2.`, extra
    heads dropped). Every weight of the encoder must be present.
    """
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise CheckpointError(f"wav2vec2 directory {path} has no config.json")
    fields = json.loads(cfg_file.read_text())
    config = Wav2Vec2Config(**{k: v for k, v in fields.items() if k != "architectures"})
    state = _read_weights(path)
    state = {k.removeprefix("wav2vec2."): v for k, v in state.items()}
    state = {k: v for k, v in canonical_keys(state).items() if not k.startswith(_FOREIGN_PREFIXES)}
    model = build_wav2vec2(config)
    _load_strict(model, state, f"wav2vec2 weights in {path}")
    return model


def _read_weights(path: Path) -> dict[str, Tensor]:
    if (path / "model.safetensors").is_file():
        from safetensors.torch import load_file
        return load_file(str(path / "model.safetensors"))
    if (path / "pytorch_model.bin").is_file():
        return torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise CheckpointError(f"wav2vec2 directory {path} has no model.safetensors or pytorch_model.bin")


def _load_strict(model: torch.nn.Module, state: dict[str, Tensor], what: str) -> None:
    check_state_dict(model.state_dict(), state, what)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
