"""talkinghead.audio.io: every supported format decodes to the same 16 kHz mono signal, streaming
equals loading, and every kind of bad input fails with a one-line AudioError naming the file."""

from __future__ import annotations

import os
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from talkinghead.audio import io as audio_io
from talkinghead.audio.io import AudioError, AudioInfo, check_audio, load_audio, probe_audio, stream_audio

SR = 44100
TONE = 440.0


def stereo_tone(seconds: float = 2.0, sr: int = SR, onset: float = 0.0) -> np.ndarray:
    """Left 0.6 and right 0.2 amplitude, same phase: the channel mean is a 0.4 sine."""
    t = np.arange(int(seconds * sr)) / sr
    wave = np.sin(2 * np.pi * TONE * t) * (t >= onset)
    return np.stack([0.6 * wave, 0.2 * wave], axis=1).astype(np.float32)


def speech_like(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Harmonics of a wandering pitch under a syllable-rate envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2 / 4
    return (0.3 * voiced * envelope + 0.005 * rng.standard_normal(len(t))).astype(np.float32)


def dominant_hz(x: np.ndarray, sr: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * sr / len(x))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def write_mp4(path: Path, audio: np.ndarray | None, sr: int = SR, frames: int = 10) -> Path:
    """A tiny H.264 video, with an AAC track holding `audio` (samples x channels) when given."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        streams = [video]
        if audio is not None:
            aac = out.add_stream("aac", rate=sr)
            aac.layout = "stereo" if audio.shape[1] == 2 else "mono"
            streams.append(aac)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        if audio is not None:
            for start in range(0, len(audio), 1024):
                block = np.ascontiguousarray(audio[start:start + 1024].T)
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=aac.layout.name)
                frame.sample_rate, frame.pts, frame.time_base = sr, start, Fraction(1, sr)
                for packet in aac.encode(frame):
                    out.mux(packet)
        for stream in streams:
            for packet in stream.encode(None):
                out.mux(packet)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The same 2 s stereo 44.1 kHz tone in every container we claim to read."""
    root = tmp_path_factory.mktemp("audio")
    tone = stereo_tone()
    paths = {}
    for ext in ("wav", "flac", "ogg", "mp3"):
        paths[ext] = root / f"tone.{ext}"
        sf.write(paths[ext], tone, SR)
    paths["mp4"] = write_mp4(root / "tone.mp4", tone, frames=50)
    return paths


# ------------------------------------------------------------------------------------------------
# decoding


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "mp4"])
def test_every_format_gives_16k_mono_mean_of_channels(files, ext):
    audio = load_audio(files[ext])
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 32000  # 2 s exactly: codec priming and end padding removed
    assert abs(dominant_hz(audio) - TONE) < 2
    lossless = ext in ("wav", "flac")
    assert rms(audio[1000:-1000]) == pytest.approx(0.4 / np.sqrt(2), rel=0.01 if lossless else 0.06)
    assert np.abs(audio).max() <= 1.0


def test_other_sample_rates(files):
    audio = load_audio(files["wav"], sample_rate=22050)
    assert len(audio) == 44100
    assert abs(dominant_hz(audio, 22050) - TONE) < 2


def test_mp4_audio_keeps_its_timing(tmp_path):
    """AAC priming samples must be skipped, or speech lags the video it came from."""
    path = write_mp4(tmp_path / "late.mp4", stereo_tone(seconds=1.5, onset=0.5), frames=38)
    audio = load_audio(path)
    onset = np.argmax(np.abs(audio) > 0.1) / 16000
    assert onset == pytest.approx(0.5, abs=0.005)


def test_mkv_through_pyav(tmp_path):
    path = tmp_path / "tone.mkv"
    write_mp4(path, stereo_tone(), frames=50)
    audio = load_audio(path)
    assert abs(len(audio) - 32000) <= 1024 * 16000 // SR + 1
    assert abs(dominant_hz(audio) - TONE) < 2


