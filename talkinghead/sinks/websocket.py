"""Motion frames to browsers: a small HTTP + WebSocket server for `talkinghead live --ws`.

One port serves three things:

* `/` and `/viewer.js`: a self-contained page that draws the arkit52 head from the frames it
  receives (canvas 2D, no libraries; other rigs get a bar per channel);
* `/rig.json`: the rig the page deforms (neutral, the 52 blendshape deltas, triangles, vertex
  colours, head pivot), so a client draws exactly our rig;
* `/frames`: a WebSocket (RFC 6455) on which every frame goes out as the same JSON record the
  UDP sink sends (`sinks/frames.frame_record`);
* `/audio?rate=R` (only when the server has a model: `talkinghead serve`): a browser sends its
  microphone as binary messages of float32 samples at R Hz and a text "end" when it stops; it gets
  back the frames of its own stream (resampled to 16 kHz with soxr, run through
  `pipeline.live`, so latency is measured as for a local microphone). Streams of different
  clients are independent; their feed calls run one at a time (pocketsphinx decoders are shared).

With an `avatar` (a photo or video avatar from `talkinghead prepare`, or the built-in "photo"),
each frame's JSON record is followed by a binary message: that frame rendered on the avatar as a
JPEG, which the page shows instead of the mesh (a person's own face, live).

Why our own few lines of protocol rather than a web framework: the server only pushes text
messages and answers pings and closes, which is a handful of byte layouts; a dependency would
bring an event loop to a pipeline that is plain threads. Each client gets a writer thread and a
short queue: a slow browser loses old frames (a frame is a whole state, the next one replaces
it) instead of stalling the audio loop. Bind to 127.0.0.1 unless others should watch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import socket
import struct
import threading
from importlib import resources

import numpy as np

from ..audio.io import check_chunk
from ..errors import AudioError, TalkingHeadError
from .frames import frame_record

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
MAX_REQUEST = 16384       # bytes of HTTP request head we read before giving up
MAX_CLIENT_MESSAGE = 65536  # browsers only send us pings and closes
QUEUE_FRAMES = 32         # frames a client may fall behind before the oldest are dropped
MAX_VIEWERS = 64          # WebSocket viewers at once (each holds two threads)
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_AUDIO_MESSAGE = 1 << 20   # bytes: 5 s of float32 at 48 kHz in one message is plenty
RATES = (8000, 192000)        # accepted microphone sample rates, Hz


# -- the protocol ---------------------------------------------------------------------------

def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def encode_frame(payload: bytes, opcode: int = OP_TEXT, mask: bytes | None = None) -> bytes:
    """One final WebSocket frame; servers send unmasked, clients (and tests) pass a 4-byte mask."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask:
        return head + mask + _unmask(payload, mask)
    return head + payload


def read_frame(conn: socket.socket, limit: int = MAX_CLIENT_MESSAGE) -> tuple[int, bytes]:
    """(opcode, payload) of the next frame; masked payloads are unmasked. Raises ConnectionError
    on a closed socket or a frame longer than `limit`."""
    b0, b1 = _read_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", _read_exact(conn, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _read_exact(conn, 8))[0]
    if n > limit:
        raise ConnectionError(f"frame of {n} bytes is over the limit of {limit}")
    mask = _read_exact(conn, 4) if b1 & 0x80 else None
    payload = _read_exact(conn, n)
    return b0 & 0x0F, _unmask(payload, mask) if mask else payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    key = np.frombuffer(mask * (len(data) // 4 + 1), np.uint8)[: len(data)]
    return (np.frombuffer(data, np.uint8) ^ key).tobytes()


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise ConnectionError("connection closed")
        data += part
    return data


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str]]:
    """(path, query, lower-cased headers) of an HTTP GET, or ConnectionError."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(4096)
        if not part or len(data) > MAX_REQUEST:
            raise ConnectionError("incomplete request")
        data += part
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3 or parts[0] != "GET":
        raise ConnectionError("not a GET request")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    path, _, query = parts[1].partition("?")
    return path, query, headers


def _http(status: str, body: bytes = b"", kind: str = "text/plain; charset=utf-8") -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-cache\r\nConnection: close\r\n\r\n")
    return head.encode() + body


# -- what the page needs --------------------------------------------------------------------

def rig_document(rig_name: str, channels: tuple[str, ...], microphone: bool = False) -> dict:
    """The JSON the viewer draws: for arkit52 the whole rig (metres, 6 decimals), else the
    channel names only (the page then shows one bar per channel). `microphone`: the server takes
    audio on /audio, so the page offers the browser's microphone."""
    doc: dict = {"rig": rig_name, "channels": list(channels), "microphone": microphone}
    if rig_name == "arkit52":
        from ..rigs.arkit52 import Arkit52Rig
        rig = Arkit52Rig()
        flat = lambda a: np.round(np.asarray(a, np.float64), 6).ravel().tolist()  # noqa: E731
        g = rig.groups
        doc.update(
            shapes=list(channels[: rig.num_shapes]), neutral=flat(rig.neutral),
            basis=[flat(b) for b in rig.basis], triangles=np.asarray(rig.triangles).ravel().tolist(),
            colors=flat(np.round(rig.vertex_colors(), 3)), pivot=flat(rig.pivot),
            mouth=_loop(g["upper_lip_inner"], g["lower_lip_inner"]),
            eyes=[_loop(g[f"{side}_eye_upper"], g[f"{side}_eye_lower"]) for side in ("right", "left")])
    return doc


