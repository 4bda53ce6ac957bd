"""arkit52 motion -> one self-contained glTF 2.0 binary (.glb): the rig's face with its 52 ARKit
blendshapes as named morph targets, and the motion as an animation.

Game engines, Blender and three.js import it directly, so the head (or just its curves: the
morph target names are ARKit's, which is what avatar formats expect) moves without our
renderer. The rig maps onto glTF without approximation: our blendshapes are linear deltas
(glTF morph targets) and head rotation turns the face about the neck pivot (a node placed at the
pivot, with positions stored relative to it and an animated rotation). Axes agree too: both are
right-handed, metres, +y up, +z toward the viewer.

Layout: one mesh (468 vertices with smooth normals and the renderer's vertex colours; the
triangles are MediaPipe's, derived at run time as for rendering), 52 targets (position and
normal deltas), names in `mesh.extras.targetNames` (the convention Blender and three.js read);
one node; one animation with a morph-weight channel and a rotation channel, linear, one key per
frame. glTF has no audio: keep the wav beside it. The file is written whole (a 10-minute motion
is ~3 MB of keys).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..errors import MotionFileError
from ..motion import ARKIT_BLENDSHAPES, Motion

FLOAT, UINT = 5126, 5125            # accessor component types
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
_MAGIC, _JSON, _BIN = 0x46546C67, 0x4E4F534A, 0x004E4942


def write_glb(motion: Motion, path: str | Path) -> Path:
    """Write `motion` (rig arkit52) as an animated .glb at `path`; returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise MotionFileError(f"cannot write {path}: glTF binaries end in .glb")
    if motion.rig != "arkit52":
        raise MotionFileError(f"glTF export needs the arkit52 rig; this motion is on {motion.rig!r}")
    if len(motion) == 0:
        raise MotionFileError("glTF export needs at least one frame; the motion is empty")
    from .. import __version__
    from ..rigs import load_rig
    doc, blob = _Builder().build(load_rig("arkit52"), motion, f"talkinghead {__version__}")
    try:
        path.write_bytes(_glb(doc, blob))
    except OSError as exc:
        raise MotionFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


