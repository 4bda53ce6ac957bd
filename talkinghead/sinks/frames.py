"""Motion frames as they are made, one JSON object each: to a text stream or as UDP datagrams.

The format a game engine, a VTuber tool or a browser can read with nothing but a JSON parser:

    {"frame": 12, "time": 0.48, "rig": "arkit52", "latency_ms": 512.3, "values": {"jawOpen": 0.31, ...}}

`time` is the frame's place in the audio (frame / fps); `latency_ms` (live input only) is how
long after that moment's sound arrived the frame was sent. One datagram per frame (~1.5 kB for
arkit52, well under any MTU concern for localhost, and below 64 kB anywhere).
"""

from __future__ import annotations

import json
import socket
from typing import TextIO

import numpy as np

from ..errors import TalkingHeadError


def frame_record(index: int, values: np.ndarray, channels: tuple[str, ...], rig: str, fps: float,
                 latency_ms: float | None = None) -> str:
    """One frame as a compact JSON line (values rounded to 5 decimals)."""
    record = {"frame": int(index), "time": round(index / fps, 4), "rig": rig}
    if latency_ms is not None:
        record["latency_ms"] = round(float(latency_ms), 1)
    record["values"] = {name: round(float(v), 5) for name, v in zip(channels, values)}
    return json.dumps(record, separators=(",", ":"))


class FrameSink:
    """Writes frame records to a text stream (`stream`) or a UDP address (`udp` "host:port")."""

    def __init__(self, stream: TextIO | None = None, udp: str | None = None) -> None:
        self.stream = stream
        self.address = parse_address(udp) if udp else None
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if self.address else None
        self.sent = 0

    def send(self, line: str) -> None:
        if self.socket is not None:
            try:
                self.socket.sendto(line.encode(), self.address)
            except OSError as exc:
                raise TalkingHeadError(f"cannot send to {self.address[0]}:{self.address[1]}: "
                                       f"{exc.strerror or exc}") from None
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        self.sent += 1

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()


def parse_address(text: str) -> tuple[str, int]:
    """"host:port" -> (host, port), or a one-line error."""
    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TalkingHeadError(f"expected HOST:PORT for --udp, got {text!r}")
    return host, int(port)
