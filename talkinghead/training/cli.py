"""`talkinghead train lstm|vae|ar`: one command per trainer, the same options for all.

    talkinghead train lstm --data corpus/ --out runs/lstm --steps 3000
    talkinghead train vae  --data corpus/ --out runs/vae --config vae.json
    talkinghead train ar   --data corpus/ --out runs/ar --config '{"vae": "runs/vae/vae.safetensors"}'
    torchrun --nproc_per_node 4 -m talkinghead train lstm --data corpus/ --out runs/lstm

`--config` is a JSON file (or inline JSON) whose keys are the loop's (TrainConfig), the
trainer's recipe, or the data options (val_fraction, augment_copies, max_utterances, augment: an
object of `talkinghead.corpus.augment.AugmentConfig` fields to override); an unknown
key is an error. `--resume` continues `OUT/checkpoint.pt`. When training ends the net is
exported to `OUT/<trainer>.safetensors` + `.json` + `.md`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from .data import DataError  # torch-free: the command line stays quick to start

if TYPE_CHECKING:
    from .loop import TrainConfig

app = typer.Typer(help="Train motion models on corpora (shard format v1).", no_args_is_help=True)

DATA_KEYS = {"val_fraction": 0.05, "augment_copies": 2, "max_utterances": None, "augment": None}
DEFAULT_TRAIN = {
    "lstm": {"lr": 1e-3, "batch_size": 32},
    "vae": {"lr": 5e-4, "batch_size": 32},
    "ar": {"lr": 3e-4, "batch_size": 16},
}


def read_config(config: str | None) -> dict[str, Any]:
    """A JSON file path or an inline JSON object -> dict."""
    if not config:
        return {}
    text = Path(config).read_text() if Path(config).is_file() else config
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"--config is neither a JSON file nor JSON: {exc}") from None
    if not isinstance(value, dict):
        raise DataError("--config must hold a JSON object")
    return value


def split_config(kind: str, cfg: dict[str, Any], recipe_cls: type) -> tuple[TrainConfig, Any, dict]:
    """(TrainConfig, recipe, data options) from one flat dict; unknown keys fail loudly."""
    from .loop import TrainConfig
    train_keys = {f.name for f in fields(TrainConfig)}
    recipe_keys = {f.name for f in fields(recipe_cls)}
    unknown = sorted(set(cfg) - train_keys - recipe_keys - set(DATA_KEYS))
    if unknown:
        raise DataError(f"unknown {kind} config keys {unknown}")
    train_cfg = TrainConfig.from_dict({**DEFAULT_TRAIN[kind], **{k: v for k, v in cfg.items() if k in train_keys}})
    recipe = recipe_cls(**{k: v for k, v in cfg.items() if k in recipe_keys})
    data = {k: cfg.get(k, v) for k, v in DATA_KEYS.items()}
    return train_cfg, recipe, data


def run(kind: str, data: list[Path], config: str | None, out: Path, steps: int | None,
        resume: bool, progress: bool = True) -> dict[str, Any]:
    """Load the corpora, train `kind`, export; returns the loop's result plus export paths."""
    from . import ar, export, lstm, vae
    from .data import default_augment, load_clips, read_corpus
    from .loop import is_main_process, train
    recipes = {"lstm": lstm.LSTMRecipe, "vae": vae.VAERecipe, "ar": ar.ARRecipe}
    tasks = {"lstm": lstm.LSTMTask, "vae": vae.VAETask, "ar": ar.ARTask}
    train_cfg, recipe, opts = split_config(kind, read_config(config), recipes[kind])
    if steps is not None:
        train_cfg.steps = steps
    t0 = time.perf_counter()
    augment = (default_augment(train_cfg.seed, opts["augment"])
               if kind != "vae" and opts["augment_copies"] else None)
    clips = load_clips(read_corpus(data), opts["val_fraction"], augment, opts["augment_copies"],
                       opts["max_utterances"])
    load_s = time.perf_counter() - t0
    task = tasks[kind](clips, recipe, train_cfg.batch_size)
    result = train(task, train_cfg, out, resume=resume, progress=progress)
    result["load_s"] = load_s
    if not is_main_process():
        return result
    meta = export_meta(kind, task, train_cfg, data, result)
    path = export.export(export_net(kind, task), out / f"{kind}.safetensors", meta,
                         export.model_card(kind, meta))
    result["export"] = str(path)
    (out / "result.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def export_net(kind: str, task):
    return {"lstm": lambda: task.module.net, "vae": lambda: task.module.vae,
            "ar": lambda: task.module.net}[kind]()


def export_meta(kind: str, task, train_cfg: TrainConfig, data: list[Path],
                result: dict[str, Any]) -> dict[str, Any]:
    from .ar import ar_meta
    from .export import lstm_meta
    if kind == "lstm":
        meta = lstm_meta(task.recipe.variant)
        if task.norm is not None:
            meta["feature_norm"] = task.norm.to_json()
    elif kind == "vae":
        meta = {"kind": "vae", "artalk_config": task.cfg.to_dict()}
    else:
        meta = ar_meta(task)
    meta["training"] = {"recipe": asdict(task.recipe), "train_config": asdict(train_cfg),
                        "data": {"corpora": [str(d) for d in data], **task.clips.describe()},
                        "result": {k: v for k, v in result.items() if k != "export"}}
    return meta


def _command(kind: str):
    def command(
        data: list[Path] = typer.Option(..., "--data", help="corpus folder (repeat for several)"),
        out: Path = typer.Option(..., "--out", help="run folder: checkpoint, metrics, export"),
        config: Optional[str] = typer.Option(None, "--config", help="JSON file or inline JSON"),
        steps: Optional[int] = typer.Option(None, "--steps", help="total optimiser steps"),
        resume: bool = typer.Option(False, "--resume", help="continue OUT/checkpoint.pt"),
    ) -> None:
        result = run(kind, data, config, out, steps, resume)
        typer.echo(json.dumps({k: result.get(k) for k in ("step", "wall_s", "val", "export")}, default=str))
    command.__doc__ = f"Train the {kind} model."
    return command


for _kind in ("lstm", "vae", "ar"):
    app.command(_kind)(_command(_kind))


@app.command("renderer")
def renderer_command(
    avatar_dir: Path = typer.Argument(..., help="prepared avatar folder (talkinghead prepare)"),
    video: Path = typer.Option(..., "--video", help="talking video of the same person (30-60 s, one face)"),
    out: Optional[Path] = typer.Option(None, "--out", help="run folder (default AVATAR_DIR/renderer_run)"),
    config: Optional[str] = typer.Option(None, "--config", help="JSON file or inline JSON"),
    steps: Optional[int] = typer.Option(None, "--steps", help="total optimiser steps (default 2000)"),
    resume: bool = typer.Option(False, "--resume", help="continue OUT/checkpoint.pt"),
) -> None:
    """Train the avatar's own DINet_mini mouth; writes AVATAR_DIR/renderer.safetensors."""
    from .renderer import train_renderer
    result = train_renderer(avatar_dir, video, out, read_config(config), steps, resume)
    typer.echo(json.dumps({k: result.get(k) for k in ("step", "wall_s", "val", "export")}, default=str))
