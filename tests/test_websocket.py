"""`live --ws`: the browser viewer's server (HTTP + RFC 6455 WebSocket) and the viewer's rig math."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from typing import NamedTuple

import numpy as np
import pytest

from talkinghead.errors import TalkingHeadError
from talkinghead.motion import ARKIT52_CHANNELS
from talkinghead.rigs.arkit52 import Arkit52Rig
from talkinghead.sinks.websocket import (OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT,
                                         FrameServer, accept_key, encode_frame, read_frame,
                                         rig_document)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's own example key


@pytest.fixture
def server():
    s = FrameServer(ARKIT52_CHANNELS, "arkit52", 25.0, ("127.0.0.1", 0))
    yield s
    s.close()


def _get(server: FrameServer, path: str, upgrade: bool = False) -> tuple[str, dict[str, str], bytes]:
    extra = f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n" if upgrade else ""
    with socket.create_connection(server.address, timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
        data = b""
        while part := conn.recv(65536):
            data += part
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return lines[0], headers, body


def _connect(server: FrameServer, path: str = "/frames") -> socket.socket:
    conn = socket.create_connection(server.address, timeout=10)
    conn.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += conn.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    assert f"Sec-WebSocket-Accept: {accept_key(KEY)}".encode() in head
    return conn


class _Elsewhere(NamedTuple):
    """A server in another process, as the helpers above need it: only its address."""

    address: tuple[str, int]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until(condition, seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_accept_key_is_the_rfc_example():
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_frames_round_trip_at_every_length_encoding(size):
    payload = bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8))
    a, b = socket.socketpair()
    with a, b:
        for mask in (None, b"\x01\x82\x43\xf4"):
            a.sendall(encode_frame(payload, OP_TEXT, mask))
            assert read_frame(b, limit=1 << 20) == (OP_TEXT, payload)


def test_an_oversized_client_frame_is_refused():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(encode_frame(b"x" * 200, OP_TEXT, b"abcd"))
        with pytest.raises(ConnectionError, match="over the limit"):
            read_frame(b, limit=100)


def test_frames_reach_every_client_as_json_records(server):
    clients = [_connect(server), _connect(server)]
    _until(lambda: server.clients == 2)
    values = np.zeros(len(ARKIT52_CHANNELS), np.float32)
    values[ARKIT52_CHANNELS.index("jawOpen")] = 0.5
    for index in range(3):
        server(index, values, 120.0)
    for conn in clients:
        records = [read_frame(conn) for _ in range(3)]
        assert all(op == OP_TEXT for op, _ in records)
        records = [json.loads(p) for _, p in records]
        assert [r["frame"] for r in records] == [0, 1, 2]
        assert records[0]["values"]["jawOpen"] == 0.5 and records[0]["latency_ms"] == 120.0
        conn.close()


def test_pings_are_answered_and_closes_echoed(server):
    conn = _connect(server)
    conn.sendall(encode_frame(b"hi", OP_PING, b"mask"))
    assert read_frame(conn) == (OP_PONG, b"hi")
    conn.sendall(encode_frame(b"\x03\xe8", OP_CLOSE, b"mask"))
    assert read_frame(conn) == (OP_CLOSE, b"\x03\xe8")
    _until(lambda: server.clients == 0)
    server(0, np.zeros(len(ARKIT52_CHANNELS)), None)  # nobody listening: no error
    conn.close()


def test_closing_the_server_says_going_away(server):
    conn = _connect(server)
    _until(lambda: server.clients == 1)
    server.close()
    assert read_frame(conn) == (OP_CLOSE, b"\x03\xe9")   # 1001
    conn.close()


def test_a_slow_client_loses_old_frames_without_stalling_the_sender(server):
    conn = _connect(server)
    _until(lambda: server.clients == 1)
    start = time.monotonic()
    for index in range(5000):   # ~7 MB while the client reads nothing
        server(index, np.zeros(len(ARKIT52_CHANNELS)), None)
    assert time.monotonic() - start < 30.0   # (a stalled sender would block forever)
    conn.settimeout(10)
    frames = []
    while not frames or frames[-1] != 4999:
        frames.append(json.loads(read_frame(conn)[1])["frame"])
    assert frames == sorted(frames) and len(frames) < 5000
    conn.close()


def test_viewers_are_capped(server, monkeypatch):
    import talkinghead.sinks.websocket as ws
    monkeypatch.setattr(ws, "MAX_VIEWERS", 1)
    first = _connect(server)
    _until(lambda: server.clients == 1)
    status, _, body = _get(server, "/frames", upgrade=True)
    assert status == "HTTP/1.1 503 Service Unavailable" and b"too many viewers" in body
    first.close()


def test_wait_for_client(server):
    assert not server.wait_for_client(timeout=0.05)
    conn = _connect(server)
    assert server.wait_for_client(timeout=5)
    conn.close()


def test_pages_and_errors(server):
    status, headers, body = _get(server, "/")
    assert status == "HTTP/1.1 200 OK" and headers["content-type"].startswith("text/html")
    assert b"viewer.js" in body and int(headers["content-length"]) == len(body)
    status, headers, body = _get(server, "/viewer.js")
    assert status.endswith("200 OK") and b"function deform" in body
    status, _, body = _get(server, "/rig.json")
    assert json.loads(body)["rig"] == "arkit52"
    assert _get(server, "/nothing")[0] == "HTTP/1.1 404 Not Found"


def test_websocket_without_key_is_a_bad_request(server):
    with socket.create_connection(server.address, timeout=10) as conn:
        conn.sendall(b"GET /frames HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 400")


def test_a_busy_port_is_a_one_line_error(server):
    with pytest.raises(TalkingHeadError, match=r"cannot serve on 127\.0\.0\.1:\d+"):
        FrameServer(ARKIT52_CHANNELS, "arkit52", 25.0, server.address)


def test_other_rigs_get_channel_names_only():
    doc = rig_document("dhlive6", ("a", "b"))
    assert doc == {"rig": "dhlive6", "channels": ["a", "b"], "microphone": False}


# -- `serve`: a browser's microphone in, its own frames out ------------------------------------

@pytest.fixture(scope="module")
def speech():
    from talkinghead.audio.tts import synthesize
    return np.r_[np.zeros(3000, np.float32), synthesize("Talking through the browser.").audio]


@pytest.fixture(scope="module")
def acoustic():
    from talkinghead.models import load_model
    return load_model("acoustic")


@pytest.fixture
def speaking_server(acoustic):
    s = FrameServer(acoustic.channels, acoustic.rig, 25.0, ("127.0.0.1", 0), model=acoustic,
                    max_speakers=1)
    yield s
    s.close()


def _speak(server, audio: np.ndarray, rate: int, step: int = 2048) -> tuple[list[dict], bytes]:
    """Send audio as a browser does, then "end"; the frames received and the close payload."""
    conn = _connect(server, f"/audio?rate={rate}")
    with conn:
        for i in range(0, len(audio), step):
            conn.sendall(encode_frame(audio[i:i + step].astype("<f4").tobytes(), OP_BINARY, b"mask"))
        conn.sendall(encode_frame(b"end", OP_TEXT, b"mask"))
        return _frames_until_close(conn)


def _frames_until_close(conn) -> tuple[list[dict], bytes]:
    frames = []
    while True:
        op, payload = read_frame(conn)
        if op == OP_CLOSE:
            return frames, payload
        frames.append(json.loads(payload))


def test_a_microphone_stream_gets_the_models_frames(speaking_server, acoustic, speech):
    from talkinghead.models import frame_count
    frames, close = _speak(speaking_server, speech, 16000)
    assert close[:2] == b"\x03\xe8"   # 1000: done
    assert [f["frame"] for f in frames] == list(range(frame_count(len(speech))))
    got = np.array([[f["values"][c] for c in acoustic.channels] for f in frames])
    np.testing.assert_allclose(got, acoustic.predict(speech).values, atol=1e-5)  # stream == batch
    assert all("latency_ms" in f for f in frames)   # (negative here: sent faster than real time)


def test_a_48_khz_microphone_is_resampled(speaking_server, acoustic, speech):
    import soxr
    from talkinghead.models import frame_count
    frames, _ = _speak(speaking_server, soxr.resample(speech, 16000, 48000).astype(np.float32), 48000)
    assert abs(len(frames) - frame_count(len(speech))) <= 1
    jaw = np.array([f["values"]["jawOpen"] for f in frames])
    expected = acoustic.predict(speech).values[:, acoustic.channels.index("jawOpen")]
    n = min(len(jaw), len(expected))
    assert np.corrcoef(jaw[:n], expected[:n])[0, 1] > 0.95


@pytest.mark.parametrize("payload, reason", [(np.array([0.1, np.nan], "<f4").tobytes(), b"NaN"),
                                             (b"\x00" * 6, b"multiple of 4 bytes")])
def test_bad_audio_closes_with_the_reason(speaking_server, payload, reason):
    conn = _connect(speaking_server, "/audio?rate=16000")
    with conn:
        conn.sendall(encode_frame(payload, OP_BINARY, b"mask"))
        _, close = _frames_until_close(conn)
    assert close[:2] == b"\x03\xef" and reason in close   # 1007: invalid data


@pytest.mark.parametrize("query", ["", "?rate=abc", "?rate=100", "?rate=1e9"])
def test_audio_needs_a_sane_rate(speaking_server, query):
    status, _, body = _get(speaking_server, f"/audio{query}", upgrade=True)
    assert status == "HTTP/1.1 400 Bad Request" and b"rate=HZ" in body


def test_one_microphone_at_a_time_when_so_limited(speaking_server):
    first = _connect(speaking_server, "/audio?rate=16000")
    with first:
        status, _, body = _get(speaking_server, "/audio?rate=16000", upgrade=True)
        assert status == "HTTP/1.1 503 Service Unavailable" and b"too many" in body
        first.sendall(encode_frame(b"end", OP_TEXT, b"mask"))
        _frames_until_close(first)


def test_without_a_model_there_is_no_audio_endpoint(server):
    assert _get(server, "/audio?rate=16000", upgrade=True)[0] == "HTTP/1.1 404 Not Found"
    assert json.loads(_get(server, "/rig.json")[2])["microphone"] is False


def test_the_page_offers_the_microphone_when_served(speaking_server):
    assert json.loads(_get(speaking_server, "/rig.json")[2])["microphone"] is True
    assert b'id="mic"' in _get(speaking_server, "/")[2]


def test_cli_serve_takes_a_microphone_and_stops_on_ctrl_c(speech):
    import signal
    from talkinghead.models import frame_count
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "talkinghead", "serve", "--address", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stderr.readline().startswith(f"serving: http://127.0.0.1:{port}/")
        address = _Elsewhere(("127.0.0.1", port))
        frames, _ = _speak(address, speech, 16000)
        assert len(frames) == frame_count(len(speech))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip().endswith("talkinghead: interrupted")


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_the_viewer_deforms_the_rig_as_python_does(tmp_path):
    """viewer.js's math, run under node on the served rig.json, equals Arkit52Rig.landmarks."""
    doc = rig_document("arkit52", ARKIT52_CHANNELS)
    rng = np.random.default_rng(3)
    values = np.r_[rng.uniform(0, 1, 52), rng.uniform(-0.3, 0.3, 3)]
    (tmp_path / "rig.json").write_text(json.dumps(doc))
    (tmp_path / "values.json").write_text(json.dumps(dict(zip(ARKIT52_CHANNELS, values.tolist()))))
    from importlib import resources
    viewer = resources.files("talkinghead.sinks").joinpath("viewer", "viewer.js")
    script = (f"const v = require({json.dumps(str(viewer))}); const fs = require('fs');"
              f"const rig = JSON.parse(fs.readFileSync({json.dumps(str(tmp_path / 'rig.json'))}));"
              f"const values = JSON.parse(fs.readFileSync({json.dumps(str(tmp_path / 'values.json'))}));"
              "process.stdout.write(JSON.stringify(Array.from(v.deform(rig, values))));")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60, check=True)
    got = np.array(json.loads(out.stdout)).reshape(-1, 3)
    expected = Arkit52Rig().landmarks(values)[0]
    assert np.abs(got - expected).max() < 1e-5   # the JSON rounds to micrometres
    assert np.abs(expected - Arkit52Rig().landmarks(np.zeros(55))[0]).max() > 1e-3  # it moved


