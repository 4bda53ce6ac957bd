"""Our own avatar preparation: one photo, or a 5-30 s video of a person, -> an avatar folder.

    input ─> frames (25 fps) ─> face detection (exactly one face) ─> MediaPipe face mesh (478 pts)
          ─> checks (inside the frame, large enough, frontal) ─> temporal smoothing (video)
          ─> rig fit per frame (pose + rest expression) ─> warp mesh + crop rects ─> reference colours

The warp mesh is the MediaPipe tessellation (the rig's triangles) plus triangles over its holes
(mouth, eyes: so lips and lids can move over what lies between them) plus a band out to a fixed
ring extruded from the face oval, so that the warp fades into the untouched background. Nothing
here uses a third-party asset: every stored number comes from the input and our own rig.
"""

from __future__ import annotations

import math
import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from talkinghead.avatar.prepare import AvatarError, check_not_speaking, smooth_frames
from talkinghead.avatar.store import FPS, Avatar, is_avatar_dir

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
MIN_EYE_DISTANCE = 40.0          # px between the outer eye corners: smaller faces warp too coarsely
MAX_YAW, MAX_PITCH = math.radians(30), math.radians(25)
EDGE_MARGIN = 2.0                # px the landmarks must keep from the image border
VIDEO_SECONDS = (5.0, 30.0)
MAX_VIDEO_SIZE = (1280, 720)     # long side, short side: larger videos are scaled down
RING_EXTRUDE = 0.4               # border ring = oval + 0.4 * (oval - its centre)
DEFAULT_NAME = "astronaut_v1"


# -- reading the input ----------------------------------------------------------------------

class CompressedFrames:
    """Frames kept as JPEG in memory: a 30 s 720p video fits in tens of MB instead of GB."""

    def __init__(self):
        self._data: list[bytes] = []

    def append(self, rgb: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        self._data.append(buf.tobytes())

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, i: int) -> np.ndarray:
        bgr = cv2.imdecode(np.frombuffer(self._data[i], np.uint8), cv2.IMREAD_COLOR)
        return np.ascontiguousarray(bgr[..., ::-1])


def read_image(path: Path) -> np.ndarray | None:
    """RGB uint8 with even width and height, or None when the file is not an image."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        return None
    return even_size(np.ascontiguousarray(img[..., ::-1]))


def even_size(rgb: np.ndarray) -> np.ndarray:
    """H.264 needs even sizes: drop the last row/column when odd (never resample a photo)."""
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[: h - h % 2, : w - w % 2])


def read_video(path: Path) -> CompressedFrames:
    """Decode, re-time to 25 fps (nearest earlier frame) and shrink to at most 1280x720."""
    import av
    frames = CompressedFrames()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise AvatarError(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else len(frames) / FPS
                if t + 0.5 / FPS < len(frames) / FPS:
                    continue
                rgb = _shrink(frame.to_ndarray(format="rgb24"))
                while len(frames) / FPS <= t + 0.5 / FPS:
                    frames.append(rgb)
                if len(frames) > VIDEO_SECONDS[1] * FPS + 1:
                    break
    except (av.FFmpegError, OSError) as exc:
        raise AvatarError(f"{path.name} is neither an image nor a readable video ({exc.__class__.__name__})") from None
    return frames


def _shrink(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    long_side, short_side = max(w, h), min(w, h)
    s = min(1.0, MAX_VIDEO_SIZE[0] / long_side, MAX_VIDEO_SIZE[1] / short_side)
    if s < 1.0:
        rgb = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
    return even_size(rgb)


# -- finding the face -----------------------------------------------------------------------

class FaceFinder:
    """Face detection (counts faces, full-range model) + face mesh on a window around the face.

    The mesh alone misses small faces in large frames and cannot count faces reliably, so the
    detector finds the face first and the mesh runs on a square 1.6x its box."""

    def __init__(self):
        import mediapipe as mp
        from talkinghead.rigs.facemesh import FaceMesh, quiet_native_logs
        self._quiet = quiet_native_logs
        with quiet_native_logs():
            self._detector = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                                       min_detection_confidence=0.5)
        self._mesh = FaceMesh(static=True, max_faces=1)

    def boxes(self, rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Face boxes (x0, y0, x1, y1) in pixels."""
        h, w = rgb.shape[:2]
        with self._quiet():
            found = self._detector.process(np.ascontiguousarray(rgb)).detections or []
        out = []
        for d in found:
            b = d.location_data.relative_bounding_box
            out.append((b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h))
        return out

    def landmarks(self, rgb: np.ndarray, box) -> np.ndarray | None:
        """(478, 3) pixel landmarks of the face in `box` (any x0, y0, x1, y1 around it)."""
        h, w = rgb.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = 0.8 * max(box[2] - box[0], box[3] - box[1])
        x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
        x1, y1 = int(min(cx + half, w)), int(min(cy + half, h))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        points = self._mesh(rgb[y0:y1, x0:x1])
        if points is None:
            return None
        return points + np.array([x0, y0, 0], np.float32)

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()


