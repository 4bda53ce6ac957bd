"""Every shipped motion model takes the same audio arrays, in `predict` and in `stream().feed`.

Integer PCM is scaled by its type's full range and (samples, channels) is mixed to mono, as for
files; NaN/inf, channel-first arrays and non-numeric input are one-line AudioErrors. Before the
shared `check_chunk`, the ARTalk streams flattened a stereo chunk into interleaved samples and
read int16 as floats in the thousands: garbage with no error.
"""

from __future__ import annotations

import numpy as np
import pytest

from talkinghead.audio.io import check_chunk
from talkinghead.errors import AudioError
from talkinghead.models import load_model

SHIPPED = ["phonetic", "acoustic", "lstm-arkit", "ar-arkit-small"]


@pytest.fixture(scope="module")
def pcm() -> np.ndarray:
    """1.2 s of a voiced-like signal as int16 (pulses through a resonance, so models move)."""
    t = np.arange(int(1.2 * 16000)) / 16000
    x = np.sin(2 * np.pi * 700 * t) * (np.sin(2 * np.pi * 3 * t) > 0) * 0.3
    return np.round(x * 32767).astype(np.int16)


def _streamed(model, audio: np.ndarray, chunk: int = 3200) -> np.ndarray:
    stream = model.stream()
    parts = [stream.feed(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
    return np.concatenate(parts + [stream.flush()])


@pytest.mark.parametrize("name", SHIPPED)
def test_int16_and_stereo_mean_the_same_as_float_mono(name, pcm):
    model = load_model(name)
    mono = pcm.astype(np.float32) / 32768.0
    reference = _streamed(model, mono)
    assert len(reference) == 30
    np.testing.assert_allclose(_streamed(model, pcm), reference, atol=1e-5)
    np.testing.assert_allclose(_streamed(model, np.stack([pcm, pcm], axis=1)), reference, atol=1e-5)
    np.testing.assert_allclose(model.predict(pcm).values, model.predict(mono).values, atol=1e-5)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("bad,message", [
    (np.full(1600, np.nan, np.float32), "NaN"),
    (np.zeros((2, 1600), np.float32), "channel"),
    (np.array(["a", "b"]), "real numbers"),
])
def test_bad_chunks_are_one_line_errors(name, bad, message):
    with pytest.raises(AudioError, match=message) as info:
        load_model(name).stream().feed(bad)
    assert "\n" not in str(info.value)


def test_check_chunk_keeps_float_mono_as_is():
    x = np.linspace(-1, 1, 640, dtype=np.float32)
    assert check_chunk(x) is x  # the streams' hot path copies nothing
    assert check_chunk(np.zeros(0, np.float32)).shape == (0,)
    assert check_chunk(np.array([-32768, 16384], np.int16)).tolist() == [-1.0, 0.5]


@pytest.mark.parametrize("audio,message", [("not audio", "real numbers"),
                                           (np.full(16000, np.nan, np.float32), "NaN")])
def test_render_video_checks_its_audio_first(tmp_path, audio, message):
    from talkinghead.motion import ARKIT52_CHANNELS, Motion
    from talkinghead.pipeline import render_video
    motion = Motion(np.zeros((25, len(ARKIT52_CHANNELS))), ARKIT52_CHANNELS, "arkit52")
    with pytest.raises(AudioError, match=message):
        render_video(motion, tmp_path / "x.mp4", audio, size=64)
    assert not (tmp_path / "x.mp4").exists()