def _loop(upper: np.ndarray, lower: np.ndarray) -> list[int]:
    """A closed contour from its two halves, both ordered the same way (topology.groups)."""
    return np.r_[upper, lower[::-1]].tolist()


def _viewer_file(name: str) -> bytes:
    return resources.files("talkinghead.sinks").joinpath("viewer", name).read_bytes()


# -- the server -----------------------------------------------------------------------------

class _Client:
    """One WebSocket connection: a writer thread drains a short queue of encoded frames."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_FRAMES)
        self.alive = True
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.writer.start()

    def offer(self, data: bytes | None, wait: bool = False) -> None:
        """Queue `data`. When the queue is full: drop the oldest frame (viewers: the newest state
        matters) or, with `wait`, wait for room (a speaker's own frames: slow its stream down
        rather than lose them). Nothing happens once the connection is gone."""
        while self.alive:
            try:
                if wait:
                    self.queue.put(data, timeout=0.1)
                else:
                    self.queue.put_nowait(data)
                return
            except queue.Full:
                if not wait:
                    try:
                        self.queue.get_nowait()
                    except queue.Empty:
                        pass

    def _write(self) -> None:
        while self.alive:
            data = self.queue.get()
            if data is None:
                break
            try:
                self.conn.sendall(data)
            except OSError:
                break
        self.alive = False
        _close_quietly(self.conn)

    def stop(self, code: int = 1001, reason: str = "") -> None:
        """Close after what is queued (1001: going away; 1000 done; 1007 bad data)."""
        payload = struct.pack(">H", code) + reason.encode()[:120]
        self.offer(encode_frame(payload, OP_CLOSE))
        self.offer(None)


class FaceImages:
    """One stream's frames on an avatar, as JPEG: motion row k on source frame k (a video
    avatar ping-pongs, as in rendered videos)."""

    def __init__(self, renderer, quality: int = 85) -> None:
        self.renderer, self.quality = renderer, int(quality)
        self.sources = renderer.avatar.source_frames()
        self.k = 0

    def __call__(self, values: np.ndarray, wanted: bool = True) -> bytes | None:
        """The JPEG of the next frame, or None when not `wanted` (the source still advances)."""
        import cv2
        source, k = next(self.sources), self.k
        self.k += 1
        if not wanted:
            return None
        image = self.renderer.render(source, values, k)
        ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]),
                                [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return jpeg.tobytes()


def avatar_renderer(avatar, rig: str):
    """An AvatarRenderer for `avatar` ("photo", a folder or an Avatar), or a one-line error."""
    if rig != "arkit52":
        raise TalkingHeadError(f"avatars play arkit52 motion; this model is on rig {rig!r}")
    from ..avatar.photo import resolve_avatar
    from ..render.photo2d.avatar_renderer import AvatarRenderer
    return AvatarRenderer(resolve_avatar(avatar))


class FrameServer:
    """A frame sink (`sink(index, values, latency_ms)`) that serves the viewer and pushes every
    frame to each connected WebSocket client. Port 0 picks a free port (see `.address`).

    With a `model` (a streaming MotionModel on the same rig), browsers may also send their own
    microphone on /audio, at most `max_speakers` at once; with an `avatar`, frames also go out
    rendered on that face (see the module docstring)."""

    def __init__(self, channels: tuple[str, ...], rig: str, fps: float,
                 address: tuple[str, int] = ("127.0.0.1", 8765), model=None,
                 max_speakers: int = 4, avatar=None) -> None:
        self.channels, self.rig, self.fps = tuple(channels), rig, fps
        self.model = None if model is None else _OneAtATime(model)
        self._renderer = None if avatar is None else avatar_renderer(avatar, rig)
        self._images = None if self._renderer is None else FaceImages(self._renderer)
        self._speakers = threading.BoundedSemaphore(max(1, int(max_speakers)))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind(address)
        except OSError as exc:
            self._listener.close()
            raise TalkingHeadError(f"cannot serve on {address[0]}:{address[1]}: "
                                   f"{exc.strerror or exc}") from None
        self._listener.listen(16)
        self.address = self._listener.getsockname()[:2]
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._closed = False
        self._rig_json: bytes | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}/"

    @property
    def clients(self) -> int:
        with self._lock:
            return sum(c.alive for c in self._clients)

    def wait_for_client(self, timeout: float | None = None) -> bool:
        """Block until a WebSocket client is connected (True) or the timeout passes (False)."""
        return self._connected.wait(timeout)

    def __call__(self, index: int, values: np.ndarray, latency_ms: float | None = None) -> None:
        with self._lock:
            self._clients = [c for c in self._clients if c.alive]
            clients = list(self._clients)
        data = _messages(frame_record(index, values, self.channels, self.rig, self.fps, latency_ms),
                         self._images(values, bool(clients)) if self._images else None)
        for client in clients:
            client.offer(data)   # record and image in one item: dropped, if at all, together

    def close(self) -> None:
        self._closed = True
        _close_quietly(self._listener)
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.stop()
        for client in clients:
            client.writer.join(timeout=1.0)

    # -- connections -----------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10.0)
            path, query, headers = _read_request(conn)
            if headers.get("upgrade", "").lower() == "websocket" and path == "/frames":
                self._upgrade(conn, headers)
                return
            if headers.get("upgrade", "").lower() == "websocket" and path == "/audio" and self.model:
                self._speak(conn, headers, query)
                return
            conn.sendall(self._page(path))
        except (OSError, ConnectionError, UnicodeError):
            pass
        _close_quietly(conn)

    def _page(self, path: str) -> bytes:
        if path in ("/", "/index.html"):
            return _http("200 OK", _viewer_file("index.html"), "text/html; charset=utf-8")
        if path in ("/viewer.js", "/lstm.js"):
            return _http("200 OK", _viewer_file(path[1:]), "text/javascript; charset=utf-8")
        if path == "/rig.json":
            if self._rig_json is None:
                doc = rig_document(self.rig, self.channels, self.model is not None)
                doc["images"] = self._renderer is not None
                self._rig_json = json.dumps(doc, separators=(",", ":")).encode()
            return _http("200 OK", self._rig_json, "application/json")
        return _http("404 Not Found", b"not found\n")

    def _upgrade(self, conn: socket.socket, headers: dict[str, str]) -> None:
        with self._lock:
            full = sum(c.alive for c in self._clients) >= MAX_VIEWERS
        if full:
            conn.sendall(_http("503 Service Unavailable", b"too many viewers at once\n"))
            return _close_quietly(conn)
        if not _handshake(conn, headers):
            return
        client = _Client(conn)
        with self._lock:
            if self._closed:
                client.stop()
                return
            self._clients.append(client)
        self._connected.set()
        self._listen(client)

    def _listen(self, client: _Client) -> None:
        """Answer pings and closes until the client goes (its messages carry nothing for us)."""
        try:
            while client.alive:
                opcode, payload = read_frame(client.conn)
                if opcode == OP_PING:
                    client.offer(encode_frame(payload, OP_PONG))
                elif opcode == OP_CLOSE:
                    client.offer(encode_frame(payload[:2], OP_CLOSE))
                    break
        except (OSError, ConnectionError):
            pass
        client.offer(None)


    # -- a browser's microphone -------------------------------------------------------------

    def _speak(self, conn: socket.socket, headers: dict[str, str], query: str) -> None:
        """Run one client's audio through its own model stream and send it its frames."""
        rate = _query_rate(query)
        if rate is None:
            conn.sendall(_http("400 Bad Request", f"/audio needs ?rate=HZ within {RATES[0]}..{RATES[1]}\n".encode()))
            return _close_quietly(conn)
        if not self._speakers.acquire(blocking=False):
            conn.sendall(_http("503 Service Unavailable", b"too many microphones at once\n"))
            return _close_quietly(conn)
        try:
            if not _handshake(conn, headers):
                return
            client = _Client(conn)
            images = None if self._renderer is None else FaceImages(self._renderer)

            def send(index: int, values: np.ndarray, latency_ms: float | None) -> None:
                record = frame_record(index, values, self.channels, self.rig, self.fps, latency_ms)
                client.offer(_messages(record, images(values) if images else None), wait=True)

            from ..pipeline import live
            try:
                live(_client_audio(client, rate), self.model, [send])
                client.stop(1000)
            except TalkingHeadError as exc:   # e.g. NaN samples: say why, as the close reason
                client.stop(1007 if isinstance(exc, AudioError) else 1011, str(exc))
            client.writer.join(timeout=5.0)
        finally:
            self._speakers.release()