def test_cli_live_serves_frames_to_a_browser(tmp_path):
    """`talkinghead live --audio F --ws H:P --wait-viewer`: every frame reaches the client, in
    order, then a close (paced playback: with --fast a client may drop frames by design)."""
    import soundfile as sf
    from talkinghead.audio.tts import synthesize
    sf.write(tmp_path / "s.wav", synthesize("Hello over the socket.").audio, 16000)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "talkinghead", "live", "--audio", str(tmp_path / "s.wav"),
                             "--ws", f"127.0.0.1:{port}", "--wait-viewer"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stderr.readline().strip() == f"viewer: http://127.0.0.1:{port}/"
        server = _Elsewhere(("127.0.0.1", port))
        conn = _connect(server)
        frames = []
        while True:
            op, payload = read_frame(conn)
            if op == OP_CLOSE:
                break
            frames.append(json.loads(payload))
        conn.close()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out == ""   # with --ws alone nothing goes to stdout
    assert [f["frame"] for f in frames] == list(range(len(frames))) and len(frames) > 20
    assert max(f["values"]["jawOpen"] for f in frames) > 0.1


def test_cli_wait_viewer_needs_ws():
    out = subprocess.run([sys.executable, "-m", "talkinghead", "live", "--wait-viewer"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.strip() == "talkinghead: error: --wait-viewer needs --ws"


# -- avatars: each frame also as a JPEG of a real face ----------------------------------------

@pytest.fixture(scope="module")
def photo_server():
    s = FrameServer(ARKIT52_CHANNELS, "arkit52", 25.0, ("127.0.0.1", 0), avatar="photo")
    yield s
    s.close()


def _jpeg(payload: bytes) -> np.ndarray:
    import cv2
    image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image.astype(np.float64)


def test_avatar_frames_follow_each_record_as_a_jpeg(photo_server):
    conn = _connect(photo_server)
    _until(lambda: photo_server.clients == 1)
    closed, opened = np.zeros(len(ARKIT52_CHANNELS)), np.zeros(len(ARKIT52_CHANNELS))
    opened[ARKIT52_CHANNELS.index("jawOpen")] = 0.8
    for index, values in enumerate((closed, closed, opened)):
        photo_server(index, values, None)
    messages = [read_frame(conn, limit=1 << 22) for _ in range(6)]
    conn.close()
    assert [op for op, _ in messages] == [OP_TEXT, OP_BINARY] * 3
    assert [json.loads(p)["frame"] for op, p in messages[::2]] == [0, 1, 2]
    a, b, c = (_jpeg(p) for _, p in messages[1::2])
    avatar = photo_server._renderer.avatar
    assert a.shape == (avatar.height, avatar.width, 3)
    assert np.abs(a - b).mean() < 1.0          # the same closed face twice
    assert np.abs(a - c).max() > 100           # the mouth opened
    assert json.loads(_get(photo_server, "/rig.json")[2])["images"] is True


def test_a_speaker_gets_its_frames_on_the_avatar(acoustic, speech):
    from talkinghead.models import frame_count
    server = FrameServer(acoustic.channels, acoustic.rig, 25.0, ("127.0.0.1", 0), model=acoustic,
                         avatar="photo")
    try:
        conn = _connect(server, "/audio?rate=16000")
        with conn:
            conn.sendall(encode_frame(speech.astype("<f4").tobytes(), OP_BINARY, b"mask"))
            conn.sendall(encode_frame(b"end", OP_TEXT, b"mask"))
            kinds = []
            while (op := read_frame(conn, limit=1 << 22)[0]) != OP_CLOSE:
                kinds.append(op)
    finally:
        server.close()
    assert kinds == [OP_TEXT, OP_BINARY] * frame_count(len(speech))


def test_avatars_need_arkit52_motion():
    with pytest.raises(TalkingHeadError, match="avatars play arkit52 motion; this model is on rig 'dhlive6'"):
        FrameServer(("a",) * 6, "dhlive6", 25.0, ("127.0.0.1", 0), avatar="photo")


def test_cli_avatar_needs_ws():
    out = subprocess.run([sys.executable, "-m", "talkinghead", "live", "--avatar", "photo"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--avatar needs --ws" in out.stderr
