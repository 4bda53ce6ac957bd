"""A pinhole camera: world points -> continuous pixel coordinates, and the matching GL matrices.

Both render backends take their geometry from here, so the numpy rasteriser and the GL one agree
on where every vertex lands. Conventions:

* world: right-handed; the presets look along -z with +y up, so +x is image right.
* pixels: continuous coordinates with (0, 0) at the top-left corner of the image and pixel
  centres at +0.5, u to the right, v down (ARTalk / PyTorch3D screen convention).
* camera space: OpenGL style, the camera looks down its own -z axis, +y up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkinghead.errors import RenderError

# ARTalk renders with a PyTorch3D NDC focal of 12 (3072 px at 512^2) from (0, 0, 2).
ARTALK_FOCAL_NDC = 12.0
ARTALK_DISTANCE = 2.0

Vec3 = tuple[float, float, float]


MAX_SIDE = 4096   # pixels: beyond this a frame buffer is hundreds of MB and H.264 levels end


def parse_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(width, height) from an int (square) or a pair; rejects non-positive and absurd sizes."""
    pair = (size, size) if np.isscalar(size) else tuple(np.ravel(size))
    if len(pair) != 2 or not all(isinstance(x, (int, np.integer)) and x > 0 for x in pair):
        raise RenderError(f"image size must be a positive int or (width, height), got {size!r}")
    if max(pair) > MAX_SIDE:
        raise RenderError(f"image size {pair[0]}x{pair[1]} is too large (at most {MAX_SIDE} per side)")
    return int(pair[0]), int(pair[1])


