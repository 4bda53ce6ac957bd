"""Rigs: named parameterisations of a face. `load_rig("arkit52")` is the built-in default.

- arkit52: built in (MediaPipe topology, our own 52-shape basis + head rotation).
- flame: the user's FLAME model file (generic_model.pkl or ARTalk's FLAME_with_eye.pt); never shipped.
- dhlive6: DH_live's six mouth weights; no 3D geometry of its own (see rigs/dhlive6.py).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import MotionFileError

RIGS = ("arkit52", "flame", "dhlive6")


@lru_cache(maxsize=None)
def load_rig(name: str = "arkit52", path: str | Path | None = None):
    """The rig called `name` (built once per process; treat it as read-only)."""
    if name == "arkit52":
        from .arkit52 import Arkit52Rig

        return Arkit52Rig()
    if name == "flame":
        if path is None:
            raise MotionFileError("the flame rig needs your FLAME model file (--flame PATH)")
        from .flame import FlameRig

        return FlameRig.from_file(path)
    if name == "dhlive6":
        raise MotionFileError("the dhlive6 rig has no 3D geometry; render it with a photo avatar")
    raise MotionFileError(f"unknown rig {name!r}; rigs: {', '.join(RIGS)}")
