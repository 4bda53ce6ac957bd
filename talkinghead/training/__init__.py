"""Trainers for the toolkit's learned motion models (see docs/training.md).

`data` (corpus -> in-memory features -> windowed batches), `loop` (the shared seeded, resumable,
DDP-aware loop), one module per model (`lstm`, `vae`, `ar`), `export` (safetensors + config +
model card, `load_shipped`) and `cli` (the `talkinghead train` commands).
"""

from .export import load_export, load_shipped, read_export
from .loop import TrainConfig, train

__all__ = ["TrainConfig", "load_export", "load_shipped", "read_export", "train"]
