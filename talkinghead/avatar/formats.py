"""DH_live mini avatar files: `combined_data.json.gz` (spec-dhlive §8.1) and the OBJ meshes.

`MiniAvatarData` is the in-memory form used by the renderer; `read_combined_data` and
`write_combined_data` convert from and to DH_live's gzip JSON (version 1, crop size 184), so
avatars prepared by either implementation play in the other's runtime.
"""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkinghead.errors import RenderError

FORMAT_VERSION = 1
CROP_SIZE = 184
N_WRAP_POINTS = 209


class AvatarFileError(RenderError):
    """An avatar file is missing, not DH_live's format, or inconsistent."""


@dataclass
class AvatarFrame:
    """One video frame: square mouth rect (video px), pose M (canonical -> crop 184), wrap landmarks [209,2]."""

    rect: tuple[int, int, int, int]
    matrix: np.ndarray
    points: np.ndarray


@dataclass
class MiniAvatarData:
    """Everything DH_live mini stores per avatar (the frames themselves live in the video)."""

    wrap_verts: np.ndarray            # [267, 5] x, y, z, category, index (canonical space)
    wrap_faces: np.ndarray            # [460, 3] zero-based
    ref_data: np.ndarray              # [80] style (64) + luminance grid (16)
    frames: list[AvatarFrame]
    uid: str = field(default_factory=lambda: "matesx_" + str(uuid.uuid4()))
    authorized: bool = False

    @property
    def style(self) -> np.ndarray:
        return np.asarray(self.ref_data[:64], np.float32)


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (all numbers of each `v` line) and zero-based triangles of an OBJ file."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise AvatarFileError(f"cannot read mesh {path}: {exc.strerror}") from None
    return parse_obj_lines(lines, str(path))


def parse_obj_lines(lines: list[str], source: str) -> tuple[np.ndarray, np.ndarray]:
    verts, faces = [], []
    try:
        for line in lines:
            parts = line.split()
            if parts[:1] == ["v"]:
                verts.append([float(v) for v in parts[1:]])
            elif parts[:1] == ["f"]:
                faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    except ValueError:
        raise AvatarFileError(f"malformed OBJ data in {source}") from None
    return np.asarray(verts, np.float64), np.asarray(faces, np.int64).reshape(-1, 3)


def wrap_obj_lines(verts5: np.ndarray, faces: np.ndarray) -> list[str]:
    """DH_live's textual wrap mesh: `v x y z cat idx` (3/3/3/2/0 decimals) then 1-based `f` lines."""
    vs = ["v %.3f %.3f %.3f %.2f %.0f\n" % tuple(v) for v in verts5]
    fs = ["f %d %d %d\n" % tuple(f + 1) for f in faces]
    return vs + fs


def _frame_json(frame: AvatarFrame) -> dict:
    mat = [round(float(v), 5) for v in np.asarray(frame.matrix).T.reshape(-1)]
    pts = [round(float(v), 1) for v in np.asarray(frame.points).reshape(-1)]
    return {"rect": [int(v) for v in frame.rect], "points": mat + pts}


def _frame_from_json(entry: dict, source: str) -> AvatarFrame:
    points = np.asarray(entry.get("points", []), np.float64)
    rect = entry.get("rect", [])
    if points.shape != (16 + 2 * N_WRAP_POINTS,) or len(rect) != 4:
        raise AvatarFileError(f"{source}: a json_data frame needs 4 rect values and 434 points")
    return AvatarFrame(tuple(int(v) for v in rect), points[:16].reshape(4, 4).T.copy(), points[16:].reshape(-1, 2))


def write_combined_data(data: MiniAvatarData, path: str | Path) -> None:
    """Write DH_live's `combined_data.json.gz`."""
    doc = {
        "uid": data.uid,
        "frame_num": len(data.frames),
        "face3D_obj": wrap_obj_lines(data.wrap_verts, data.wrap_faces),
        "ref_data": [round(float(v), 6) for v in data.ref_data],
        "json_data": [_frame_json(f) for f in data.frames],
        "authorized": bool(data.authorized),
        "size": CROP_SIZE,
        "version": FORMAT_VERSION,
    }
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(doc, fh)


def read_combined_data(path: str | Path) -> MiniAvatarData:
    """Read DH_live's `combined_data.json.gz` (mini 2.0, version 1)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, EOFError, json.JSONDecodeError) as exc:
        raise AvatarFileError(f"cannot read avatar data {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION or doc.get("size") != CROP_SIZE:
        raise AvatarFileError(f"{path}: not a DH_live mini 2.0 combined_data file (version 1, size 184)")
    verts, faces = parse_obj_lines(doc.get("face3D_obj", []), str(path))
    if verts.ndim != 2 or verts.shape[1] != 5:
        raise AvatarFileError(f"{path}: face3D_obj vertices need 5 numbers (x y z category index)")
    frames = [_frame_from_json(e, str(path)) for e in doc.get("json_data", [])]
    if not frames:
        raise AvatarFileError(f"{path}: json_data holds no frames")
    ref = np.asarray(doc.get("ref_data", []), np.float64)
    if len(ref) < 64:
        raise AvatarFileError(f"{path}: ref_data needs at least 64 style values, got {len(ref)}")
    return MiniAvatarData(verts, faces, ref, frames, str(doc.get("uid", "")), bool(doc.get("authorized", False)))