def one_face(finder: FaceFinder, rgb: np.ndarray, where: str):
    boxes = finder.boxes(rgb)
    if not boxes:
        raise AvatarError(f"no face found in {where}; use a photo or video showing one face")
    if len(boxes) > 1:
        raise AvatarError(f"{len(boxes)} faces found in {where}; use a photo or video showing exactly one face")
    return boxes[0]


def check_face(points: np.ndarray, width: int, height: int, where: str) -> None:
    """The face must lie inside the frame and be large enough to warp."""
    xy = points[:468, :2]
    if xy.min() < EDGE_MARGIN or xy[:, 0].max() > width - 1 - EDGE_MARGIN or xy[:, 1].max() > height - 1 - EDGE_MARGIN:
        raise AvatarError(f"the face in {where} touches the image border; use one with the whole face inside")
    eyes = float(np.linalg.norm(xy[33] - xy[263]))
    if eyes < MIN_EYE_DISTANCE:
        raise AvatarError(f"the face in {where} is too small ({eyes:.0f} px between the eye corners, "
                          f"need {MIN_EYE_DISTANCE:.0f}); use a larger or closer photo")


def check_frontal(pitch: np.ndarray, yaw: np.ndarray, where: str) -> None:
    worst_yaw, worst_pitch = float(np.abs(yaw).max()), float(np.abs(pitch).max())
    if worst_yaw > MAX_YAW or worst_pitch > MAX_PITCH:
        raise AvatarError(f"the face in {where} is turned too far (yaw {math.degrees(worst_yaw):.0f}, pitch "
                          f"{math.degrees(worst_pitch):.0f} degrees; limits {math.degrees(MAX_YAW):.0f}, "
                          f"{math.degrees(MAX_PITCH):.0f}); use a frontal view")


def video_landmarks(finder: FaceFinder, frames: CompressedFrames, where: str) -> np.ndarray:
    """Per-frame landmarks; the mesh window follows the previous frame's face, and the face count
    is re-checked once a second."""
    out = []
    box = None
    for i in range(len(frames)):
        rgb = frames[i]
        if i % FPS == 0:
            box = one_face(finder, rgb, f"{where} at {i / FPS:.1f} s")
        points = finder.landmarks(rgb, box)
        if points is None:
            raise AvatarError(f"the face is lost in {where} at {i / FPS:.1f} s; use a steadier video")
        check_face(points, rgb.shape[1], rgb.shape[0], f"{where} at {i / FPS:.1f} s")
        out.append(points)
        box = (*points[:468, :2].min(0), *points[:468, :2].max(0))
    return np.stack(out)


# -- the warp mesh --------------------------------------------------------------------------

@lru_cache(maxsize=1)
def mesh_topology() -> tuple[np.ndarray, np.ndarray, int]:
    """(triangles, oval loop, number of hole triangles). Vertices: 0..467 landmarks, then the ring
    (one per oval vertex). Hole triangles come first so the face drawn after them wins overlaps."""
    from talkinghead.rigs import load_rig
    from talkinghead.rigs.topology import boundary_loops
    rig = load_rig("arkit52")
    g = rig.groups
    holes = []
    for upper, lower in (("upper_lip_inner", "lower_lip_inner"), ("right_eye_upper", "right_eye_lower"),
                         ("left_eye_upper", "left_eye_lower")):
        holes += _ladder(g[upper], g[lower])
    oval = boundary_loops(rig.triangles)[0]
    ring = 468 + np.arange(len(oval))
    band = []
    for j in range(len(oval)):
        a, b = oval[j], oval[(j + 1) % len(oval)]
        ra, rb = ring[j], ring[(j + 1) % len(oval)]
        band += [(a, b, rb), (a, rb, ra)]
    tris = np.concatenate([np.array(holes), rig.triangles, np.array(band)]).astype(np.int32)
    return tris, np.asarray(oval, np.int64), len(holes)


