"""The avatar folder: what `prepare_avatar` writes and `AvatarRenderer` reads (format version 1).

    avatar.json   format name, version, kind ("photo" | "video"), size, frame count, fps, reference
    image.png     photo avatars: the (even-sized) source image
    frames.mp4    video avatars: the N prepared frames then the same reversed (2N, ping-pong), so
                  playing the file in a loop never jumps and never holds frames in memory
    data.npz      per frame: landmarks, rig pose and rest weights, crop rects, warp-mesh vertices;
                  once: the rig identity offset and the warp-mesh triangles

Everything in it is derived from the user's own input and our own rig, so a folder can be shared
without third-party assets. `export_dhlive` / `import_dhlive` convert to and from DH_live's
`combined_data.json.gz` + ping-pong `01.mp4` (spec-dhlive §6.4, §8.1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from talkinghead.avatar.prepare import AvatarError

FORMAT = "talkinghead-avatar"
VERSION = 1
FPS = 25
ARRAYS = ("landmarks", "rest_weights", "rotation", "scale", "rects", "mesh_vertices", "triangles", "identity")


@dataclass
class Avatar:
    """A prepared avatar. Per frame i (N = 1 for a photo): `landmarks[i]` (478, 3) image pixels,
    `rest_weights[i]` (52) the face's own arkit52 expression, `rotation[i]` (3, 3) and `scale[i]`
    (pixels per metre) mapping rig axes into the image, `rects[i]` the crop x0, y0, x1, y1,
    `mesh_vertices[i]` (V, 2) the warp mesh at rest. `triangles` (F, 3) and `identity` (468, 3)
    (the fitted rig offset) are shared by all frames."""

    kind: str
    width: int
    height: int
    landmarks: np.ndarray
    rest_weights: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    rects: np.ndarray
    mesh_vertices: np.ndarray
    triangles: np.ndarray
    identity: np.ndarray
    reference: dict = field(default_factory=dict)
    image: np.ndarray | None = None       # photo avatars: RGB uint8 (H, W, 3)
    path: Path | None = None               # folder it was loaded from / saved to

    @property
    def n_frames(self) -> int:
        return len(self.landmarks)

    def frame_index(self, k: int) -> int:
        """Avatar frame shown at output frame k: 0 for a photo, ping-pong over a video."""
        n = self.n_frames
        k %= 2 * n
        return k if k < n else 2 * n - 1 - k

    def source_frames(self) -> Iterator[np.ndarray]:
        """Endless source frames in ping-pong order (photo: the same image forever)."""
        if self.kind == "photo":
            while True:
                yield self.image
        from talkinghead.sinks.mp4 import read_frames
        while True:
            yield from read_frames(self.video_path)

    @property
    def video_path(self) -> Path:
        if self.path is None:
            raise AvatarError("a video avatar must be saved to a folder before it can play")
        return self.path / "frames.mp4"

    # -- files -------------------------------------------------------------------------------

    def save(self, folder: str | Path, frames: list[np.ndarray] | None = None) -> Path:
        """Write the folder; video avatars pass their N frames (RGB) unless already saved there."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "version": VERSION, "kind": self.kind, "width": self.width,
                "height": self.height, "frames": self.n_frames, "fps": FPS, "reference": self.reference}
        np.savez_compressed(folder / "data.npz", **{k: getattr(self, k) for k in ARRAYS})
        if self.kind == "photo":
            _write_png(folder / "image.png", self.image)
        elif frames is not None:
            _write_video(folder / "frames.mp4", frames, pingpong=True)
        elif self.path is None or not (self.path / "frames.mp4").is_file():
            raise AvatarError("saving a video avatar needs its frames")
        elif self.path.resolve() != folder.resolve():
            import shutil
            shutil.copyfile(self.path / "frames.mp4", folder / "frames.mp4")
        (folder / "avatar.json").write_text(json.dumps(meta, indent=1))
        self.path = folder
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Avatar":
        """Read a prepared avatar folder (any error is one line naming the folder)."""
        folder = Path(folder)
        meta = _read_meta(folder)
        try:
            with np.load(folder / "data.npz") as data:
                arrays = {k: data[k] for k in ARRAYS}
        except (OSError, KeyError, ValueError) as exc:
            raise AvatarError(f"{folder}: data.npz is missing or incomplete ({exc})") from None
        image = None
        if meta["kind"] == "photo":
            image = _read_png(folder / "image.png")
        elif not (folder / "frames.mp4").is_file():
            raise AvatarError(f"{folder}: frames.mp4 is missing")
        avatar = cls(meta["kind"], int(meta["width"]), int(meta["height"]), reference=meta.get("reference", {}),
                     image=image, path=folder, **arrays)
        if len(avatar.rects) != int(meta["frames"]) or avatar.mesh_vertices.shape[0] != avatar.n_frames:
            raise AvatarError(f"{folder}: data.npz does not match avatar.json ({meta['frames']} frames)")
        return avatar


