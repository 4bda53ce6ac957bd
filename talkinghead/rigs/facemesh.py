"""`FaceMesh`: MediaPipe's face landmarker as numpy in, numpy out.

MediaPipe returns landmarks normalised to the image (x by width, y by height, z roughly by
width). Everything downstream wants isotropic coordinates, so we return pixels: x, y in pixels
(y down, as in the image) and z scaled by the width like x (smaller z = nearer the camera).
With `refine_landmarks=True` there are 478 points: the 468 mesh vertices, then 10 iris points.
Use `static=True` for unrelated photos and `static=False` for the frames of one video (it
tracks between frames, which is faster and steadier).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from ..errors import TalkingHeadError


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence what MediaPipe's C++ side (TFLite, absl) prints straight to file descriptor 2.

    Those start-up notes ("Created TensorFlow Lite XNNPACK delegate", feedback-manager warnings)
    would break the one-line error contract of the CLI; Python-level errors still raise.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class FaceMesh:
    """Face landmarks of an RGB uint8 image (H, W, 3); one instance per video stream."""

    def __init__(self, static: bool = True, max_faces: int = 1, min_confidence: float = 0.5):
        try:
            import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - mediapipe is a hard dependency
            raise TalkingHeadError(f"face landmarks need mediapipe: {exc}") from None
        self.max_faces = int(max_faces)
        with quiet_native_logs():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=static, max_num_faces=self.max_faces, refine_landmarks=True,
                min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)

    def faces(self, image: np.ndarray) -> list[np.ndarray]:
        """(478, 3) float32 pixel-scaled landmarks of every face found (at most `max_faces`)."""
        image = _check_image(image)
        with quiet_native_logs():
            result = self._mesh.process(image)
        if not result.multi_face_landmarks:
            return []
        h, w = image.shape[:2]
        scale = np.array([w, h, w], dtype=np.float32)
        return [np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32) * scale
                for face in result.multi_face_landmarks]

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        """Landmarks of the first face, or None when there is no face."""
        found = self.faces(image)
        return found[0] if found else None

    def count(self, image: np.ndarray) -> int:
        """How many faces are visible (up to `max_faces`): for quality checks on a corpus."""
        return len(self.faces(image))

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> "FaceMesh":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 16:
        raise TalkingHeadError(f"face mesh needs an RGB image H x W x 3, got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)