def _ladder(upper: np.ndarray, lower: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangulate the strip between two contours that share their end points."""
    tris = []
    for i in range(len(upper) - 1):
        for t in ((upper[i], upper[i + 1], lower[i + 1]), (upper[i], lower[i + 1], lower[i])):
            if len(set(int(v) for v in t)) == 3:
                tris.append(t)
    return tris


def mesh_vertices(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) landmarks -> (N, 468 + R, 2) rest warp-mesh vertices in image pixels."""
    _, oval, _ = mesh_topology()
    xy = landmarks[:, :468, :2].astype(np.float64)
    rim = xy[:, oval]
    centre = rim.mean(axis=1, keepdims=True)
    ring = rim + RING_EXTRUDE * (rim - centre)
    return np.concatenate([xy, ring], axis=1).astype(np.float32)


def crop_rects(vertices: np.ndarray, width: int, height: int, margin: int = 2) -> np.ndarray:
    """Per frame the pixel box holding the whole warp mesh (where anything can change)."""
    lo = np.floor(vertices.min(axis=1)) - margin
    hi = np.ceil(vertices.max(axis=1)) + margin + 1
    x0, y0 = np.maximum(lo[:, 0], 0), np.maximum(lo[:, 1], 0)
    x1, y1 = np.minimum(hi[:, 0], width), np.minimum(hi[:, 1], height)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int32)


# -- reference colours ----------------------------------------------------------------------

def reference_colours(rgb: np.ndarray, points: np.ndarray) -> dict:
    """Skin, lip and teeth colours for the procedural mouth, sampled from the avatar's first frame."""
    def sample(ids) -> list[float]:
        xy = np.round(points[list(ids), :2]).astype(int)
        patches = [rgb[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].reshape(-1, 3) for x, y in xy]
        return [round(float(v), 1) for v in np.median(np.concatenate(patches), axis=0)]
    skin = sample((50, 280, 101, 330, 205, 425))
    lips = sample((0, 17, 37, 267, 84, 314, 40, 270))
    eyes = float(np.linalg.norm(points[33, :2] - points[263, :2]))
    gap = float(np.linalg.norm(points[13, :2] - points[14, :2]))
    teeth = _visible_teeth(rgb, points) if gap > 0.05 * eyes else None
    if teeth is None:
        luma = 0.299 * skin[0] + 0.587 * skin[1] + 0.114 * skin[2]
        k = min(1.0, (luma / 170.0) ** 0.5)
        teeth = [round(c * k, 1) for c in (232.0, 226.0, 212.0)]
    return {"skin_rgb": skin, "lip_rgb": lips, "teeth_rgb": teeth, "eye_distance": round(eyes, 2),
            "rest_lip_gap": round(gap, 2)}


def _visible_teeth(rgb: np.ndarray, points: np.ndarray) -> list[float] | None:
    """The brightest quarter of the pixels between parted lips, when that looks like teeth."""
    from talkinghead.rigs import load_rig
    g = load_rig("arkit52").groups
    poly = np.r_[points[g["upper_lip_inner"], :2], points[g["lower_lip_inner"][::-1][1:-1], :2]]
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    inside = rgb[mask > 0].astype(np.float64)
    if len(inside) < 8:
        return None
    luma = inside @ [0.299, 0.587, 0.114]
    bright = inside[luma >= np.quantile(luma, 0.75)].mean(axis=0)
    if bright @ [0.299, 0.587, 0.114] < 120:
        return None
    return [round(float(v), 1) for v in bright]


# -- preparation ----------------------------------------------------------------------------