def _messages(record: str, jpeg: bytes | None) -> bytes:
    """A frame's WebSocket messages: its JSON record, then its image when there is one."""
    data = encode_frame(record.encode())
    return data + encode_frame(jpeg, OP_BINARY) if jpeg is not None else data


class _OneAtATime:
    """A model whose streams are made and fed one at a time across threads."""

    def __init__(self, model) -> None:
        self.model, self.lock = model, threading.Lock()
        self.channels, self.rig = model.channels, model.rig

    def stream(self) -> "_LockedStream":
        with self.lock:
            return _LockedStream(self.model.stream(), self.lock)


class _LockedStream:
    def __init__(self, stream, lock: threading.Lock) -> None:
        self.stream, self.lock = stream, lock

    def feed(self, audio: np.ndarray) -> np.ndarray:
        with self.lock:
            return self.stream.feed(audio)

    def flush(self) -> np.ndarray:
        with self.lock:
            return self.stream.flush()


def _client_audio(client: _Client, rate: int):
    """16 kHz chunks from a client's binary float32 messages, until its "end" or close."""
    import soxr
    from ..models.base import SAMPLE_RATE
    resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32") if rate != SAMPLE_RATE else None
    while True:
        try:
            opcode, payload = read_frame(client.conn, MAX_AUDIO_MESSAGE)
        except (OSError, ConnectionError):
            return
        if opcode in (OP_BINARY, OP_CONT):
            if len(payload) % 4:
                raise AudioError("audio messages must hold float32 samples (a multiple of 4 bytes)")
            samples = check_chunk(np.frombuffer(payload, "<f4").copy())
            yield resampler.resample_chunk(samples) if resampler else samples
        elif opcode == OP_TEXT and payload.strip() == b"end":
            if resampler:
                yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            return
        elif opcode == OP_PING:
            client.offer(encode_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            return


def _query_rate(query: str) -> int | None:
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "rate":
            try:
                rate = round(float(value))
            except ValueError:
                return None
            return rate if RATES[0] <= rate <= RATES[1] else None
    return None


def _handshake(conn: socket.socket, headers: dict[str, str]) -> bool:
    """Answer a WebSocket upgrade (101) or refuse it (400); True when the socket is now a WebSocket."""
    key = headers.get("sec-websocket-key", "")
    if not key:
        conn.sendall(_http("400 Bad Request", b"missing Sec-WebSocket-Key\n"))
        _close_quietly(conn)
        return False
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode())
    conn.settimeout(None)
    return True


def _close_quietly(conn: socket.socket) -> None:
    try:
        conn.close()
    except OSError:
        pass
