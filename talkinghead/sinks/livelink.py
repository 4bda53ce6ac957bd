"""arkit52 frames to Unreal Engine as Live Link Face packets (UDP, by default port 11111).

The packet is what the Live Link Face app sends (protocol version 6), so Unreal's Live Link
plugin lists us as a face subject and a MetaHuman or any ARKit-driven character follows:

    uint8 version (6)
    int32 length + UTF-8 device id        (all numbers big-endian)
    int32 length + UTF-8 subject name
    int32 frame number, float32 sub-frame, int32 rate numerator, int32 rate denominator
    uint8 curve count (61)
    61 x float32: the 52 ARKit shapes in Unreal's EARFaceBlendShape order, head yaw/pitch/roll,
    left and right eye yaw/pitch/roll

The layout was checked against a parser of packets captured from the app; it has not been
tried against a running Unreal Editor here. Unreal's curve order differs from the Live Link
Face CSV's in two pairs (jawLeft/jawRight, mouthLeft/mouthRight), hence the explicit list.
Head angles go as the CSV writes them (radians); eye rotations are zero (no rig channel).
"""

from __future__ import annotations

import struct
import uuid

import numpy as np

from ..errors import MotionFileError
from ..motion import ARKIT_BLENDSHAPES
from .frames import UdpSender

VERSION = 6
DEFAULT_PORT = 11111


def _unreal_order(shapes: tuple[str, ...]) -> tuple[str, ...]:
    """Our (Live Link Face CSV) shape order with the two pairs Unreal's enum lists the other way."""
    order = list(shapes)
    for first, second in (("jawRight", "jawLeft"), ("mouthRight", "mouthLeft")):
        i, j = order.index(first), order.index(second)
        order[i], order[j] = order[j], order[i]
    return tuple(order)


UNREAL_CURVES: tuple[str, ...] = _unreal_order(ARKIT_BLENDSHAPES) + (
    "headYaw", "headPitch", "headRoll",
    "leftEyeYaw", "leftEyePitch", "leftEyeRoll", "rightEyeYaw", "rightEyePitch", "rightEyeRoll",
)


def packet(values: np.ndarray, channels: tuple[str, ...], frame: int, fps: int = 25,
           subject: str = "talkinghead", device_id: str = "") -> bytes:
    """One Live Link Face packet for a frame of `values` on `channels` (missing curves are 0)."""
    index = {name: i for i, name in enumerate(channels)}
    curves = np.array([values[index[name]] if name in index else 0.0 for name in UNREAL_CURVES],
                      dtype=">f4")
    head = struct.pack(">B", VERSION) + _string(device_id) + _string(subject)
    timing = struct.pack(">ifii", int(frame), 0.0, int(fps), 1)
    return head + timing + struct.pack(">B", len(UNREAL_CURVES)) + curves.tobytes()


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">i", len(raw)) + raw


class LiveLinkFrames:
    """A frame sink (`sink(index, values, latency_ms)`) sending Live Link Face packets."""

    def __init__(self, channels: tuple[str, ...], rig: str, address: str, fps: float = 25.0,
                 subject: str = "talkinghead") -> None:
        if rig != "arkit52":
            raise MotionFileError(f"Live Link Face carries ARKit curves; the model's rig is {rig!r}")
        if not float(fps).is_integer():
            raise MotionFileError(f"Live Link frame rates here are whole numbers, got {fps}")
        self.channels, self.fps, self.subject = channels, int(fps), subject
        self.device_id = str(uuid.uuid4())  # one per run, as each app install has its own
        self.udp = UdpSender(address, DEFAULT_PORT)

    def __call__(self, index: int, values: np.ndarray, latency_ms: float | None = None) -> None:
        self.udp.send(packet(values, self.channels, index, self.fps, self.subject, self.device_id))

    def close(self) -> None:
        self.udp.close()