def _vec3(value, name: str) -> Vec3:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (3,) or not np.isfinite(array).all():
        raise RenderError(f"camera {name} must be 3 finite numbers, got {value!r}")
    return tuple(float(x) for x in array)


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@dataclass(frozen=True)
class Camera:
    """A look-at pinhole camera with square pixels; `focal` is in pixels."""

    eye: Vec3
    target: Vec3
    up: Vec3
    focal: float
    width: int
    height: int
    near: float = 0.01
    far: float = 100.0

    # ------------------------------------------------------------------ constructors
    @classmethod
    def look_at(
        cls,
        eye,
        target=(0.0, 0.0, 0.0),
        up=(0.0, 1.0, 0.0),
        size: int | tuple[int, int] = 512,
        focal: float | None = None,
        focal_ndc: float | None = None,
        near: float = 0.01,
        far: float = 100.0,
    ) -> "Camera":
        """Camera at `eye` looking at `target`. Give the focal in pixels or in NDC units.

        NDC focal follows PyTorch3D: 1 NDC unit is half the shorter image side, so focal_ndc 12 at
        512^2 is 3072 px.
        """
        width, height = parse_size(size)
        if (focal is None) == (focal_ndc is None):
            raise RenderError("camera needs exactly one of focal (pixels) or focal_ndc")
        focal_px = focal if focal is not None else focal_ndc * min(width, height) / 2.0
        if not np.isfinite(focal_px) or focal_px <= 0:
            raise RenderError(f"camera focal must be positive, got {focal_px!r}")
        if not 0 < near < far:
            raise RenderError(f"camera needs 0 < near < far, got near={near} far={far}")
        eye3, target3, up3 = _vec3(eye, "eye"), _vec3(target, "target"), _vec3(up, "up")
        forward = np.subtract(target3, eye3)
        if np.linalg.norm(forward) == 0 or np.linalg.norm(np.cross(forward, up3)) < 1e-12:
            raise RenderError("camera eye must differ from target and up must not be parallel to the view")
        return cls(eye3, target3, up3, float(focal_px), width, height, float(near), float(far))

    @classmethod
    def artalk(cls, size: int = 512) -> "Camera":
        """ARTalk's render camera: (0, 0, 2) looking toward -z, NDC focal 12, centred principal point."""
        return cls.look_at((0.0, 0.0, ARTALK_DISTANCE), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0),
                           size=size, focal_ndc=ARTALK_FOCAL_NDC, near=0.01, far=100.0)

    @classmethod
    def fit(
        cls,
        vertices: np.ndarray,
        size: int | tuple[int, int] = 512,
        margin: float = 0.15,
        focal_ndc: float = ARTALK_FOCAL_NDC,
    ) -> "Camera":
        """Front view (+x right, +y up, viewer on +z) that frames every vertex.

        The camera looks at the centre of the bounding box from the distance at which the most
        demanding vertex just touches the frame shrunk by `margin` (a fraction of the image on each
        side; the default leaves room for a fully open jaw when fitted on a neutral face). The
        default focal matches ARTalk's long lens, so fitted renders keep its flat look.
        """
        points = np.asarray(vertices, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0 or not np.isfinite(points).all():
            raise RenderError(f"Camera.fit needs finite (N, 3) vertices, got shape {points.shape}")
        if not 0 <= margin < 0.5:
            raise RenderError(f"Camera.fit margin must be in [0, 0.5), got {margin}")
        width, height = parse_size(size)
        focal = focal_ndc * min(width, height) / 2.0
        centre = (points.min(0) + points.max(0)) / 2.0
        rel = points - centre
        half_w, half_h = width * (0.5 - margin), height * (0.5 - margin)
        # A vertex at depth z_rel toward the viewer projects inside when d - z_rel >= focal*|x|/half.
        need = np.maximum(focal * np.abs(rel[:, 0]) / half_w, focal * np.abs(rel[:, 1]) / half_h) + rel[:, 2]
        extent = float(np.ptp(points, axis=0).max()) or 1.0
        distance = max(float(need.max()), float(rel[:, 2].max()) + 0.05 * extent, 1e-6)
        eye = centre + np.array([0.0, 0.0, distance])
        return cls.look_at(eye, centre, (0.0, 1.0, 0.0), size=(width, height), focal=focal,
                           near=distance / 20.0, far=distance * 20.0)

    # ------------------------------------------------------------------ geometry
    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Camera right, up and back (+z of camera space) unit vectors in world coordinates."""
        back = _normalize(np.subtract(self.eye, self.target))
        right = _normalize(np.cross(self.up, back))
        return right, np.cross(back, right), back

    def view_matrix(self) -> np.ndarray:
        """4x4 world -> camera-space matrix (column vectors)."""
        right, up, back = self.basis()
        rotation = np.stack([right, up, back])
        view = np.eye(4)
        view[:3, :3] = rotation
        view[:3, 3] = -rotation @ np.asarray(self.eye)
        return view

    def projection_matrix(self) -> np.ndarray:
        """4x4 camera -> GL clip matrix whose NDC maps exactly onto `project`'s pixel grid."""
        n, f, w, h = self.near, self.far, self.width, self.height
        proj = np.zeros((4, 4))
        proj[0, 0] = 2.0 * self.focal / w
        proj[1, 1] = 2.0 * self.focal / h
        proj[2, 2] = -(f + n) / (f - n)
        proj[2, 3] = -2.0 * f * n / (f - n)
        proj[3, 2] = -1.0
        return proj

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World (..., 3) -> camera space (..., 3); visible points have negative z."""
        right, up, back = self.basis()
        rel = np.asarray(points, dtype=np.float64) - np.asarray(self.eye)
        return np.stack([rel @ right, rel @ up, rel @ back], axis=-1)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World (..., 3) -> (pixel coordinates (..., 2), depth along the view axis (...,)).

        u = W/2 + f*x_c/depth, v = H/2 - f*y_c/depth with depth = -z_c; for `artalk()` this is
        u = 256 + 3072*x/(2 - z), v = 256 - 3072*y/(2 - z).
        """
        cam = self.to_camera(points)
        depth = -cam[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.width / 2.0 + self.focal * cam[..., 0] / depth
            v = self.height / 2.0 - self.focal * cam[..., 1] / depth
        return np.stack([u, v], axis=-1), depth

    def light_position(self) -> np.ndarray:
        """ARTalk's light placement relative to this camera: above and in front of the subject.

        ARTalk's light (0, 1, 3) sits at eye + d/2*up + d/2*back with d = 2 the eye-target
        distance; the same offsets scaled by d place an equivalent light for any camera.
        """
        _, up, back = self.basis()
        distance = float(np.linalg.norm(np.subtract(self.eye, self.target)))
        return np.asarray(self.eye) + 0.5 * distance * (up + back)
