"""Rigs: named parameterisations of a face. `load_rig("arkit52")` is the built-in default."""

from __future__ import annotations

from functools import lru_cache

from ..errors import MotionFileError

RIGS = ("arkit52",)


@lru_cache(maxsize=None)
def load_rig(name: str = "arkit52"):
    """The rig called `name` (built once per process; treat it as read-only)."""
    if name == "arkit52":
        from .arkit52 import Arkit52Rig

        return Arkit52Rig()
    raise MotionFileError(f"unknown rig {name!r}; built-in rigs: {', '.join(RIGS)}")