def is_avatar_dir(path: str | Path) -> bool:
    return (Path(path) / "avatar.json").is_file()


def _read_meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / "avatar.json").read_text())
    except OSError:
        raise AvatarError(f"{folder} is not an avatar folder (no avatar.json); make one with `talkinghead prepare`") from None
    except json.JSONDecodeError as exc:
        raise AvatarError(f"{folder}/avatar.json is not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise AvatarError(f"{folder}/avatar.json is not a talkinghead avatar")
    if meta.get("version") != VERSION:
        raise AvatarError(f"{folder}: avatar format version {meta.get('version')} is not supported (need {VERSION})")
    if meta.get("kind") not in ("photo", "video"):
        raise AvatarError(f"{folder}: unknown avatar kind {meta.get('kind')!r}")
    return meta


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise AvatarError(f"cannot write {path}")


def _read_png(path: Path) -> np.ndarray:
    import cv2
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise AvatarError(f"{path} is missing or unreadable")
    return np.ascontiguousarray(img[..., ::-1])


def _write_video(path: Path, frames, pingpong: bool = False) -> None:
    """`frames`: anything with len() and [i] giving RGB frames (a list, or compressed frames)."""
    from talkinghead.sinks.mp4 import Mp4Writer
    order = list(range(len(frames))) + (list(range(len(frames)))[::-1] if pingpong else [])
    with Mp4Writer(path, fps=FPS, sample_rate=None, crf=16) as writer:
        for i in order:
            writer.write_frame(frames[i])



# -- DH_live mini interchange ---------------------------------------------------------------

DHLIVE_STILL_FRAMES = 25    # a photo is exported as 1 s of still video (DH_live's PCA needs >= 20)
_CANONICAL_SCALE = 4000.0   # rig metres -> canonical-like units (y down), the space the matrices map from
_CANONICAL_OFFSET = np.array([500.0, 650.0, 0.0])


def dhlive_wrap_mesh(mean_face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our own 267-vertex wrap mesh in DH_live's layout (spec-dhlive §6.8), derived from the
    MediaPipe tessellation instead of DH_live's template: vertices 0..209 at `INDEX_WRAP` of the
    personal mean (categories 0 skin, 2.0 upper lip, 2.01 lower lip, -1 border), 210..230 the
    extruded border, 231..266 two rows of upper/lower teeth behind the lips (categories 3 and 4)."""
    from talkinghead.avatar import topology as topo
    from talkinghead.avatar.prepare import personalise_wrap
    from talkinghead.rigs import load_rig
    rig = load_rig("arkit52")
    g = rig.groups
    wrap_ids = list(topo.INDEX_WRAP)
    verts = np.zeros((267, 5))
    verts[:, 4] = np.arange(267)
    cat = np.zeros(267)
    upper = set(g["upper_lip_outer"]) | set(g["upper_lip_inner"])
    lower = set(g["lower_lip_outer"]) | set(g["lower_lip_inner"])
    for k, mp_id in enumerate(wrap_ids):
        cat[k] = 2.0 if mp_id in upper else 2.01 if mp_id in lower else 0.0
    cat[209:231] = -1
    verts[:, 3] = cat
    verts = personalise_wrap(verts, mean_face)
    lip_u, lip_l = mean_face[g["upper_lip_inner"]], mean_face[g["lower_lip_inner"]]
    for row, (contour, c, dy) in enumerate(((lip_u, 3.0, 6.0), (lip_l, 4.0, -6.0))):
        xs = np.linspace(contour[1, 0], contour[-2, 0], 9)
        ys = np.interp(xs, np.sort(contour[:, 0]), contour[np.argsort(contour[:, 0]), 1])
        z = contour[:, 2].max() + 12.0
        for j in range(2):
            start = 231 + row * 18 + j * 9
            verts[start:start + 9, 0] = xs
            verts[start:start + 9, 1] = ys + j * dy
            verts[start:start + 9, 2] = z
            verts[start:start + 9, 3] = c
    index = {mp_id: k for k, mp_id in enumerate(wrap_ids)}
    faces = [[index[v] for v in t] for t in rig.triangles.tolist() if all(v in index for v in t)]
    edge = list(topo.INDEX_EDGE_WRAP)
    for e in range(len(edge) - 1):
        faces += [[edge[e], edge[e + 1], 211 + e], [edge[e], 211 + e, 210 + e]]
    for base in (231, 249):
        for j in range(8):
            a, b = base + j, base + 9 + j
            faces += [[a, a + 1, b + 1], [a, b + 1, b]]
    return verts, np.asarray(faces, np.int64)


def export_dhlive(avatar: Avatar, folder: str | Path, style: np.ndarray | None = None) -> Path:
    """Write DH_live mini files (`combined_data.json.gz`, ping-pong `01.mp4` with frame-index
    pixels) for this avatar. `style`: 64 DINet_mini style values if you have the network (zeros
    otherwise: DH_live's own mouth network then needs a re-run of its reference step)."""
    from talkinghead.avatar import build
    from talkinghead.avatar.formats import AvatarFrame, MiniAvatarData, write_combined_data
    from talkinghead.avatar.prepare import pose_and_mean
    from talkinghead.avatar.reference import luminance_grid
    from talkinghead.avatar.topology import INDEX_WRAP
    from talkinghead.rigs import load_rig
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = _forward_frames(avatar)
    landmarks = avatar.landmarks.astype(np.float64)
    if avatar.kind == "photo":
        landmarks = np.repeat(landmarks, len(frames), axis=0)
    _, rects, standard = build.prepare_frames(landmarks, avatar.width, avatar.height)
    rig = load_rig("arkit52")
    template = np.zeros((468, 3))
    template[:] = rig.neutral * [1.0, -1.0, -1.0] * _CANONICAL_SCALE + _CANONICAL_OFFSET
    mats, mean = pose_and_mean(standard[:, :468], template)
    mean478 = np.concatenate([mean, np.zeros((10, 3))])
    verts, faces = dhlive_wrap_mesh(mean478)
    x0, y0, x1, y1 = rects[0]
    import cv2
    crop = cv2.resize(frames[0][y0:y1, x0:x1], (184, 184), interpolation=cv2.INTER_LINEAR)
    grid = luminance_grid(np.concatenate([crop, np.full(crop.shape[:2] + (1,), 255, np.uint8)], axis=2))
    ref = np.concatenate([np.zeros(64) if style is None else np.asarray(style, np.float64).reshape(64), grid])
    wrap_ids = list(INDEX_WRAP[:209])
    entries = [AvatarFrame(tuple(int(v) for v in r), m, s[wrap_ids, :2]) for r, m, s in zip(rects, mats, standard)]
    write_combined_data(MiniAvatarData(verts, faces, ref, entries), folder / "combined_data.json.gz")
    _write_index_video(folder / "01.mp4", frames)
    return folder


def _forward_frames(avatar: Avatar) -> list[np.ndarray]:
    if avatar.kind == "photo":
        return [avatar.image] * DHLIVE_STILL_FRAMES
    from talkinghead.sinks.mp4 import read_frames
    out = []
    for frame in read_frames(avatar.video_path):
        out.append(frame)
        if len(out) == avatar.n_frames:
            break
    return out


def _write_index_video(path: Path, frames: list[np.ndarray]) -> None:
    """Ping-pong video whose top-right 2x2 pixels carry `frame mod 16` (spec-dhlive §6.4)."""
    n = len(frames)
    order = list(range(n)) + list(range(n))[::-1]
    coded = []
    for k, i in enumerate(order):
        img = np.array(frames[i], copy=True)
        code = k % 16
        w = img.shape[1]
        for bit, (r, c) in enumerate(((0, w - 1), (0, w - 2), (1, w - 1), (1, w - 2))):
            img[r, c] = 255 if code >> bit & 1 else 0
        coded.append(img)
    _write_video(path, coded)


def read_frame_index(rgb: np.ndarray) -> int:
    """The `frame mod 16` code of a DH_live ping-pong frame."""
    w = rgb.shape[1]
    bits = [rgb[0, w - 1, 0], rgb[0, w - 2, 0], rgb[1, w - 1, 0], rgb[1, w - 2, 0]]
    return sum(1 << b for b, v in enumerate(bits) if v > 128)


def import_dhlive(folder: str | Path, out_dir: str | Path) -> Avatar:
    """Make one of our avatars from a DH_live mini avatar folder (`combined_data.json.gz` + `01.mp4`).

    DH_live keeps only 209 mouth-area points per frame, not the eyes, so the forward frames of its
    video are prepared again with our face mesh; its uid and ref_data are kept in the reference."""
    from talkinghead.avatar.formats import read_combined_data
    from talkinghead.avatar.photo import CompressedFrames, prepare_image, prepare_video
    from talkinghead.sinks.mp4 import read_frames
    folder = Path(folder)
    data = read_combined_data(folder / "combined_data.json.gz")
    video = folder / "01.mp4"
    if not video.is_file():
        raise AvatarError(f"{folder}: 01.mp4 is missing")
    frames = CompressedFrames()
    for frame in read_frames(video):
        if len(frames) == len(data.frames):
            break
        frames.append(frame)
    if len(frames) < len(data.frames):
        raise AvatarError(f"{video} has {len(frames)} frames, combined_data lists {len(data.frames)}")
    # A still (an exported photo) differs between frames only by coding noise and the index pixels.
    still = all(np.abs(frames[0][2:].astype(np.int16) - frames[i][2:]).mean() < 1.5
                for i in (len(frames) // 2, len(frames) - 1))
    avatar = prepare_image(frames[0], out_dir, video.name) if still else prepare_video(frames, out_dir, video.name)
    avatar.reference["dhlive"] = {"uid": data.uid, "ref_data": [float(v) for v in data.ref_data]}
    avatar.save(out_dir)
    return avatar
