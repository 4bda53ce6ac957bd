"""`talkinghead live`: audio as it arrives -> streaming model -> one JSON record per frame."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from talkinghead.audio.live import file_chunks, microphone, paced
from talkinghead.errors import AudioError, TalkingHeadError
from talkinghead.models import frame_count, load_model
from talkinghead.pipeline import live
from talkinghead.sinks.frames import JsonFrames, parse_address
from talkinghead.sinks.livelink import UNREAL_CURVES, LiveLinkFrames, packet


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    from talkinghead.audio.tts import synthesize
    audio = synthesize("Live motion, frame by frame.").audio
    path = tmp_path_factory.mktemp("live") / "speech.wav"
    sf.write(path, np.concatenate([np.zeros(4000, np.float32), audio]), 16000)
    return path, len(audio) + 4000


def test_records_are_the_models_stream_frame_for_frame(speech_wav):
    path, samples = speech_wav
    lines: list[str] = []
    model = load_model("acoustic")
    sink = JsonFrames(model.channels, model.rig, 25.0, stream=_Lines(lines))
    sent = live(file_chunks(path), model, [sink], timed=False)
    assert sent == len(lines) == frame_count(samples)
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == list(range(sent)) and "latency_ms" not in records[0]
    expected = model.predict(sf.read(path, dtype="float32")[0]).values  # stream == batch for acoustic
    got = np.array([[r["values"][c] for c in model.channels] for r in records])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert got[:, model.channels.index("jawOpen")].max() > 0.1


class _Lines:
    """A text stream that keeps each written line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.extend(text.splitlines())

    def flush(self) -> None:
        pass


def test_latency_is_measured_from_when_the_sound_arrived():
    """A fake clock: 40 ms of audio arrives every 40 ms; a frame sent at wall time w whose
    sound ended at s has latency w - s."""
    now = [0.0]
    chunks = (np.zeros(640, np.float32) for _ in range(50))

    def arriving():
        for chunk in chunks:
            now[0] += 0.04
            yield chunk

    latencies: list[float] = []
    live(arriving(), "acoustic", [lambda index, values, latency: latencies.append(latency)],
         clock=lambda: now[0])
    records = [{"latency_ms": value} for value in latencies]
    middle = records[10]  # emitted while audio still arrives: trails by the model's latency
    assert 400 <= middle["latency_ms"] <= 520
    assert all(r["latency_ms"] >= -1e-6 for r in records)


def test_paced_releases_chunks_no_earlier_than_real_time():
    now, sleeps = [10.0], []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    chunks = [np.zeros(1600, np.float32)] * 3  # 0.1 s each
    released = []
    for chunk in paced(chunks, clock=lambda: now[0], sleep=sleep):
        released.append(now[0])
    np.testing.assert_allclose(released, [10.1, 10.2, 10.3])


def _datagrams_from_live(path, option: str, count: int) -> list[bytes]:
    """Run `talkinghead live --audio path --fast option 127.0.0.1:PORT`; the first `count`
    datagrams that arrive at PORT."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(20)
    port = receiver.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "talkinghead", "live", "--audio", str(path), "--fast",
                           option, f"127.0.0.1:{port}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # frames went to the socket, not stdout
    try:
        return [receiver.recv(65536) for _ in range(count)]
    finally:
        receiver.close()


def test_udp_datagrams_from_the_cli(speech_wav):
    path, samples = speech_wav
    frames = [json.loads(d) for d in _datagrams_from_live(path, "--udp", frame_count(samples))]
    assert frames[-1]["frame"] == frame_count(samples) - 1 and frames[0]["rig"] == "arkit52"


@pytest.mark.parametrize("args,message", [
    (["live", "--fast"], "--fast needs --audio"),
    (["live", "--audio", "x.wav", "--udp", "nohost"], "HOST:PORT"),
    (["live", "--audio", "x.wav", "--livelink", "host:port"], "HOST:PORT"),
    (["live", "--audio", "x.wav", "--livelink", "localhost", "--model", "dhlive-lstm"], "checkpoint"),
    (["live", "--audio", "missing.wav"], "not found"),
    (["live", "--audio", "x.wav", "--model", "nope"], "unknown model"),
])
def test_live_errors_are_one_line(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "talkinghead", *args], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr


def test_microphone_without_sounddevice_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import now raises ImportError
    with pytest.raises(AudioError, match="needs the sounddevice package and PortAudio"):
        next(microphone())


def test_parse_address():
    assert parse_address("localhost:9000") == ("localhost", 9000)
    assert parse_address("10.0.0.2", default_port=11111) == ("10.0.0.2", 11111)
    for bad in ("9000", "host:", "host:0", "host:70000", "host:x"):
        with pytest.raises(TalkingHeadError):
            parse_address(bad)


def _parse_live_link(data: bytes) -> dict:
    """Read a Live Link Face packet field by field (big-endian), as Unreal's plugin does."""
    import struct
    offset = 1
    strings = []
    for _ in range(2):
        (length,) = struct.unpack_from(">i", data, offset)
        strings.append(data[offset + 4:offset + 4 + length].decode())
        offset += 4 + length
    frame, subframe, numerator, denominator = struct.unpack_from(">ifii", data, offset)
    offset += 16
    count = data[offset]
    curves = np.frombuffer(data, ">f4", count, offset + 1)
    assert offset + 1 + 4 * count == len(data)
    return {"version": data[0], "device": strings[0], "subject": strings[1], "frame": frame,
            "rate": (numerator, denominator), "curves": dict(zip(UNREAL_CURVES, curves.tolist()))}


def test_live_link_packet_layout():
    from talkinghead.motion import ARKIT52_CHANNELS
    values = np.arange(len(ARKIT52_CHANNELS), dtype=np.float32) / 100
    parsed = _parse_live_link(packet(values, ARKIT52_CHANNELS, 7, 25, "face", "dev-1"))
    assert (parsed["version"], parsed["device"], parsed["subject"]) == (6, "dev-1", "face")
    assert parsed["frame"] == 7 and parsed["rate"] == (25, 1) and len(parsed["curves"]) == 61
    for name, value in zip(ARKIT52_CHANNELS, values):  # every curve by name, whatever the order
        assert parsed["curves"][name] == pytest.approx(float(value), abs=1e-7)
    assert parsed["curves"]["leftEyeYaw"] == 0.0
    # Unreal's order puts jawLeft before jawRight (the CSV the other way round)
    assert UNREAL_CURVES.index("jawLeft") == 15 and UNREAL_CURVES.index("mouthLeft") == 21


def test_live_link_from_the_cli(speech_wav):
    path, samples = speech_wav
    packets = [_parse_live_link(d) for d in _datagrams_from_live(path, "--livelink", frame_count(samples))]
    assert [p["frame"] for p in packets] == list(range(frame_count(samples)))
    assert len({p["device"] for p in packets}) == 1
    assert max(p["curves"]["jawOpen"] for p in packets) > 0.1


def test_live_link_needs_an_arkit_rig():
    with pytest.raises(TalkingHeadError, match="ARKit curves"):
        LiveLinkFrames(tuple("abcdef"), "dhlive6", "localhost")


def test_ctrl_c_stops_live_with_exit_130(monkeypatch, capsys, speech_wav):
    """typer turns KeyboardInterrupt into a returned 130; the CLI must pass it on (it said 0)."""
    import talkinghead.pipeline
    from talkinghead.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(talkinghead.pipeline, "live", interrupted)
    assert main(["live", "--audio", str(speech_wav[0]), "--fast"]) == 130
    assert "interrupted" in capsys.readouterr().err
