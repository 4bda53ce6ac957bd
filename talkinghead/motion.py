"""`Motion`: the one data type between motion models and renderers.

A float32 array T x C sampled at `fps` (25 by default), the names of its C channels, and the
rig they belong to. Anything else a stage wants to keep (rig landmarks, jawOpen) travels in
`extras`. Saved as `.npz` with keys `values`, `channels`, `fps`, `rig` (+ extras), and exported
to ARKit CSV in the Live Link Face layout or to JSON.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import MotionFileError

# The 52 ARKit blendshapes, in the order of Live Link Face's CSV (the de facto interchange order).
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawRight", "jawLeft", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
HEAD_ROTATION: tuple[str, ...] = ("headPitch", "headYaw", "headRoll")
ARKIT52_CHANNELS: tuple[str, ...] = ARKIT_BLENDSHAPES + HEAD_ROTATION

# Live Link Face writes 61 curves: the 52 shapes, head yaw/pitch/roll, then both eyes' rotations.
_LIVE_LINK_TAIL = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                   "RightEyeYaw", "RightEyePitch", "RightEyeRoll")


@dataclass
class Motion:
    """Facial motion on a named rig: `values` is (T, C) float32 at `fps` frames per second."""

    values: np.ndarray
    channels: tuple[str, ...]
    rig: str
    fps: float = 25.0
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        self.channels = tuple(str(c) for c in self.channels)
        if self.values.ndim != 2 or self.values.shape[1] != len(self.channels):
            raise MotionFileError(
                f"motion values must be T x {len(self.channels)} for {len(self.channels)} channels, "
                f"got shape {self.values.shape}")
        if not np.all(np.isfinite(self.values)):
            raise MotionFileError("motion values contain NaN or infinity")
        if len(set(self.channels)) != len(self.channels):
            twice = sorted({c for c in self.channels if self.channels.count(c) > 1})
            raise MotionFileError(f"motion channels must be unique; repeated: {twice}")
        if not isinstance(self.rig, str) or not self.rig:
            raise MotionFileError(f"motion rig must be a non-empty name, got {self.rig!r}")
        if not (0 < self.fps <= 1000):
            raise MotionFileError(f"motion fps must be in (0, 1000], got {self.fps}")

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    def channel(self, name: str) -> np.ndarray:
        """The (T,) curve of one channel, by name."""
        try:
            return self.values[:, self.channels.index(name)]
        except ValueError:
            raise MotionFileError(f"rig {self.rig!r} has no channel {name!r}") from None

    def slice(self, start: int, stop: int) -> "Motion":
        """Frames [start, stop) with per-frame extras cut the same way."""
        extras = {k: v[start:stop] if len(v) == len(self) else v for k, v in self.extras.items()}
        return Motion(self.values[start:stop], self.channels, self.rig, self.fps, extras)

    # -- files -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write `.npz` (values, channels, fps, rig, and every extra under its own key).

        The name must end in .npz: numpy would silently append it to any other name, and the
        file would not be where the caller (or the CLI's "wrote ...") says."""
        check_motion_path(path)
        reserved = {"values", "channels", "fps", "rig"}
        clash = reserved & set(self.extras)
        if clash:
            raise MotionFileError(f"extras may not use reserved keys {sorted(clash)}")
        with _writing(path), open(path, "wb") as file:  # a file object: numpy adds no suffix
            np.savez_compressed(file, values=self.values, channels=np.array(self.channels),
                                fps=np.float32(self.fps), rig=np.array(self.rig), **self.extras)

    @classmethod
    def load(cls, path: str | Path) -> "Motion":
        """Read and validate a `.npz` written by `save` (or by any tool using the same keys)."""
        path = Path(path)
        if not path.is_file():
            raise MotionFileError(f"motion file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as exc:  # zip/npy parse errors come in many types
            raise MotionFileError(f"cannot read motion file {path}: {exc}") from None
        missing = [k for k in ("values", "channels", "fps", "rig") if k not in arrays]
        if missing:
            raise MotionFileError(f"motion file {path} lacks keys {missing}")
        values = arrays.pop("values")
        channels = tuple(arrays.pop("channels").tolist())
        fps = float(arrays.pop("fps"))
        rig = str(arrays.pop("rig"))
        return cls(values, channels, rig, fps, arrays)

    def to_json(self, path: str | Path) -> None:
        """JSON with fps, rig, channel names and one list of numbers per frame."""
        doc = {"fps": self.fps, "rig": self.rig, "channels": list(self.channels),
               "frames": np.round(self.values, 6).tolist()}
        with _writing(path):
            Path(path).write_text(json.dumps(doc))

    def to_glb(self, path: str | Path) -> Path:
        """glTF 2.0 binary: the arkit52 face with ARKit-named morph targets, this motion as its
        animation (see sinks/gltf.py). Needs the arkit52 rig."""
        from .sinks.gltf import write_glb
        return write_glb(self, path)

    def to_arkit_csv(self, path: str | Path) -> None:
        """Live Link Face CSV: Timecode, BlendShapeCount, 52 shapes, head and eye rotations.

        Needs an ARKit-compatible rig (arkit52). Head rotation is written in radians as Live
        Link Face does; eye rotations are zero because no rig channel carries them.
        """
        missing = [c for c in ARKIT_BLENDSHAPES if c not in self.channels]
        if missing:
            raise MotionFileError(
                f"ARKit CSV needs the arkit52 rig; rig {self.rig!r} lacks {missing[:3]}...")
        header = ["Timecode", "BlendShapeCount"]
        header += [c[0].upper() + c[1:] for c in ARKIT_BLENDSHAPES] + list(_LIVE_LINK_TAIL)
        shapes = np.stack([self.channel(c) for c in ARKIT_BLENDSHAPES], axis=1)
        head = np.zeros((len(self), 3), np.float32)
        for j, name in enumerate(("headYaw", "headPitch", "headRoll")):
            if name in self.channels:
                head[:, j] = self.channel(name)
        eyes = np.zeros((len(self), 6), np.float32)
        rows = [",".join(header)]
        for t in range(len(self)):
            numbers = np.concatenate([shapes[t], head[t], eyes[t]])
            rows.append(f"{_timecode(t, self.fps)},{len(numbers)},"
                        + ",".join(f"{x:.6f}" for x in numbers))
        with _writing(path):
            Path(path).write_text("\n".join(rows) + "\n")


def check_motion_path(path: str | Path) -> Path:
    """`path` as a Path, or a MotionFileError unless it ends in .npz (see `Motion.save`)."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise MotionFileError(f"cannot write {path}: motion files end in .npz")
    return path


@contextmanager
def _writing(path: str | Path) -> Iterator[None]:
    """Turn a failed write (missing folder, no permission, full disk) into a one-line error."""
    try:
        yield
    except OSError as exc:
        raise MotionFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def _timecode(frame: int, fps: float) -> str:
    """HH:MM:SS:FF.mmm as Live Link Face writes it (FF = frame within the second)."""
    seconds = frame / fps
    whole = int(seconds)
    ff = frame - int(round(whole * fps))
    ms = int(round((seconds - whole) * 1000)) % 1000
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:{ff:02d}.{ms:03d}"
