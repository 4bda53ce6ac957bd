"""Motion frames as they are made, for `talkinghead live`: JSON records (text stream or UDP).

A frame sink is any callable `sink(index, values, latency_ms)`. This module's `JsonFrames`
writes the format a game engine, a VTuber tool or a browser reads with nothing but a JSON
parser:

    {"frame": 12, "time": 0.48, "rig": "arkit52", "latency_ms": 512.3, "values": {"jawOpen": 0.31, ...}}

`time` is the frame's place in the audio (frame / fps); `latency_ms` (live input only) is how
long after that moment's sound arrived the frame was sent. One datagram per frame (~1.5 kB for
arkit52). `sinks/livelink.py` speaks Unreal's Live Link Face protocol instead.
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


class UdpSender:
    """Datagrams to one "host:port" address, with one-line errors."""

    def __init__(self, address: str, default_port: int | None = None) -> None:
        self.address = parse_address(address, default_port)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, payload: bytes) -> None:
        try:
            self.socket.sendto(payload, self.address)
        except OSError as exc:
            raise TalkingHeadError(f"cannot send to {self.address[0]}:{self.address[1]}: "
                                   f"{exc.strerror or exc}") from None

    def close(self) -> None:
        self.socket.close()


class JsonFrames:
    """Frame records as JSON lines on `stream`, or one per datagram to `udp` ("host:port")."""

    def __init__(self, channels: tuple[str, ...], rig: str, fps: float,
                 stream: TextIO | None = None, udp: str | None = None) -> None:
        self.channels, self.rig, self.fps = channels, rig, fps
        self.stream = stream
        self.udp = UdpSender(udp) if udp else None

    def __call__(self, index: int, values: np.ndarray, latency_ms: float | None = None) -> None:
        line = frame_record(index, values, self.channels, self.rig, self.fps, latency_ms)
        if self.udp is not None:
            self.udp.send(line.encode())
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.udp is not None:
            self.udp.close()


def parse_address(text: str, default_port: int | None = None) -> tuple[str, int]:
    """"host:port" (or "host" when there is a default port) -> (host, port), or a one-line error."""
    host, sep, port = str(text).rpartition(":")
    if not sep and default_port is not None:
        host, port = str(text), str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TalkingHeadError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)
