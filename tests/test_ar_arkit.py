"""ARArkitModel: ARTalk's generator on the arkit52 rig (tiny random nets, plus the shipped one)."""

import numpy as np
import pytest
import torch

from talkinghead.errors import CheckpointError, MotionFileError
from talkinghead.models.artalk.arkit import ARArkitModel, as_arkit_style
from talkinghead.models.artalk.config import ARTalkConfig
from talkinghead.models.base import MotionModel, frame_count
from talkinghead.motion import ARKIT52_CHANNELS, Motion
from talkinghead.training.ar import build_ar
from talkinghead.training.export import WEIGHTS_DIR, export, load_ar_arkit, load_shipped

from conftest import random_chunks

TINY = ARTalkConfig(ar_width=32, ar_depth=1, ar_heads=2, audio_dim=16, motion_dim=55, code_dim=8,
                    vae_hidden=16, vae_depth=1, vae_heads=2, patch_nums=(1, 2, 5), style_dim=16,
                    style_depth=1, style_heads=2, style_ffn=32, audio_encoder=None)


def tiny_net(seed: int = 0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean = rng.uniform(0, 0.3, 55).astype(np.float32)
    std = rng.uniform(0.05, 0.2, 55).astype(np.float32)
    net = build_ar(TINY, 16, mean, std)
    with torch.no_grad():  # larger logits so greedy bits react to their inputs
        net.logits_head.weight.mul_(20)
    return net.eval()


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return ARArkitModel(tiny_net())


def speech(seconds: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * envelope * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(n)).astype(np.float32)


def test_is_a_motion_model(model):
    assert isinstance(model, MotionModel)
    assert model.rig == "arkit52" and model.channels == ARKIT52_CHANNELS
    assert model.window_samples == 5 * 640


@pytest.mark.parametrize("seconds", [0.05, 0.2, 0.73, 1.0])
def test_predict_covers_the_audio(model, seconds):
    audio = speech(seconds)
    m = model.predict(audio)
    assert m.values.shape == (frame_count(len(audio)), 55)
    assert m.rig == "arkit52"
    shapes = m.values[:, :52]
    assert shapes.min() >= 0 and shapes.max() <= 1


def test_stream_equals_predict(model):
    audio = speech(1.37)
    whole = model.predict(audio).values
    s = model.stream()
    parts = [s.feed(piece) for piece in random_chunks(audio, np.random.default_rng(0), 1, 2500)]
    parts.append(s.flush())
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_stream_emits_each_window_when_complete(model):
    s = model.stream()
    assert s.feed(speech(0.19)).shape == (0, 55)   # 0.2-s windows: not yet complete
    assert s.feed(speech(0.01)).shape == (5, 55)
    assert s.flush().shape == (0, 55)


def test_windows_hand_off(model):
    """A window is decoded given the previous window's bits, which the state carries forward."""
    a, b = speech(0.2, seed=1), speech(0.2, seed=2)
    state = model.start()
    first_bits = state.prev_bits.clone()
    model.run_window(state, a)
    carried = state.prev_bits.clone()
    assert carried.shape == first_bits.shape
    after = model.run_window(state, b)
    state.prev_bits, state.prev_tokens = 1 - carried, model.net.embed_prev(state.style_tok, 1 - carried)
    other = model.run_window(state, b)
    assert not np.array_equal(after, other)


def test_style_changes_output(model):
    audio = speech(0.8)
    rng = np.random.default_rng(5)
    calm = np.zeros((60, 55), np.float32)
    lively = rng.uniform(0, 1, (80, 55)).astype(np.float32)
    a = model.predict(audio, style_motion=calm).values
    b = model.predict(audio, style_motion=lively).values
    none = model.predict(audio).values
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, none)
    np.testing.assert_array_equal(model.predict(audio, style_motion=Motion(calm, ARKIT52_CHANNELS, "arkit52")).values, a)


def test_default_style(model):
    audio = speech(0.4)
    style = np.random.default_rng(6).uniform(0, 1, (50, 55)).astype(np.float32)
    styled = ARArkitModel(model.net, style_motion=style)
    np.testing.assert_array_equal(styled.predict(audio).values, model.predict(audio, style_motion=style).values)


def test_bad_style_is_a_clear_error(model):
    with pytest.raises(MotionFileError):
        as_arkit_style(np.zeros((50, 106), np.float32))
    with pytest.raises(MotionFileError):
        model.predict(speech(0.3), style_motion=Motion(np.zeros((50, 3)), ("a", "b", "c"), "other"))


def test_needs_a_55_channel_net():
    net = build_ar(TINY.with_(motion_dim=106), 16, np.zeros(106, np.float32), np.ones(106, np.float32))
    with pytest.raises(ValueError):
        ARArkitModel(net)


def test_export_round_trip(tmp_path, model):
    meta = {"kind": "ar-arkit", "artalk_config": TINY.to_dict(), "encoder_hidden": 16, "pe_quirk": False}
    path = export(model.net, tmp_path / "tiny.safetensors", meta)
    loaded = load_ar_arkit(path)
    assert isinstance(loaded, ARArkitModel)
    audio = speech(0.9)
    np.testing.assert_array_equal(loaded.predict(audio).values, model.predict(audio).values)


def test_export_of_another_kind_is_refused(tmp_path, model):
    path = export(model.net.basic_vae, tmp_path / "vae.safetensors", {"kind": "vae", "artalk_config": TINY.to_dict()})
    with pytest.raises(CheckpointError):
        load_ar_arkit(path)


@pytest.mark.skipif(not (WEIGHTS_DIR / "ar-arkit-small.safetensors").is_file(), reason="not shipped")
def test_shipped_model_loads_and_runs():
    torch.set_num_threads(1)
    m = load_shipped("ar-arkit-small")
    assert isinstance(m, ARArkitModel) and m.rig == "arkit52"
    out = m.predict(speech(1.0))
    assert out.values.shape == (25, 55)
    assert np.all(np.isfinite(out.values))


def test_stream_misuse_is_a_clear_error(model):
    from talkinghead.errors import AudioError
    with pytest.raises(AudioError):
        model.stream().flush()
    s = model.stream()
    s.feed(speech(0.1))
    assert s.flush().shape == (3, 55)
    with pytest.raises(AudioError):
        s.feed(speech(0.1))
    with pytest.raises(AudioError):
        model.stream().feed(np.full(100, np.nan, np.float32))
