"""A display mesh for the arkit52 rig: the face surface plus what its holes would show.

MediaPipe's face mesh is open at the mouth and the eyes, so a shaded rig shows the background
through them. For video we close each hole with rings of extra vertices stepping from the rim
toward a centre pushed behind the face: a dark cavity with a pale upper-teeth edge for the
mouth, white sclera around a dark iris for each eye. The rig's 468 vertices come first, so
landmarks are unchanged; the extra vertices are recomputed every frame from the deformed rim,
so the caps follow the motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rigs.topology import LANDMARKS, boundary_loops

CAVITY = (0.22, 0.06, 0.07)
TEETH = (0.93, 0.91, 0.86)
SCLERA = (0.95, 0.95, 0.93)
IRIS = (0.24, 0.17, 0.12)


@dataclass(frozen=True)
class Ring:
    """Copies of a rim moved `toward` the rim's centre (0 = on the rim) and `depth` metres back."""

    toward: float
    depth: float
    color: tuple[float, float, float]


MOUTH_RINGS = (Ring(0.0, 0.004, CAVITY), Ring(0.4, 0.009, CAVITY), Ring(1.0, 0.014, CAVITY))
EYE_RINGS = (Ring(0.0, 0.0008, SCLERA), Ring(0.55, 0.0015, SCLERA), Ring(0.55, 0.0015, IRIS),
             Ring(1.0, 0.0022, IRIS))


class FaceView:
    """Vertices, triangles and colours of the rig's closed display mesh."""

    def __init__(self, rig) -> None:
        self.rig = rig
        loops = boundary_loops(rig.triangles)
        mouth = _loop_with(loops, LANDMARKS["upper_lip_inner"])
        eyes = [_loop_with(loops, LANDMARKS[k]) for k in ("right_eye_outer", "left_eye_outer")]
        self._caps = [(mouth, MOUTH_RINGS)] + [(eye, EYE_RINGS) for eye in eyes]
        n = len(rig.neutral)
        tris, colors = [rig.triangles], [rig.vertex_colors()]
        for rim, rings in self._caps:
            previous = rim
            for ring in rings:
                current = n + np.arange(len(rim))
                tris.append(_band(previous, current))
                colors.append(np.tile(ring.color, (len(rim), 1)))
                previous, n = current, n + len(rim)
        self.triangles = np.concatenate(tris).astype(np.int32)
        self.colors = np.concatenate(colors).astype(np.float32)
        self.colors[self._upper_teeth(mouth)] = TEETH
        self.n_vertices = n

    def _upper_teeth(self, mouth: np.ndarray) -> np.ndarray:
        """The first cavity ring along the upper lip shows as the edge of the upper teeth."""
        upper = set(self.rig.groups["upper_lip_inner"].tolist()) - {int(mouth[0])}
        first_ring = len(self.rig.neutral)
        return np.array([first_ring + i for i, v in enumerate(mouth) if int(v) in upper], np.int64)

    def vertices(self, landmarks: np.ndarray) -> np.ndarray:
        """(T, 468, 3) rig landmarks -> (T, n_vertices, 3) display vertices."""
        lm = np.asarray(landmarks, dtype=np.float32)
        back = _backward(lm)[:, None]
        parts = [lm]
        for rim, rings in self._caps:
            edge = lm[:, rim]
            centre = edge.mean(axis=1, keepdims=True)
            parts += [edge + ring.toward * (centre - edge) + ring.depth * back for ring in rings]
        return np.concatenate(parts, axis=1)


def _band(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Two triangles per segment joining two equally long closed rings."""
    a, b = outer, np.roll(outer, -1)
    c, d = inner, np.roll(inner, -1)
    return np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])


def _loop_with(loops: list[np.ndarray], vertex: int) -> np.ndarray:
    for loop in loops:
        if vertex in loop:
            return loop
    raise ValueError(f"no boundary loop contains vertex {vertex}")


def _backward(lm: np.ndarray) -> np.ndarray:
    """Per frame, the unit vector pointing into the head (away from the viewer)."""
    across = lm[:, LANDMARKS["left_eye_outer"]] - lm[:, LANDMARKS["right_eye_outer"]]
    up = lm[:, LANDMARKS["forehead"]] - lm[:, LANDMARKS["chin"]]
    forward = np.cross(across, up)
    return -forward / np.linalg.norm(forward, axis=1, keepdims=True)
