"""Exports: a trained net -> `<name>.safetensors` + `<name>.json` (config) + `<name>.md` (card).

The safetensors file holds the bare state_dict (float32) and, in its metadata, the same JSON as
the sidecar, so a lone weights file is still self-describing. The JSON says what to build:
`kind` ("lstm", "vae" or "ar") and that kind's sizes; the card is for people (data, recipe,
size, wall time, metrics).

Shipped weights live in `talkinghead/weights/`; `load_shipped("lstm-arkit")` is the entry
point the model registry calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ..errors import CheckpointError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
META_KEY = "talkinghead"


def export(net: nn.Module, out: str | Path, meta: dict[str, Any], card: str | None = None) -> Path:
    """Write `out` (.safetensors), its `.json` sidecar and, given `card`, its `.md`."""
    from safetensors.torch import save_file
    out = Path(out).with_suffix(".safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().float().contiguous() if v.is_floating_point() else v.detach().cpu().contiguous()
             for k, v in net.state_dict().items()}
    text = json.dumps(meta, indent=2, sort_keys=True)
    save_file(state, str(out), metadata={META_KEY: text})
    out.with_suffix(".json").write_text(text + "\n")
    if card is not None:
        out.with_suffix(".md").write_text(card)
    return out


def read_export(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(state_dict, meta) of an export; meta from the sidecar JSON, else the file's metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"exported weights not found: {path}")
    try:
        state = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            stored = (f.metadata() or {}).get(META_KEY)
    except Exception as exc:  # safetensors raises several kinds for bad files
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    sidecar = path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else json.loads(stored or "{}")
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"bad config JSON for {path}: {exc}") from None
    if "kind" not in meta:
        raise CheckpointError(f"{path} has no talkinghead config (kind) in its sidecar or metadata")
    return state, meta


# -- kinds -------------------------------------------------------------------------------------

def lstm_meta(variant: str, **extra: Any) -> dict[str, Any]:
    from ..models.lstm import VARIANTS
    return {"kind": "lstm", "head": "arkit52", "variant": variant, "delay_steps": VARIANTS[variant].delay,
            "out_dim": 55, **extra}


def load_lstm(path: str | Path):
    """An exported LSTM -> LSTMMotionModel (strict load of the Audio2Feature state_dict)."""
    from ..models.lstm import Audio2Feature, LSTMMotionModel, load_strict
    state, meta = read_export(path)
    if meta["kind"] != "lstm":
        raise CheckpointError(f"{path} is a {meta['kind']!r} export, not an LSTM")
    net = Audio2Feature(int(meta.get("out_dim", 55)))
    load_strict(net, state, str(path))
    if meta.get("feature_norm"):  # our recipe's normalised front end (featnorm.py)
        from .featnorm import FeatureNorm, NormalizedLSTMModel
        return NormalizedLSTMModel(net, meta.get("variant", "v1"), FeatureNorm.from_json(meta["feature_norm"]))
    return LSTMMotionModel(net, meta.get("variant", "v1"))


def load_vae(path: str | Path):
    """An exported codec -> BitwiseVAE (eval mode)."""
    from ..models.artalk.config import ARTalkConfig
    from .vae import build_vae
    state, meta = read_export(path)
    if meta["kind"] != "vae":
        raise CheckpointError(f"{path} is a {meta['kind']!r} export, not a VAE")
    vae = build_vae(ARTalkConfig.from_dict(meta["artalk_config"]), state["motion_mean"], state["motion_std"])
    _load(vae, state, path)
    return vae.eval()


def load_ar(path: str | Path):
    """An exported generator -> BitwiseARModel with its fbank encoder and codec (eval mode)."""
    from ..models.artalk.config import ARTalkConfig
    from .ar import build_ar
    state, meta = read_export(path)
    if meta["kind"] != "ar":
        raise CheckpointError(f"{path} is a {meta['kind']!r} export, not an AR generator")
    cfg = ARTalkConfig.from_dict(meta["artalk_config"])
    net = build_ar(cfg, int(meta["encoder_hidden"]), state["basic_vae.motion_mean"],
                   state["basic_vae.motion_std"])
    _load(net, state, path)
    return net.eval()


def _load(net: nn.Module, state: dict[str, Tensor], path: str | Path) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "state_dict mismatch"
        raise CheckpointError(f"{path} does not fit its config: {first}") from None


LOADERS = {"lstm": load_lstm, "vae": load_vae, "ar": load_ar}


def load_export(path: str | Path):
    """Any export, by the `kind` in its config."""
    _, meta = read_export(path)
    return LOADERS[meta["kind"]](path)


def shipped_names() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def load_shipped(name: str = "lstm-arkit"):
    """Weights shipped with the package, by name (e.g. "lstm-arkit" -> LSTMMotionModel)."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"no shipped weights named {name!r}; available: {shipped_names()}")
    return load_export(path)


def model_card(name: str, meta: dict[str, Any], notes: str = "") -> str:
    """A Markdown card from an export's meta: what it is, data, recipe, size, time, metrics."""
    t = meta.get("training", {})
    res, data = t.get("result", {}), t.get("data", {})
    val = res.get("val", {})
    lines = [f"# {name}", "", f"Kind: `{meta.get('kind')}`. Built by `talkinghead train {meta.get('kind')}`.", "",
             "## Data", ""]
    lines += [f"- {k}: {v}" for k, v in data.items()]
    lines += ["", "## Recipe", "", "```json", json.dumps({"recipe": t.get("recipe"), "train": t.get("train_config")},
                                                      indent=1, sort_keys=True), "```", "",
              "## Training run", ""]
    for key in ("step", "wall_s", "train_s", "load_s", "windows_per_s", "audio_s_per_s"):
        if key in res:
            value = res[key]
            lines.append(f"- {key}: {value:.1f}" if isinstance(value, float) else f"- {key}: {value}")
    lines += ["", "## Validation (held-aside split)", ""]
    lines += [f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in val.items()]
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


# -- the 55-channel AR generator as a MotionModel ("ar-arkit-*") ------------------------------

def load_ar_arkit(path: str | Path, style_motion=None):
    """An AR export trained on arkit52 -> ARArkitModel (kind "ar" from the trainer, or
    "ar-arkit" as shipped); `style_motion` (Ts, 55) becomes the model's default style."""
    from ..models.artalk.arkit import ARArkitModel
    from ..models.artalk.config import ARTalkConfig
    from .ar import build_ar
    state, meta = read_export(path)
    if meta["kind"] not in ("ar", "ar-arkit"):
        raise CheckpointError(f"{path} is a {meta['kind']!r} export, not an arkit52 AR generator")
    cfg = ARTalkConfig.from_dict(meta["artalk_config"])
    if cfg.motion_dim != 55:
        raise CheckpointError(f"{path} is a {cfg.motion_dim}-channel generator, not arkit52 (55)")
    net = build_ar(cfg, int(meta["encoder_hidden"]), state["basic_vae.motion_mean"],
                   state["basic_vae.motion_std"])
    _load(net, state, path)
    return ARArkitModel(net.eval(), style_motion)


LOADERS["ar-arkit"] = load_ar_arkit