def prepare_avatar(input_path: str | Path, out_dir: str | Path) -> Avatar:
    """Prepare an avatar from a photo or a 5-30 s video and save it to `out_dir`."""
    path = Path(input_path)
    if not path.is_file():
        raise AvatarError(f"avatar input {path} not found")
    image = read_image(path) if path.suffix.lower() in IMAGE_SUFFIXES or path.suffix == "" else None
    if image is None and path.suffix.lower() in IMAGE_SUFFIXES:
        raise AvatarError(f"{path.name} is not a readable image")
    if image is not None:
        return prepare_image(image, out_dir, path.name)
    return prepare_video(read_video(path), out_dir, path.name)


def prepare_image(rgb: np.ndarray, out_dir: str | Path, where: str = "the image") -> Avatar:
    """A photo avatar from an RGB uint8 image."""
    rgb = even_size(np.asarray(rgb, np.uint8))
    finder = FaceFinder()
    try:
        points = finder.landmarks(rgb, one_face(finder, rgb, where))
    finally:
        finder.close()
    if points is None:
        raise AvatarError(f"no face mesh found in {where}; use a sharper, frontal photo")
    check_face(points, rgb.shape[1], rgb.shape[0], where)
    avatar = _assemble("photo", points[None], rgb, where)
    avatar.image = rgb
    avatar.save(out_dir)
    return avatar


def prepare_video(frames: CompressedFrames, out_dir: str | Path, where: str = "the video") -> Avatar:
    """A video avatar from frames at 25 fps (5-30 s of a still, non-speaking person)."""
    seconds = len(frames) / FPS
    if not VIDEO_SECONDS[0] <= seconds <= VIDEO_SECONDS[1] + 0.05:
        raise AvatarError(f"{where} is {seconds:.1f} s long; use a video of "
                          f"{VIDEO_SECONDS[0]:.0f}-{VIDEO_SECONDS[1]:.0f} s")
    finder = FaceFinder()
    try:
        points = video_landmarks(finder, frames, where)
    finally:
        finder.close()
    points = smooth_frames(points).astype(np.float32)
    check_not_speaking(points.astype(np.float64))
    first = frames[0]
    avatar = _assemble("video", points, first, where)
    avatar.save(out_dir, frames=frames)
    return avatar


def _assemble(kind: str, points: np.ndarray, first: np.ndarray, where: str) -> Avatar:
    """Fit the rig to every frame and derive mesh, crops and reference colours."""
    from talkinghead.rigs.arkit52 import rotation
    from talkinghead.rigs.fitting import fit_landmarks
    fit = fit_landmarks(points)
    pitch, yaw, roll = (fit.values[:, 52 + i] for i in range(3))
    check_frontal(pitch, yaw, where)
    height, width = first.shape[:2]
    verts = mesh_vertices(points)
    tris, _, _ = mesh_topology()
    return Avatar(kind, width, height, points.astype(np.float32), fit.values[:, :52].astype(np.float32),
                  rotation(pitch, yaw, roll).astype(np.float32), fit.extras["scale"].astype(np.float32),
                  crop_rects(verts, width, height), verts, tris, fit.extras["identity"].astype(np.float32),
                  reference_colours(first, points[0]))


# -- the default avatar ---------------------------------------------------------------------

def default_avatar() -> Avatar:
    """The astronaut photo shipped in scikit-image (public domain), prepared once into the cache."""
    from talkinghead.rigs.topology import cache_dir
    folder = cache_dir() / "avatars" / DEFAULT_NAME
    if is_avatar_dir(folder):
        try:
            return Avatar.load(folder)
        except AvatarError:
            pass  # a stale or broken cache is rebuilt
    from skimage.data import astronaut
    with tempfile.TemporaryDirectory(dir=folder.parent if folder.parent.is_dir() else None) as tmp:
        avatar = prepare_image(astronaut(), tmp, "the astronaut photo")
        folder.parent.mkdir(parents=True, exist_ok=True)
        avatar.save(folder)
    return Avatar.load(folder)


def resolve_avatar(spec: "str | Path | Avatar | None" = "photo") -> Avatar:
    """`photo` (or None) -> the default avatar; a folder -> that avatar; an Avatar passes through."""
    if isinstance(spec, Avatar):
        return spec
    if spec is None or str(spec) == "photo":
        return default_avatar()
    return Avatar.load(spec)