class _Builder:
    """Accumulates binary arrays (4-byte aligned) and the accessors that describe them."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, array: np.ndarray, kind: str, target: int | None = None,
            bounds: bool = False) -> int:
        """Append `array` (float32 or uint32, rows = elements) -> its accessor index."""
        data = np.ascontiguousarray(array)
        raw = data.tobytes()
        view = {"buffer": 0, "byteOffset": self.size, "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.chunks.append(raw + b"\0" * (-len(raw) % 4))
        self.size += len(self.chunks[-1])
        self.views.append(view)
        flat = data.reshape(len(data), -1)
        accessor = {"bufferView": len(self.views) - 1, "componentType": UINT if data.dtype == np.uint32 else FLOAT,
                    "count": int(len(data)), "type": kind}
        if bounds:  # required for POSITION attributes (targets too) and animation inputs
            accessor["min"] = [float(x) for x in flat.min(axis=0)]
            accessor["max"] = [float(x) for x in flat.max(axis=0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1

    def build(self, rig, motion: Motion, generator: str) -> tuple[dict, bytes]:
        from ..render.raster import vertex_normals
        tris = np.asarray(rig.triangles, np.int64)
        local = rig.neutral - rig.pivot  # positions about the pivot; the node sits at the pivot
        normals = vertex_normals(local, tris)
        attributes = {
            "POSITION": self.add(local.astype(np.float32), "VEC3", ARRAY_BUFFER, bounds=True),
            "NORMAL": self.add(normals.astype(np.float32), "VEC3", ARRAY_BUFFER),
            "COLOR_0": self.add(rig.vertex_colors().astype(np.float32), "VEC3", ARRAY_BUFFER),
        }
        targets = []
        for delta in rig.basis:
            moved = vertex_normals(local + delta, tris)
            targets.append({"POSITION": self.add(delta.astype(np.float32), "VEC3", ARRAY_BUFFER, bounds=True),
                            "NORMAL": self.add((moved - normals).astype(np.float32), "VEC3", ARRAY_BUFFER)})
        indices = self.add(tris.astype(np.uint32).reshape(-1), "SCALAR", ELEMENT_ARRAY_BUFFER)
        times = self.add(np.arange(len(motion), dtype=np.float32) / np.float32(motion.fps), "SCALAR",
                         bounds=True)
        weights = np.stack([motion.channel(c) for c in ARKIT_BLENDSHAPES], axis=1)
        head = np.stack([motion.channel(c) for c in ("headPitch", "headYaw", "headRoll")], axis=1)
        samplers = [
            {"input": times, "output": self.add(weights.astype(np.float32).reshape(-1), "SCALAR"),
             "interpolation": "LINEAR"},
            {"input": times, "output": self.add(head_quaternions(head), "VEC4"), "interpolation": "LINEAR"},
        ]
        names = list(ARKIT_BLENDSHAPES)
        doc = {
            "asset": {"version": "2.0", "generator": generator},
            "scene": 0,
            "scenes": [{"nodes": [0]}],
            "nodes": [{"name": "head", "mesh": 0, "translation": [float(x) for x in rig.pivot]}],
            "meshes": [{"name": "arkit52", "weights": [0.0] * len(names), "extras": {"targetNames": names},
                        "primitives": [{"attributes": attributes, "indices": indices, "material": 0,
                                        "targets": targets, "mode": 4}]}],
            "materials": [{"name": "skin", "pbrMetallicRoughness": {
                "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.7}}],
            "animations": [{"name": "talk", "samplers": samplers, "channels": [
                {"sampler": 0, "target": {"node": 0, "path": "weights"}},
                {"sampler": 1, "target": {"node": 0, "path": "rotation"}}]}],
            "buffers": [{"byteLength": self.size}],
            "bufferViews": self.views,
            "accessors": self.accessors,
        }
        return doc, b"".join(self.chunks)


def head_quaternions(angles: np.ndarray) -> np.ndarray:
    """(T, 3) pitch, yaw, roll -> (T, 4) float32 unit quaternions (x, y, z, w) of the rig's
    rotation, signs chosen so consecutive keys are in the same hemisphere (linear keys would
    otherwise spin the long way round)."""
    from ..rigs.arkit52 import rotation
    quat = _quaternions(rotation(angles[:, 0], angles[:, 1], angles[:, 2]))
    for t in range(1, len(quat)):
        if np.dot(quat[t], quat[t - 1]) < 0:
            quat[t] = -quat[t]
    return quat.astype(np.float32)


def _quaternions(r: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation matrices -> (T, 4) (x, y, z, w), from the largest of the four
    candidate diagonals for numerical safety."""
    out = np.empty((len(r), 4))
    for t, m in enumerate(r):
        trace = m[0, 0] + m[1, 1] + m[2, 2]
        if trace > 0:
            s = 2.0 * np.sqrt(1.0 + trace)
            q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
        else:
            i = int(np.argmax(np.diag(m)))
            j, k = (i + 1) % 3, (i + 2) % 3
            s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
            q = [0.0] * 4
            q[i], q[j], q[k] = s / 4, (m[j, i] + m[i, j]) / s, (m[k, i] + m[i, k]) / s
            q[3] = (m[k, j] - m[j, k]) / s
        out[t] = q
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _glb(doc: dict, blob: bytes) -> bytes:
    """The binary container: 12-byte header, a JSON chunk (space-padded), a BIN chunk."""
    text = json.dumps(doc, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return (struct.pack("<III", _MAGIC, 2, total) + struct.pack("<II", len(text), _JSON) + text
            + struct.pack("<II", len(blob), _BIN) + blob)


def read_glb(path: str | Path) -> tuple[dict, bytes]:
    """(JSON document, BIN chunk) of a .glb, checking the container (for tests and tools)."""
    data = Path(path).read_bytes()
    if len(data) < 20:
        raise MotionFileError(f"{path} is too short to be a glTF binary")
    magic, version, total = struct.unpack_from("<III", data)
    if magic != _MAGIC or version != 2 or total != len(data):
        raise MotionFileError(f"{path} is not a glTF 2.0 binary")
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != _JSON:
        raise MotionFileError(f"{path}: the first chunk is not JSON")
    doc = json.loads(data[20:20 + length])
    rest = 20 + length
    blob = b""
    if rest < len(data):
        blob_length, kind = struct.unpack_from("<II", data, rest)
        if kind != _BIN:
            raise MotionFileError(f"{path}: the second chunk is not BIN")
        blob = data[rest + 8:rest + 8 + blob_length]
    return doc, blob


def accessor_array(doc: dict, blob: bytes, index: int) -> np.ndarray:
    """The numbers of accessor `index`, shaped (count, components)."""
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
    dtype = np.uint32 if acc["componentType"] == UINT else np.float32
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    count = acc["count"] * width
    if start + count * 4 > view.get("byteOffset", 0) + view["byteLength"]:
        raise MotionFileError(f"accessor {index} runs past its buffer view")
    return np.frombuffer(blob, dtype, count, start).reshape(acc["count"], width)