def test_unknown_suffix_falls_back_to_pyav(files, tmp_path):
    """libsndfile cannot read AAC in MP4, whatever the name; ffmpeg can."""
    path = tmp_path / "recording.dat"
    path.write_bytes(files["mp4"].read_bytes())
    with pytest.raises(sf.SoundFileError):
        sf.info(path)
    np.testing.assert_array_equal(load_audio(path), load_audio(files["mp4"]))


def test_probe(files):
    info = probe_audio(files["flac"])
    assert isinstance(info, AudioInfo)
    assert (info.duration, info.sample_rate, info.channels, info.container) == (2.0, SR, 2, "flac")
    info = probe_audio(files["mp4"])
    assert info.codec == "aac" and info.channels == 2 and info.sample_rate == SR
    assert info.duration == pytest.approx(2.0, abs=0.03)


# ------------------------------------------------------------------------------------------------
# streaming


@pytest.mark.parametrize("ext", ["wav", "mp3", "mp4"])
def test_stream_equals_load(files, ext):
    chunks = list(stream_audio(files[ext], chunk_seconds=0.37))
    whole = load_audio(files[ext])
    assert all(len(c) == 5920 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 5920
    joined = np.concatenate(chunks)
    assert joined.shape == whole.shape
    np.testing.assert_allclose(joined, whole, atol=1e-4)


def test_stream_at_native_rate_is_exact(tmp_path):
    path = tmp_path / "speech16k.wav"
    sf.write(path, speech_like(3.0, 16000), 16000, subtype="FLOAT")
    joined = np.concatenate(list(stream_audio(path, chunk_seconds=0.5)))
    np.testing.assert_array_equal(joined, load_audio(path))


def test_stream_of_ten_minutes_stays_small(tmp_path):
    """A 10-minute file streams in 1 s chunks without ever holding the file in memory."""
    sr, seconds = 22050, 600
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        block = speech_like(10.0, sr)
        for _ in range(seconds // 10):
            f.write(block)
    whole_mb = seconds * 16000 * 4 / 2**20  # the decoded file would be ~37 MB
    tracemalloc.start()
    try:
        sizes = [len(chunk) for chunk in stream_audio(path, chunk_seconds=1.0)]
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert sizes == [16000] * seconds
    assert peak_mb < whole_mb / 4, f"streaming peaked at {peak_mb:.1f} MB"


def test_stream_rejects_bad_chunk_size(files):
    with pytest.raises(AudioError, match="chunk_seconds"):
        stream_audio(files["wav"], chunk_seconds=0)


def test_stream_fails_at_the_call(tmp_path):
    """Errors surface when stream_audio is called, not at the first chunk."""
    with pytest.raises(AudioError, match="not found"):
        stream_audio(tmp_path / "missing.wav")


# ------------------------------------------------------------------------------------------------
# arrays


def test_check_audio_accepts_int_float_and_channels():
    tone = stereo_tone(seconds=1.0)
    pcm16 = np.round(tone * 32767).astype(np.int16)
    from_int = check_audio(pcm16, SR)
    from_float = check_audio(tone.astype(np.float64), SR)
    assert from_int.dtype == np.float32 and from_int.shape == (16000,)
    np.testing.assert_allclose(from_int, from_float, atol=1e-3)
    same_rate = check_audio(tone[:, 0], 16000)
    np.testing.assert_array_equal(same_rate, tone[:, 0])
    assert check_audio(np.full(1000, 255, np.uint8), 16000)[0] == pytest.approx(127 / 128)
    assert check_audio(np.full(1000, 3.0), 16000).max() == 1.0  # clipped into [-1, 1]


@pytest.mark.parametrize("array, rate, message", [
    (np.zeros(0, np.float32), 16000, "empty"),
    (np.zeros(500, np.float32), 16000, "too short"),
    (np.full(16000, np.nan, np.float32), 16000, "all NaN"),
    (np.r_[np.zeros(8000), np.inf, np.zeros(8000)], 16000, "NaN or infinite"),
    (np.array(["a"] * 16000), 16000, "real numbers"),
    (np.zeros(16000, bool), 16000, "real numbers"),
    (np.zeros(16000, complex), 16000, "real numbers"),
    (np.zeros((2, 16000)), 16000, "channel-first"),
    (np.zeros((4, 4, 1000)), 16000, "shape"),
    (np.zeros(16000), 999, "absurd sample rate"),
    (np.zeros(16000), 800_000, "absurd sample rate"),
    (np.zeros(16000), "16k", "must be a number"),
    (np.zeros(16000), 16000.5, "whole number"),
])
def test_check_audio_rejects(array, rate, message):
    with pytest.raises(AudioError, match=message):
        check_audio(array, rate)


def test_check_audio_rejects_over_24_hours_without_reading_it():
    huge = np.broadcast_to(np.float32(0), (1000 * (24 * 3600 + 1),))  # no memory behind it
    with pytest.raises(AudioError, match="24:00:01.0 long"):
        check_audio(huge, 1000)


# ------------------------------------------------------------------------------------------------
# bad files


def one_line_error(path, **kwargs) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and info.value.__cause__ is None
    return message


def test_missing_file_and_directory(tmp_path):
    assert one_line_error(tmp_path / "x.wav") == f"audio file not found: {tmp_path / 'x.wav'}"
    assert "is a directory" in one_line_error(tmp_path)
    with pytest.raises(AudioError, match="not found"):
        probe_audio(tmp_path / "x.mp4")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(files, tmp_path):
    path = tmp_path / "locked.wav"
    path.write_bytes(files["wav"].read_bytes())
    path.chmod(0)
    assert "permission denied" in one_line_error(path)


def test_permission_error_is_reported(files, monkeypatch):
    """The same check, simulated, so it also runs where tests run as root."""
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(audio_io, "open", denied, raising=False)
    assert one_line_error(files["wav"]) == f"cannot read {files['wav']}: permission denied"


def test_corrupt_files(files, tmp_path):
    noise = tmp_path / "noise.wav"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 50)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(files["wav"].read_bytes()[:30])
    cut = tmp_path / "cut.wav"
    cut.write_bytes(files["wav"].read_bytes()[:100_000])
    cut_flac = tmp_path / "cut.flac"
    cut_flac.write_bytes(files["flac"].read_bytes()[:20_000])
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(files["mp4"].read_bytes()[:3000])
    assert "not a readable audio file" in one_line_error(noise)
    assert "not a readable audio file" in one_line_error(text)
    assert "not a readable audio file" in one_line_error(header_only)
    assert "is truncated" in one_line_error(cut)
    assert "corrupt or truncated" in one_line_error(cut_flac)
    assert "cut.mp4" in one_line_error(cut_mp4)
    with pytest.raises(AudioError):
        list(stream_audio(cut))


def test_video_without_audio(tmp_path):
    path = write_mp4(tmp_path / "silent.mp4", None)
    assert one_line_error(path) == f"{path} has no audio stream"
    with pytest.raises(AudioError, match="no audio stream"):
        probe_audio(path)


def test_empty_short_nan_and_absurd_files(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), np.float32), 16000)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(300, np.float32), 16000)
    nans = tmp_path / "nan.wav"
    sf.write(nans, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    slow = tmp_path / "slow.wav"
    sf.write(slow, np.zeros(2000, np.float32), 500)
    assert "is empty" in one_line_error(empty)
    assert "too short (19 ms" in one_line_error(short)
    assert "all NaN" in one_line_error(nans)
    assert "absurd sample rate of 500 Hz" in one_line_error(slow)
    with pytest.raises(AudioError, match="too short"):
        list(stream_audio(short))
    with pytest.raises(AudioError, match="NaN"):
        list(stream_audio(nans))


def test_max_seconds(files):
    assert "over the 0:00:01.0 limit" in one_line_error(files["wav"], max_seconds=1.0)
    assert "over the 0:00:01.0 limit" in one_line_error(files["mp4"], max_seconds=1.0)
    assert len(load_audio(files["wav"], max_seconds=3.0)) == 32000


def test_bad_output_rate(files):
    with pytest.raises(AudioError, match="absurd sample rate"):
        load_audio(files["wav"], sample_rate=100)
