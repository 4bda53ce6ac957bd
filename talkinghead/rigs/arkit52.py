"""The built-in rig `arkit52`: MediaPipe's 468-vertex face with 52 ARKit blendshapes we author.

The rig *is* the landmark model: vertex i is MediaPipe landmark i, so one rig drives the 3D
renderer, warps real faces in 2D and measures real videos (landmarks -> weights, `fitting.py`).

Coordinates: right-handed, metres, +x image right (the subject's left), +y up, +z toward the
viewer, origin roughly at the head centre; the outer eye corners (33, 263) are 9 cm apart.

Neutral shape (the canonical MediaPipe face is not in the pip wheel, so we derive one):
  1. run MediaPipe on `skimage.data.astronaut()` (public domain, frontal) -> 468 pixel points;
  2. flip y and z (a proper rotation) into our axes;
  3. find the left/right vertex correspondence by mirroring x and matching (Hungarian
     assignment), and the symmetry plane from the matched pairs; rotate that plane onto x = 0
     (frontalise: removes yaw and roll; pitch stays the camera's); iterate three times;
  4. scale to 9 cm between outer eye corners; average each vertex with its mirrored partner
     (symmetrise);
  5. neutralise the expression (the astronaut smiles with parted lips): rotate the jaw shut,
     close the remaining inner-lip gap, and move the smiling mouth corners to a relaxed
     position (level with the lip line, mouth 0.58 eye-corner distances wide), then symmetrise
     again; put the origin at the head centre (behind the eyes).
The result is cached in `$TALKINGHEAD_CACHE` as `.npz` (derived numbers only).

Blendshapes: every ARKit shape is a displacement field (468, 3) authored from region weights on
the neutral (smooth falloffs around named landmarks, upper/lower lip masks) and geometric
moves (jaw rotation about a hinge, lid closure onto the lower lid). Left shapes act on the
subject's left (+x); each Right shape is the mirror image of its Left shape.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from ..errors import MotionFileError, TalkingHeadError
from ..motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES
from . import topology

NAME = "arkit52"
EYE_CORNER_DISTANCE = 0.09  # metres between landmarks 33 and 263
JAW_OPEN_GAP = 0.0275  # inner-lip gap (13-14) added by jawOpen = 1, metres
REST_LIP_GAP = 0.0005  # neutral inner-lip gap: lips closed, contours not coincident
MOUTH_WIDTH = 0.58  # neutral corner-to-corner width / eye-corner distance
ARCH = 0.005  # upper inner lip rise at jawOpen = 1, metres (part of the 2.75 cm gap)
ARCH_FORWARD = 0.004  # ...and its forward roll (measured on real mouths: parted lips evert)
NECK_PIVOT = np.array([0.0, -0.075, -0.02])  # head rotation pivot (top of the neck), metres
_CACHE_VERSION = 1


# -- small geometric helpers ------------------------------------------------------------------

def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _falloff(points: np.ndarray, anchors: np.ndarray, radius: float) -> np.ndarray:
    """1 at the anchors, smoothly 0 at `radius` from the nearest one."""
    anchors = np.atleast_2d(anchors)
    d = np.linalg.norm(points[:, None, :] - anchors[None, :, :], axis=-1).min(axis=1)
    return _smooth(1.0 - d / radius)


def _mirror_x(p: np.ndarray) -> np.ndarray:
    return p * np.array([-1.0, 1.0, 1.0])


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rotation(pitch, yaw, roll) -> np.ndarray:
    """R = Ry(yaw) Rx(pitch) Rz(roll) for arrays of angles -> (..., 3, 3).

    Right-hand rule about our axes: +pitch nods the face down, +yaw turns it to image right
    (the subject's left), +roll tilts the top of the head to image left.
    """
    pitch, yaw, roll = (np.asarray(a, dtype=np.float64) for a in (pitch, yaw, roll))
    cp, sp, cy, sy, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(cp), np.zeros_like(cp)
    rx = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(cp.shape + (3, 3))
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(cp.shape + (3, 3))
    rz = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(cp.shape + (3, 3))
    return ry @ rx @ rz


def angles(r: np.ndarray) -> np.ndarray:
    """Inverse of `rotation`: (..., 3, 3) -> (..., 3) pitch, yaw, roll."""
    pitch = np.arcsin(np.clip(-r[..., 1, 2], -1.0, 1.0))
    yaw = np.arctan2(r[..., 0, 2], r[..., 2, 2])
    roll = np.arctan2(r[..., 1, 0], r[..., 1, 1])
    return np.stack([pitch, yaw, roll], axis=-1)


# -- the neutral shape ------------------------------------------------------------------------

def _astronaut_landmarks() -> np.ndarray:
    from skimage.data import astronaut

    from .facemesh import FaceMesh

    with FaceMesh(static=True) as mesh:
        points = mesh(astronaut())
    if points is None:  # pragma: no cover - verified on the pinned mediapipe
        raise TalkingHeadError("MediaPipe found no face in skimage's astronaut image")
    return points[: topology.NUM_VERTICES].astype(np.float64)


def mirror_correspondence(points: np.ndarray, iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Left/right vertex pairs and the frontalised points (symmetry plane moved to x = 0)."""
    from scipy.optimize import linear_sum_assignment

    q = points - points.mean(axis=0)
    for _ in range(iterations):
        cost = np.linalg.norm(q[:, None, :] - _mirror_x(q)[None, :, :], axis=-1)
        mirror = linear_sum_assignment(cost)[1]
        paired = mirror[mirror] == np.arange(len(q))
        diff = q[paired] - q[mirror[paired]]
        normal = np.linalg.eigh(diff.T @ diff)[1][:, -1]
        normal *= np.sign(normal[0])
        centre = 0.5 * (q[paired] + q[mirror[paired]]).mean(axis=0)
        q = (q - centre) @ _align_to_x(normal).T
    if not np.all(mirror[mirror] == np.arange(len(q))):  # pragma: no cover - verified here
        raise TalkingHeadError("the face mesh's mirror correspondence is not an involution")
    return mirror, q


def _align_to_x(n: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector n onto +x (Rodrigues)."""
    x = np.array([1.0, 0.0, 0.0])
    v, c = np.cross(n, x), float(n @ x)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


def _symmetrise(p: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    return 0.5 * (p + _mirror_x(p[mirror]))


def _derive_neutral() -> tuple[np.ndarray, np.ndarray]:
    raw = _astronaut_landmarks() * np.array([1.0, -1.0, -1.0])  # image axes -> ours
    mirror, front = mirror_correspondence(raw)
    front *= EYE_CORNER_DISTANCE / np.linalg.norm(front[33] - front[263])
    shape = _symmetrise(front, mirror)
    shape = _symmetrise(_neutralise(shape), mirror)
    eyes = 0.5 * (shape[33] + shape[263])
    origin = np.array([0.0, eyes[1] - 0.01, eyes[2] - 0.085])  # ~head centre
    return (shape - origin).astype(np.float64), mirror


def _neutralise(p: np.ndarray) -> np.ndarray:
    """Close the jaw and lips and relax the mouth corners of a smiling, parted-lips face."""
    g = topology.groups()
    regions = _Regions(p)
    gap = p[13, 1] - p[14, 1]
    hinge = regions.hinge
    # Rotate the lower face shut for 70% of the gap (the jaw), lips take the rest.
    arm = np.linalg.norm((p[14] - hinge)[1:])
    p = p + regions.jaw[:, None] * _jaw_displacement(p, hinge, -0.7 * gap / arm)
    up, low = g["upper_lip_inner"], g["lower_lip_inner"]
    need = 0.5 * ((p[up, 1] - p[low, 1]) - REST_LIP_GAP)  # per column, each lip moves half
    xs = p[up, 0]
    shift = np.interp(p[:, 0], xs, need)
    regions = _Regions(p)
    p[:, 1] -= shift * regions.upper_lip
    p[:, 1] += shift * regions.lower_lip
    # Mouth corners: level with the lip line and a relaxed width.
    centre_y = 0.5 * (p[13, 1] + p[14, 1])
    half_width = 0.5 * MOUTH_WIDTH * EYE_CORNER_DISTANCE
    for corner, sign in ((291, 1.0), (61, -1.0)):
        target = np.array([sign * half_width, centre_y - 0.001, p[corner, 2]])
        weight = regions.corner(sign)
        p = p + weight[:, None] * (target - p[corner])[None, :]
    return p


def _jaw_displacement(p: np.ndarray, hinge: np.ndarray, angle: float) -> np.ndarray:
    """Where each point would move if rigidly rotated by `angle` about the jaw hinge axis."""
    return (p - hinge) @ _rot_x(angle).T + hinge - p


# -- regions of the face ----------------------------------------------------------------------

class _Regions:
    """Smooth per-vertex weights (468,) on a given face shape, named for what they cover."""

    def __init__(self, p: np.ndarray):
        g = topology.groups()
        self.p, self.g = p, g
        x, y = p[:, 0], p[:, 1]
        up_in, low_in = g["upper_lip_inner"], g["lower_lip_inner"]
        self.half_width = 0.5 * (p[291, 0] - p[61, 0])
        line_x = 0.5 * (p[up_in, 0] + p[low_in, 0])
        line_y = 0.5 * (p[up_in, 1] + p[low_in, 1])
        order = np.argsort(line_x)
        self.line_y = np.interp(x, line_x[order], line_y[order])
        upper = y > self.line_y
        upper[np.r_[g["upper_lip_inner"], g["upper_lip_outer"]]] = True
        upper[np.r_[g["lower_lip_inner"], g["lower_lip_outer"]]] = False
        self.upper = upper.astype(np.float64)
        self.lower = 1.0 - self.upper
        self.u = np.clip(x / self.half_width, -1.5, 1.5)  # lateral coordinate across the mouth
        ups = p[np.r_[g["upper_lip_inner"], g["upper_lip_outer"]]]
        lows = p[np.r_[g["lower_lip_inner"], g["lower_lip_outer"]]]
        self.upper_lip = self.upper * _falloff(p, ups, 0.012)
        self.lower_lip = self.lower * _falloff(p, lows, 0.012)
        self.inner = np.zeros(len(p))
        self.inner[np.r_[up_in, low_in]] = 1.0
        centre = 0.5 * (p[13] + p[14])
        ell = np.hypot((x - centre[0]) / (self.half_width + 0.02), (y - centre[1]) / 0.03)
        self.mouth = _smooth(1.0 - ell) * (p[:, 2] > centre[2] - 0.04)
        eyes = 0.5 * (p[33] + p[263])
        self.hinge = np.array([0.0, eyes[1] - 0.04, eyes[2] - 0.075])
        depth = _smooth((self.line_y - y) / 0.018)
        self.jaw = self.lower * np.maximum(depth, 0.25 + 0.75 * (1.0 - np.minimum(self.u ** 2, 1.0)))
        self.jaw[np.r_[up_in, g["upper_lip_outer"]]] = 0.0
        far = self.lower * (self.lower_lip == 0)
        self.jaw = np.where(far > 0, depth, self.jaw)  # off the lips: depth below the lip line
        lips_low = np.r_[low_in, g["lower_lip_outer"]]
        self.jaw[lips_low] = 0.3 + 0.7 * (1.0 - np.minimum(self.u[lips_low] ** 2, 1.0))

    def corner(self, sign: float) -> np.ndarray:
        """Weight of the left (sign +1) or right (-1) mouth corner and the lips it drags."""
        idx = 291 if sign > 0 else 61
        near = _falloff(self.p, self.p[idx], 0.022)
        along = (self.upper_lip + self.lower_lip) * np.clip(sign * self.u, 0.0, 1.0) ** 2
        return np.maximum(near, along)

    def near(self, idx, radius: float) -> np.ndarray:
        return _falloff(self.p, self.p[np.atleast_1d(idx)], radius)


def _left(x: np.ndarray, width: float = 0.006) -> np.ndarray:
    """Soft indicator of the subject's left half (+x)."""
    return 0.5 * (1.0 + np.tanh(x / width))


# -- the blendshapes --------------------------------------------------------------------------

def _eyelid_shapes(r: _Regions, side: str) -> dict[str, np.ndarray]:
    """Blink, squint, wide and gaze-follow for one eye, from its lid contours."""
    p, g = r.p, r.g
    up, low = g[f"{side}_eye_upper"], g[f"{side}_eye_lower"]
    sign = 1.0 if side == "left" else -1.0
    close = (p[up] - p[low])  # per lid column, upper minus lower (corners: zero)
    order = np.argsort(p[up, 0])
    eye_y = np.interp(p[:, 0], p[up[order], 0], 0.5 * (p[up[order], 1] + p[low[order], 1]))
    lid_span = np.abs(p[:, 0] - 0.5 * (p[up[0], 0] + p[up[-1], 0])) < 0.6 * abs(p[up[0], 0] - p[up[-1], 0])
    above = (p[:, 1] >= eye_y) & lid_span
    below = (p[:, 1] < eye_y) & lid_span
    above[up], below[up] = True, False
    above[low], below[low] = False, True

    def lid_field(col_delta: np.ndarray, rows: np.ndarray, mask: np.ndarray, radius: float) -> np.ndarray:
        field = np.stack([np.interp(p[:, 0], p[rows[order], 0], col_delta[order, k]) for k in range(3)], 1)
        return field * (mask * _falloff(p, p[rows], radius))[:, None]

    def lids(upper_frac: float, lower_frac: float) -> np.ndarray:
        return (lid_field(-upper_frac * close, up, above, 0.010)
                + lid_field(lower_frac * close, low, below, 0.006))

    def lift(dy_upper: float, dy_lower: float, dx: float = 0.0) -> np.ndarray:
        d = np.zeros_like(p)
        mid = _smooth(1.0 - np.abs(p[:, 0] - p[up[4], 0]) / 0.018)
        d[:, 1] = dy_upper * above * _falloff(p, p[up], 0.010) + dy_lower * below * _falloff(p, p[low], 0.006)
        d[:, 0] = dx * mid * (above | below) * _falloff(p, p[np.r_[up, low]], 0.006)
        return d

    cap = "Left" if side == "left" else "Right"
    cheek = r.near(np.argmin(np.linalg.norm(p - (p[low[4]] + [0.0, -0.015, 0.0]), axis=1)), 0.02)
    squint = lids(0.12, 0.30)
    squint[:, 1] += 0.0015 * cheek
    return {
        f"eyeBlink{cap}": lids(0.88, 0.12),
        f"eyeSquint{cap}": squint,
        f"eyeWide{cap}": lift(0.003, -0.001),
        f"eyeLookUp{cap}": lift(0.0015, 0.001),
        f"eyeLookDown{cap}": lift(-0.0025, -0.001),
        f"eyeLookIn{cap}": lift(0.0, 0.0, -sign * 0.001),  # toward the nose
        f"eyeLookOut{cap}": lift(0.0, 0.0, sign * 0.001),
    }


def _vec(w: np.ndarray, d) -> np.ndarray:
    return w[:, None] * np.asarray(d, dtype=np.float64)[None, :]


def _left_shapes(r: _Regions) -> dict[str, np.ndarray]:
    """The Left member of every Left/Right pair (subject's left = +x)."""
    p = r.p
    lips = r.upper_lip + r.lower_lip
    corner = r.corner(1.0)
    side = _left(p[:, 0])
    outer_lips = np.r_[r.g["upper_lip_outer"], r.g["lower_lip_outer"]]
    outerness = (1.0 - r.inner) * _falloff(p, p[outer_lips], 0.006)
    press = _vec(side * r.upper * outerness, (0, -0.002, 0)) + _vec(side * r.lower * outerness, (0, 0.002, 0))
    press += _vec(corner, (0.001, 0, 0))
    brow = r.g["left_brow"]
    inner_brow, outer_brow = [285, 336, 295, 296], [276, 300, 283, 293]
    brow_w = r.near(brow, 0.014)
    brow_down = _vec(brow_w, (0, -0.005, 0)) + _vec(r.near(inner_brow, 0.014), (-0.002, -0.001, 0))
    cheek_bone = np.argmin(np.linalg.norm(p - (p[374] + [0.0, -0.018, 0.0]), axis=1))
    alar = np.argmin(np.linalg.norm(p - (p[1] + [0.016, 0.004, -0.012]), axis=1))
    shapes = {
        "mouthSmileLeft": _vec(corner, (0.006, 0.008, -0.003)) + _vec(r.near(cheek_bone, 0.02), (0, 0.002, 0.001)),
        "mouthFrownLeft": _vec(corner, (0.001, -0.006, 0.0)),
        "mouthDimpleLeft": _vec(corner, (0.004, 0.0, -0.004)),
        "mouthStretchLeft": _vec(corner, (0.006, -0.003, -0.001)) + _vec(side * r.lower_lip, (0, -0.001, 0)),
        "mouthPressLeft": press,
        "mouthUpperUpLeft": _vec(side * r.upper_lip, (0, 0.005, 0.001)),
        "mouthLowerDownLeft": _vec(side * r.lower_lip, (0, -0.005, 0.001)),
        "browDownLeft": brow_down,
        "browOuterUpLeft": _vec(r.near(outer_brow, 0.016), (0, 0.006, 0)),
        "cheekSquintLeft": _vec(r.near(cheek_bone, 0.02), (0, 0.004, 0.001)) + _eyelid_shapes(r, "left")["eyeSquintLeft"] * 0.3,
        "noseSneerLeft": _vec(r.near(alar, 0.015), (0.001, 0.003, 0)) + _vec(side * r.upper_lip, (0, 0.001, 0)),
        "jawLeft": _vec(r.jaw, (0.008, 0, 0)),
        "mouthLeft": _vec(np.maximum(r.mouth, lips), (0.008, 0, 0)),
    }
    shapes.update(_eyelid_shapes(r, "left"))
    return shapes


def _symmetric_shapes(r: _Regions, jaw_angle: float) -> dict[str, np.ndarray]:
    p = r.p
    lips = r.upper_lip + r.lower_lip
    mouth = np.maximum(r.mouth, lips)
    inner_up = r.upper * _falloff(p, p[r.g["upper_lip_inner"]], 0.008)
    inner_low = r.lower * _falloff(p, p[r.g["lower_lip_inner"]], 0.008)
    # A dropping jaw parts the lips into an oval: the upper inner lip arches up in the middle.
    arch = inner_up * (1.0 - np.minimum(r.u ** 2, 1.0))
    jaw_turn = _vec(r.jaw, (1, 1, 1)) * _jaw_displacement(p, r.hinge, jaw_angle)
    lip_arch = _vec(arch, (0, ARCH, ARCH_FORWARD))
    lower_lip_close = _falloff(p, p[r.g["lower_lip_inner"]], 0.015) * r.lower
    funnel = _vec(inner_up, (0, 0.003, 0)) + _vec(inner_low, (0, -0.004, 0))
    funnel[:, 0] -= 0.006 * r.u * lips
    funnel[:, 2] += 0.006 * lips * (1.0 - 0.5 * r.u ** 2)
    pucker = np.zeros_like(p)
    pucker[:, 0] = -0.01 * np.clip(r.u, -1.2, 1.2) * mouth
    pucker[:, 2] = 0.009 * lips + 0.003 * r.mouth
    chin = r.jaw * (1.0 - r.lower_lip) * r.lower
    return {
        "jawOpen": jaw_turn + lip_arch,
        "jawForward": _vec(r.jaw, (0, 0, 0.01)),
        # lips together while the jaw is open: undo jawOpen on the lips only, not the chin
        "mouthClose": -jaw_turn * lower_lip_close[:, None] - lip_arch,
        "mouthFunnel": funnel,
        "mouthPucker": pucker,
        "mouthRollUpper": _vec(r.upper_lip * (1.0 - r.inner), (0, -0.003, -0.004)) + _vec(r.upper_lip * r.inner, (0, 0, -0.004)),
        "mouthRollLower": _vec(r.lower_lip * (1.0 - r.inner), (0, 0.003, -0.004)) + _vec(r.lower_lip * r.inner, (0, 0, -0.004)),
        "mouthShrugUpper": _vec(r.upper_lip, (0, 0.003, 0.002)),
        "mouthShrugLower": _vec(r.lower_lip, (0, 0.004, 0.003)) + _vec(chin, (0, 0.003, 0.001)),
        "browInnerUp": _vec(r.near([285, 336, 295, 296, 55, 107, 65, 66], 0.016), (0, 0.007, 0)),
        "cheekPuff": _vec(r.near([425, 205], 0.035), (0, 0, 0.004)) + _vec(r.near([425, 205], 0.035) * np.sign(p[:, 0]), (0.008, 0, 0)) + _vec(lips, (0, 0, 0.002)),
        "tongueOut": np.zeros_like(p),  # no tongue among the 468 landmarks: a channel, no geometry
    }


def _solve_jaw_angle(r: _Regions) -> float:
    """The jaw rotation that opens the inner lips (13-14) by JAW_OPEN_GAP."""
    lo, hi = 0.0, 0.8
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        d = r.jaw[14] * _jaw_displacement(r.p[[14]], r.hinge, mid)[0]
        gap = np.linalg.norm(r.p[13] - (r.p[14] + d)) - np.linalg.norm(r.p[13] - r.p[14])
        lo, hi = (mid, hi) if gap < JAW_OPEN_GAP - ARCH else (lo, mid)
    return 0.5 * (lo + hi)


def build_basis(neutral: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """(52, 468, 3) blendshape deltas in ARKit order."""
    r = _Regions(neutral)
    shapes = _symmetric_shapes(r, _solve_jaw_angle(r))
    for name, delta in _left_shapes(r).items():
        shapes[name] = delta
        shapes[name.replace("Left", "Right")] = _mirror_x(delta[mirror])
    return np.stack([shapes[name] for name in ARKIT_BLENDSHAPES]).astype(np.float64)


# -- the rig ----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _neutral_cached() -> tuple[np.ndarray, np.ndarray]:
    path = topology.cache_dir() / f"arkit52_neutral_v{_CACHE_VERSION}.npz"
    if path.is_file():
        try:
            with np.load(path) as data:
                return data["neutral"], data["mirror"]
        except Exception:  # a corrupt cache is rebuilt, not fatal
            pass
    neutral, mirror = _derive_neutral()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, neutral=neutral, mirror=mirror)
        os.replace(tmp, path)
    except OSError:
        pass
    return neutral, mirror


class Arkit52Rig:
    """Neutral + 52 linear blendshapes + head rotation about a neck pivot, on 468 vertices."""

    name = NAME
    channels: tuple[str, ...] = ARKIT52_CHANNELS

    def __init__(self):
        neutral, mirror = _neutral_cached()
        self.neutral = neutral.copy()
        self.mirror = mirror.copy()
        self.basis = build_basis(self.neutral, self.mirror)
        self.triangles = topology.orient_towards(topology.triangles(), self.neutral)
        self.groups = topology.groups()
        self.pivot = NECK_PIVOT.copy()

    @property
    def num_shapes(self) -> int:
        return len(self.basis)

    def shape(self, weights: np.ndarray) -> np.ndarray:
        """(T, 52) blendshape weights -> (T, 468, 3) vertices without head rotation."""
        return self.neutral[None] + np.einsum("tk,kvc->tvc", weights, self.basis)

    def landmarks(self, values) -> np.ndarray:
        """(T, 55) or (55,) channel values (or a Motion on this rig) -> (T, 468, 3) metres."""
        values = self._check_values(values)
        verts = self.shape(values[:, : self.num_shapes])
        rot = rotation(values[:, -3], values[:, -2], values[:, -1])
        return np.einsum("tij,tvj->tvi", rot, verts - self.pivot) + self.pivot

    def _check_values(self, values) -> np.ndarray:
        if hasattr(values, "values") and hasattr(values, "rig"):
            if values.rig != NAME or tuple(values.channels) != self.channels:
                raise MotionFileError(f"motion is on rig {values.rig!r}, not {NAME!r}")
            values = values.values
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[None]
        if values.ndim != 2 or values.shape[1] != len(self.channels):
            raise MotionFileError(f"{NAME} values must be T x {len(self.channels)}, got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise MotionFileError(f"{NAME} values contain NaN or infinity")
        return values

    def vertex_colors(self) -> np.ndarray:
        """(468, 3) RGB in [0, 1]: skin, redder darker lips, dark lash lines and brows."""
        r = _Regions(self.neutral)
        skin = np.array([0.86, 0.69, 0.59])
        lip = np.array([0.70, 0.36, 0.36])
        dark = np.array([0.30, 0.22, 0.20])
        g = self.groups
        lip_w = _lip_red(self.neutral, g)
        brow_w = r.near(np.r_[g["left_brow"], g["right_brow"]], 0.006)
        lash_w = np.zeros(len(self.neutral))
        lash_w[np.r_[g["left_eye"], g["right_eye"]]] = 1.0
        colors = skin[None] * (1.0 - lip_w[:, None]) + lip[None] * lip_w[:, None]
        dark_w = np.maximum(brow_w * 0.7, lash_w * 0.8)[:, None]
        return np.clip(colors * (1.0 - dark_w) + dark[None] * dark_w, 0.0, 1.0)


def _lip_red(p: np.ndarray, g: dict[str, np.ndarray]) -> np.ndarray:
    """1 for vertices on or inside the outer lip contour (the vermilion), 0 elsewhere."""
    loop = p[np.r_[g["upper_lip_outer"], g["lower_lip_outer"][::-1][1:-1]], :2]
    a, b = loop, np.roll(loop, -1, axis=0)
    x, y = p[:, 0:1], p[:, 1:2]
    crosses = (a[None, :, 1] > y) != (b[None, :, 1] > y)
    t = (y - a[None, :, 1]) / np.where(b[:, 1] == a[:, 1], 1e-12, b[:, 1] - a[:, 1])[None]
    hit = crosses & (x < a[None, :, 0] + t * (b[:, 0] - a[:, 0])[None])
    inside = hit.sum(axis=1) % 2 == 1  # ray casting, even-odd rule
    inside[g["lips"]] = True
    return inside.astype(np.float64)
