"""Trainers for the toolkit's learned motion models (see docs/training.md).

`data` (corpus -> in-memory features -> windowed batches), `loop` (the shared seeded, resumable,
DDP-aware loop), one module per model (`lstm`, `vae`, `ar`), `export` (safetensors + config +
model card, `load_shipped`) and `cli` (the `talkinghead train` commands).
"""

__all__ = ["TrainConfig", "load_export", "load_shipped", "read_export", "train"]


def __getattr__(name: str):
    """Import torch-heavy parts on first use, so `talkinghead --help` starts fast."""
    if name in ("load_export", "load_shipped", "read_export"):
        from . import export
        return getattr(export, name)
    if name in ("TrainConfig", "train"):
        from . import loop
        return getattr(loop, name)
    raise AttributeError(name)
