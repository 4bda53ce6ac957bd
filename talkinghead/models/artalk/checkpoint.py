"""Reading and writing ARTalk checkpoints and style files.

`ARTalk_wav2vec.pt` is a flat state_dict (814 tensors, wav2vec2 included) saved with
torch.save. We also accept it wrapped as {"model": ...} or {"state_dict": ...}, optionally with
a "config" entry (ours or the original's AR_CONFIG/VAE_CONFIG). Without one, the sizes are read
from the tensor shapes; the only size shapes cannot tell is the codec's head count, taken as the
released 8 for a 512-wide codec (pass `config` for anything else). Loading is strict: any
missing, unexpected or mis-shaped key raises CheckpointError naming them.

Style files (`natural.pt`, ...) are a torch.save'd raw motion clip of 50 x 106.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor

from ...errors import CheckpointError, MotionFileError, reason
from ...checkpoints import check_state_dict
from .ar import BitwiseARModel
from .config import ARTalkConfig
from .model import ARTalkModel
from .wav2vec2 import canonical_keys, load_wav2vec2_dir

AUDIO_PREFIX = "audio_encoder."


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], ARTalkConfig | None]:
    """(flat state_dict, config stored alongside or None)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ARTalk checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # pickle / zip errors come in many types
        raise CheckpointError(f"cannot read ARTalk checkpoint {path}: {reason(exc)}") from None
    config = None
    if isinstance(obj, dict) and isinstance(obj.get("config"), dict):
        config = ARTalkConfig.from_dict(obj["config"])
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} is not an ARTalk state_dict (expected a dict of tensors)")
    return canonical_keys(obj), config


def infer_config(state: dict[str, Tensor]) -> ARTalkConfig:
    """Sizes from tensor shapes (see the module docstring for the one guess)."""
    try:
        E = state["null_style_cond"].shape[-1]
        levels = state["lvl_idx"][0].tolist()
        hidden = state["basic_vae.encoder.inp_mapping.0.weight"].shape[0]
        return ARTalkConfig(
            ar_width=E,
            ar_depth=_count(state, r"attn_blocks\.(\d+)\.attn\.query\.weight"),
            ar_heads=state["attn_blocks.0.attn.scale_mul_1H11"].shape[1],
            prev_ratio=state["prev_pos_embed"].shape[1] // state["pos_embed"].shape[1],
            audio_dim=state["attn_blocks.0.ada_lin.1.weight"].shape[1],
            motion_dim=state["basic_vae.motion_mean"].shape[0],
            code_dim=state["vqfeat_embed.weight"].shape[1],
            vae_hidden=hidden,
            vae_depth=_count(state, r"basic_vae\.encoder\.encoder_transformer\.(\d+)\.to_qkv\.weight"),
            vae_heads=8 if hidden == 512 else _no_heads(hidden),
            patch_nums=tuple(levels.count(s) for s in range(max(levels) + 1)),
            style_dim=state["style_cond_embed.weight"].shape[1],
            style_depth=_count(state, r"style_encoder\.encoder\.transformer\.layers\.(\d+)\.linear1\.weight"),
            style_ffn=state["style_encoder.encoder.transformer.layers.0.linear1.weight"].shape[0],
            style_pe_rows=state["style_encoder.PE.pe"].shape[1],
            audio_encoder="xls-r-300m" if any(k.startswith(AUDIO_PREFIX) for k in state) else None,
        )
    except KeyError as exc:
        raise CheckpointError(f"not an ARTalk checkpoint: key {exc} is missing") from None


def _count(state: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.fullmatch(pattern, k))}
    return len(found)


def _no_heads(hidden: int) -> int:
    raise CheckpointError(f"codec width {hidden} is not the released one; pass config= to say its heads")


def build_net(cfg: ARTalkConfig, state: dict[str, Tensor], pe_quirk: bool = True) -> BitwiseARModel:
    """Build on the meta device and adopt the checkpoint tensors (no double allocation)."""
    with torch.device("meta"):
        net = BitwiseARModel(cfg, pe_quirk=pe_quirk)
    expected = net.state_dict()
    check_state_dict(expected, state, "ARTalk checkpoint")
    state = {k: v.to(expected[k].dtype) for k, v in state.items()}
    net.load_state_dict(state, strict=True, assign=True)
    return net.eval()


def load_net(path: str | Path, config: ARTalkConfig | None = None,
             wav2vec2_dir: str | Path | None = None, pe_quirk: bool = True) -> BitwiseARModel:
    """The nn.Module of a checkpoint. `wav2vec2_dir` supplies the audio encoder from a local
    Hugging Face directory when the checkpoint has none (or replaces the one it has)."""
    state, stored = read_checkpoint(path)
    if wav2vec2_dir is not None:
        state = {k: v for k, v in state.items() if not k.startswith(AUDIO_PREFIX)}
    cfg = config or stored or infer_config(state)
    if wav2vec2_dir is not None:
        cfg = cfg.with_(audio_encoder=None)
    net = build_net(cfg, state, pe_quirk)
    if wav2vec2_dir is not None:
        encoder = load_wav2vec2_dir(wav2vec2_dir)
        if encoder.config.hidden_size != cfg.audio_dim:
            raise CheckpointError(f"wav2vec2 in {wav2vec2_dir} has width {encoder.config.hidden_size}, "
                                  f"the ARTalk model expects {cfg.audio_dim}")
        net.audio_encoder = encoder
    return net


def load_artalk(path: str | Path, device: str | torch.device = "cpu",
                config: ARTalkConfig | None = None, wav2vec2_dir: str | Path | None = None,
                style: str | Path | None = None, **options) -> ARTalkModel:
    """ARTalk_wav2vec.pt (or one of ours) -> ready MotionModel on `device`.

    `options` go to ARTalkModel (use_cache, postprocess, fix_pose, clip_length).
    """
    net = load_net(path, config, wav2vec2_dir)
    if net.audio_encoder is None:
        raise CheckpointError(f"{path} has no audio_encoder.* weights; pass wav2vec2_dir=")
    style_motion = load_style(style) if style is not None else None
    return ARTalkModel(net, style_motion=style_motion, device=device, **options)


def save_artalk(net: BitwiseARModel, path: str | Path, with_config: bool = False) -> None:
    """Flat state_dict as the original writes it; `with_config` wraps it with our config."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "config": net.cfg.to_dict()} if with_config else state, path)


def load_style(path: str | Path) -> Tensor:
    """A style file -> raw motion (frames, 106) float32."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"ARTalk style file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MotionFileError(f"cannot read ARTalk style file {path}: {reason(exc)}") from None
    if isinstance(obj, dict) and len(obj) == 1:
        obj = next(iter(obj.values()))
    if not isinstance(obj, Tensor):
        raise MotionFileError(f"{path}: expected a tensor of raw motion, got {type(obj).__name__}")
    x = obj.float()
    if x.dim() == 3 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2 or x.shape[1] != 106 or not 1 <= x.shape[0] < 600:
        raise MotionFileError(f"{path}: style motion must be (frames < 600, 106), got {tuple(obj.shape)}")
    if not torch.isfinite(x).all():
        raise MotionFileError(f"{path}: style motion contains NaN or infinity")
    return x
