"""DH_live front end + Audio2Feature against the original's numbers (conformance/dhlive README §1)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from talkinghead.audio.io import check_chunk
from talkinghead.errors import AudioError, CheckpointError
from talkinghead.features.fbank import (DHLiveFbankStream, FbankStream, NumpyFbankStream,
                                        fbank, from_int16, mel_weights, mini_fbank,
                                        mini_samples, resample_8k, to_int16)
from talkinghead.models.base import MotionModel, MotionStream, frame_count
from talkinghead.models.lstm import (Audio2Feature, V1FrameStream, _FastSteps, audio2mouth,
                                     build_lstm_model,
                                     load_dhlive_lstm, mini_offline, read_state_dict,
                                     run_audio2feature, v1_offline)
from talkinghead.motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES
from talkinghead.rigs.dhlive6 import (DHLIVE6_CHANNELS, decode_bases, lip_gap, lip_gap_rates,
                                      lip_guard, pca_mouth_images, symmetrize_pca)
from conftest import max_err, random_chunks

ATOL = 1e-5  # README: LSTM atol 1e-5; fbank 1e-5 when kaldi-native-fbank itself is called


@pytest.fixture(scope="module")
def fx(conformance_dir):
    return load_file(str(conformance_dir / "dhlive" / "audio_fixture.safetensors"))


@pytest.fixture(scope="module")
def weights_path(conformance_dir):
    return conformance_dir / "dhlive" / "audio2feature_weights.safetensors"


@pytest.fixture(scope="module")
def net(weights_path):
    return load_dhlive_lstm(weights_path).net


@pytest.fixture(scope="module")
def v1_model(weights_path):
    return load_dhlive_lstm(weights_path, variant="v1")


# -- front end ----------------------------------------------------------------------------------

def test_pcm_conversion(fx):
    assert np.array_equal(from_int16(fx["wav_16k_int16"]), fx["samples_16k_float32"])
    assert np.array_equal(to_int16(fx["samples_16k_float32"]), fx["wav_16k_int16"])


def test_resample_8k_is_bit_exact(fx):
    assert np.array_equal(resample_8k(fx["wav_16k_int16"]), fx["resampled_8k_float64"])
    assert np.array_equal(mini_samples(fx["wav_16k_int16"]), fx["samples_8k_float32"])


def test_fbank_16k_and_8k_match_fixture(fx):
    f16 = fbank(fx["samples_16k_float32"], 16000)
    f8 = mini_fbank(fx["wav_16k_int16"])
    assert f16.shape == f8.shape == (149, 80)  # never flushed: 149 frames ready for 3 s
    assert max_err(f16[:148], fx["fbank_16k"]) <= ATOL
    assert max_err(f8[:148], fx["fbank_8k"]) <= ATOL
    assert max_err(fbank(fx["samples_16k_float32"], 16000, flush=True),
                    fx["fbank_16k_after_input_finished"]) <= ATOL
    assert max_err(fbank(fx["samples_8k_float32"], 8000, flush=True),
                    fx["fbank_8k_after_input_finished"]) <= ATOL


@pytest.mark.parametrize("rate", [16000, 8000])
def test_fbank_streaming_equals_offline(fx, rate):
    x = fx["samples_16k_float32"] if rate == 16000 else fx["samples_8k_float32"]
    chunked = _feed_in_random_chunks(FbankStream(rate), x, np.random.default_rng(rate), 900)
    assert np.array_equal(chunked, fbank(x, rate))


def _feed_in_random_chunks(stream, x: np.ndarray, rng: np.random.Generator, longest: int) -> np.ndarray:
    """Every frame a filterbank stream returns for `x` fed in chunks of 1..longest samples."""
    return np.concatenate([stream.feed(piece) for piece in random_chunks(x, rng, 1, longest)])


def test_fbank_rejects_bad_input():
    with pytest.raises(AudioError):
        fbank(np.zeros((2, 100), np.float32))
    with pytest.raises(AudioError):
        fbank(np.array(["x"] * 100))
    pcm = (np.arange(1600) % 200 - 100).astype(np.int16) * 100  # integer PCM is scaled, not rejected
    np.testing.assert_array_equal(fbank(pcm), fbank(pcm.astype(np.float32) / 32768))
    with pytest.raises(AudioError):
        fbank(np.array([0.0, np.nan], np.float32))
    with pytest.raises(AudioError):
        fbank(np.zeros(100, np.float32), 22050)
    with pytest.raises(AudioError):
        mini_fbank(np.zeros(100, np.float32))


# -- Audio2Feature ------------------------------------------------------------------------------

def test_state_dict_layout(net):
    names = list(Audio2Feature().state_dict())
    assert len(names) == 33 and names[0] == "downsample.0.weight" and "LSTM.weight_hh_l1" in names
    params = sum(p.numel() for p in net.parameters())
    stats = sum(b.numel() for n, b in net.named_buffers() if "running" in n)
    assert params + stats == 645350  # the README counts BatchNorm running statistics too


def test_offline_outputs_and_state(fx, net):
    y, h, c = run_audio2feature(net, fx["fbank_8k"])
    assert max_err(y, fx["a2f_out_8k"]) <= ATOL
    assert max_err(h, fx["a2f_hn_8k"]) <= ATOL
    assert max_err(c, fx["a2f_cn_8k"]) <= ATOL
    y16, _, _ = run_audio2feature(net, fx["fbank_16k"])
    assert max_err(y16, fx["a2f_out_16k"]) <= ATOL


def test_original_post_processing_and_delays(fx, net):
    mini = mini_offline(net, fx["wav_16k_int16"])
    assert mini.shape == (69, 6) and max_err(mini, fx["mini_bs_final"]) <= ATOL
    assert max_err(audio2mouth(net, fx["samples_16k_float32"]), fx["audio2mouth_16k"]) <= ATOL
    v1 = v1_offline(net, fx["samples_16k_float32"])
    assert v1.shape == (70, 6) and max_err(v1, fx["a2f_out_16k"][4:]) <= ATOL


def test_v1_frame_stream(fx, net):
    stream = V1FrameStream(net)
    x = fx["samples_16k_float32"]
    outs, pairs = [], []
    for k in range(75):
        outs.append(stream.step(x[640 * k:640 * (k + 1)]))
        pairs.append(stream.last_pair)
    assert max_err(pairs, fx["stream_fbank_pairs"]) <= ATOL
    assert max_err(outs, fx["stream_out"]) <= ATOL
    assert max_err(stream.h, fx["stream_h_final"]) <= ATOL
    assert max_err(stream.c, fx["stream_c_final"]) <= ATOL
    y, _, _ = run_audio2feature(net, fx["stream_fbank_pairs"].reshape(150, 80))
    assert max_err(y, fx["stream_out"]) <= ATOL  # carrying the state is exact
    with pytest.raises(AudioError):
        stream.step(np.zeros(320, np.float32))


def test_pca_mouth_images(fx, conformance_dir):
    pca = load_file(str(conformance_dir / "dhlive" / "data" / "pca_v1_mouth15x30x3.safetensors"))
    mean, comps = symmetrize_pca(pca["mean_"], pca["components_"])
    assert np.array_equal(mean, fx["v1_pca_mean_sym"])
    assert np.array_equal(comps, fx["v1_pca_components_sym"])
    stream_img = pca_mouth_images(fx["stream_out"], mean, comps)
    offline_img = pca_mouth_images(fx["a2f_out_16k"][4:], mean, comps)
    assert np.array_equal(stream_img, fx["stream_mouth_frames_uint8"])
    assert np.array_equal(offline_img, fx["v1_offline_mouth_frames_uint8"])


def test_lip_guard(conformance_dir):
    mesh = load_file(str(conformance_dir / "dhlive" / "mesh_render_fixture.safetensors"))
    bases = decode_bases(mesh["texture_rgba_as_uploaded_desktop"])
    assert np.array_equal(bases, mesh["basis_rgb_decoded_6x209x3"])
    rates = lip_gap_rates(bases)
    assert max_err(lip_gap(mesh["designed_bs"], rates), mesh["y_bias"]) <= 1e-9
    assert np.array_equal(lip_guard(mesh["designed_bs"], rates), mesh["bs_after_guard"][:, :6])


# -- checkpoints ------------------------------------------------------------------------------

def _bare_state_dict(weights_path) -> OrderedDict:
    """What `torch.save(model.state_dict(), 'lstm_model_epoch_325.pkl')` writes: an OrderedDict
    of tensors in module order, BatchNorm counters as int64 scalars."""
    state = read_state_dict(weights_path)
    return OrderedDict((k, state[k].clone()) for k in Audio2Feature().state_dict())


def test_load_original_pickle_layout(tmp_path, fx, weights_path):
    state = _bare_state_dict(weights_path)
    counter = state["fc.1.num_batches_tracked"]
    assert counter.shape == () and counter.dtype == torch.int64
    path = tmp_path / "lstm_model_epoch_325.pkl"
    torch.save(state, path)
    model = load_dhlive_lstm(path)
    assert model.rig == "dhlive6" and model.channels == DHLIVE6_CHANNELS
    assert model.variant.name == "mini" and model.variant.delay == 5
    y, _, _ = run_audio2feature(model.net, fx["fbank_8k"])
    assert max_err(y, fx["a2f_out_8k"]) <= ATOL


@pytest.mark.parametrize("damage", ["missing", "unexpected", "shape"])
def test_strict_load_names_bad_keys(tmp_path, weights_path, damage):
    state = _bare_state_dict(weights_path)
    if damage == "missing":
        del state["LSTM.weight_hh_l1"]
        key = "LSTM.weight_hh_l1"
    elif damage == "unexpected":
        state["fc.7.weight"] = torch.zeros(3)
        key = "fc.7.weight"
    else:
        state["downsample.3.weight"] = torch.zeros(80, 81)
        key = "downsample.3.weight"
    path = tmp_path / "audio.pkl"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
        load_dhlive_lstm(path, variant="v1")


def test_load_rejects_missing_and_garbage(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_dhlive_lstm(tmp_path / "nope.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_dhlive_lstm(bad)
    with pytest.raises(CheckpointError):
        load_dhlive_lstm(bad, variant="v2")


# -- the MotionModel ----------------------------------------------------------------------------

def test_motion_model_protocol(v1_model):
    assert isinstance(v1_model, MotionModel)
    assert isinstance(v1_model.stream(), MotionStream)


def test_predict_is_delay_aligned_original(fx, v1_model):
    x = fx["samples_16k_float32"]
    motion = v1_model.predict(x)
    assert motion.rig == "dhlive6" and motion.values.shape == (frame_count(len(x)), 6) == (75, 6)
    # frame k = network step k + 4 (the training delay), i.e. the original offline rows
    assert max_err(motion.values[:70], fx["a2f_out_16k"][4:]) <= ATOL


def test_stream_in_any_chunks_equals_predict(fx, v1_model):
    x = fx["samples_16k_float32"]
    stream = _assert_streams_like_predict(v1_model, x, (640, 333, 4001))
    with pytest.raises(AudioError):
        stream.feed(x[:640])


def _assert_streams_like_predict(model, audio: np.ndarray, chunks: tuple[int, ...]):
    """Streaming in each chunk size gives predict's frames (1e-6); returns the last, flushed stream."""
    offline = model.predict(audio).values
    for chunk in chunks:
        stream = model.stream()
        parts = [stream.feed(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
        got = np.concatenate(parts + [stream.flush()])
        assert got.shape == offline.shape and max_err(got, offline) <= 1e-6
    return stream


def test_stream_latency_in_40ms_steps(v1_model):
    """Frame k is ready once step k + 4 is (640 (k + 4) + 880 samples), not before."""
    stream = v1_model.stream()
    got = sum(len(stream.feed(np.zeros(640, np.float32))) for _ in range(10))
    rows_ready = (6400 - 880) // 640 + 1
    assert got == rows_ready - 4


def test_mini_model_streams_close_to_original(fx, weights_path):
    model = load_dhlive_lstm(weights_path, variant="mini")
    motion = model.predict(fx["samples_16k_float32"])
    assert motion.values.shape == (75, 6)
    # the stream resamples with soxr instead of the whole-clip FFT: close, not bit-equal
    assert max_err(motion.values[:69], fx["mini_bs_final"]) <= 3e-3


def test_short_and_resampled_input(v1_model):
    assert len(v1_model.predict(np.zeros(0, np.float32))) == 0
    assert len(v1_model.predict(np.zeros(100, np.float32))) == 1
    audio_8k = (np.random.default_rng(1).standard_normal(8000) * 0.1).astype(np.float32)
    assert len(v1_model.predict(audio_8k, sample_rate=8000)) == 25
    with pytest.raises(AudioError, match="sample rate"):
        v1_model.predict(audio_8k, sample_rate=0)
    with pytest.raises(AudioError, match="channels"):
        v1_model.predict(np.zeros((2, 1600), np.float32))  # channel-first


def test_arkit52_head_runs_and_streams(tmp_path, v1_model):
    model = build_lstm_model("arkit52")
    assert model.rig == "arkit52" and model.channels == ARKIT52_CHANNELS
    audio = (np.random.default_rng(2).standard_normal(16000) * 0.2).astype(np.float32)
    motion = model.predict(audio)
    assert motion.values.shape == (25, 55)
    shapes = motion.values[:, :len(ARKIT_BLENDSHAPES)]
    assert shapes.min() >= 0.0 and shapes.max() <= 1.0
    stream = model.stream()
    parts = [stream.feed(audio[i:i + 640]) for i in range(0, len(audio), 640)]
    assert max_err(np.concatenate(parts + [stream.flush()]), motion.values) <= 1e-6
    # same trunk as a dhlive6 checkpoint, new head; the arkit52 state_dict reloads by shape
    grafted = v1_model.with_head("arkit52")
    for name, tensor in v1_model.net.state_dict().items():
        if not name.startswith("fc.6."):
            assert torch.equal(grafted.net.state_dict()[name], tensor)
    path = tmp_path / "arkit52.pt"
    torch.save(grafted.net.state_dict(), path)
    reloaded = load_dhlive_lstm(path, variant="v1")
    assert reloaded.rig == "arkit52"
    assert max_err(reloaded.predict(audio).values, grafted.predict(audio).values) == 0.0


# -- the fast streaming path (numpy filterbank, _FastSteps) -------------------------------------

FBANK_ATOL = 2e-3  # README: a reimplemented filterbank vs kaldi-native-fbank


@pytest.mark.parametrize("rate", [16000, 8000])
def test_numpy_fbank_matches_kaldi(fx, rate):
    x = fx["samples_16k_float32"] if rate == 16000 else fx["samples_8k_float32"]
    key = "fbank_16k" if rate == 16000 else "fbank_8k"
    frames = NumpyFbankStream(rate).feed(x)
    assert frames.shape == (149, 80) and frames.dtype == np.float32
    assert max_err(frames[:148], fx[key]) <= FBANK_ATOL
    assert np.abs(frames[:148] - fx[key]).mean() <= 1e-4
    stream = NumpyFbankStream(rate)
    flushed = np.concatenate([stream.feed(x), stream.flush()])
    assert flushed.shape == (150, 80)
    assert max_err(flushed, fx[f"{key}_after_input_finished"]) <= FBANK_ATOL
    rng = np.random.default_rng(rate)
    noise = (rng.standard_normal(2 * rate) * 0.1).astype(np.float32)
    noise[rate // 2:rate] *= 1e-4  # a near-silent stretch, where float32 kaldi rounds most
    got, want = NumpyFbankStream(rate).feed(noise), fbank(noise, rate)
    assert got.shape == want.shape and max_err(got, want) <= FBANK_ATOL
    assert np.array_equal(NumpyFbankStream(rate).feed(np.zeros(rate, np.float32)),
                          fbank(np.zeros(rate, np.float32), rate))  # the log floor


@pytest.mark.parametrize("rate", [16000, 8000])
def test_numpy_fbank_any_chunking_is_bit_equal(fx, rate):
    x = fx["samples_16k_float32"] if rate == 16000 else fx["samples_8k_float32"]
    whole = NumpyFbankStream(rate).feed(x)
    for seed in range(3):
        chunked = _feed_in_random_chunks(NumpyFbankStream(rate), x, np.random.default_rng(seed), 3000)
        assert np.array_equal(chunked, whole)
    stream = NumpyFbankStream(rate)
    stream.feed(x[:100])
    stream.flush()
    with pytest.raises(AudioError):
        stream.feed(x[:100])


@pytest.mark.parametrize("rate", [16000, 8000])
def test_mel_gather_equals_the_matrix(rate):
    stream = NumpyFbankStream(rate)
    assert stream.band is not None  # the gathered segment sums are what the stream uses
    idx, weights, starts = stream.band
    spec = np.random.default_rng(0).random((3, stream.n_fft + 2)) ** 4  # squared re, im
    gathered = np.add.reduceat(np.take(spec, idx, axis=1) * weights, starts, axis=1)
    dense = (spec[:, 0:stream.n_fft:2] + spec[:, 1:stream.n_fft:2]) @ stream.mel
    assert np.allclose(gathered, dense, rtol=1e-12, atol=0)
    mel = mel_weights(rate, stream.n_fft)
    assert mel.shape == (stream.n_fft // 2, 80) and mel[0].max() == 0 and mel.max() <= 1.0
    # triangles overlap their neighbours only: every FFT bin feeds at most two mel bins
    assert (mel > 0).sum(axis=1).max() == 2


def test_check_chunk_finds_every_non_finite_value():
    for n in (5, 640, 4096, 5000):
        x = np.zeros(n, np.float32)
        x[:] = 3e38  # huge but finite: no overflow may make it look infinite
        assert check_chunk(x) is not None
        for bad in (np.nan, np.inf, -np.inf):
            for pos in (0, n // 2, n - 1):
                y = x.copy()
                y[pos] = bad
                with pytest.raises(AudioError, match="NaN or infinity"):
                    check_chunk(y)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("head", ["dhlive6", "arkit52"])
def test_fast_steps_match_the_module(net, backend, head):
    module = net if head == "dhlive6" else build_lstm_model(head).net
    pairs = (np.random.default_rng(3).standard_normal((20, 160)) * 3).astype(np.float32)
    y, h, c = run_audio2feature(module, pairs.reshape(40, 80))
    fast = _FastSteps(module, backend)
    steps = np.stack([fast.step(p).copy() for p in pairs])
    assert max_err(steps, y) <= 1e-6
    state = fast.state
    assert max_err(state[:2], h[:, 0]) <= 1e-6 and max_err(state[2:], c[:, 0]) <= 1e-6
    fast.state = _FastSteps.zero_state()  # setting the state restarts the stream exactly
    again = np.concatenate([fast.run(pairs[:9]), fast.run(pairs[9:12]),
                            np.stack([fast.step_frames(p[:80], p[80:]).copy() for p in pairs[12:]])])
    assert max_err(again, y) <= 1e-6  # torch's loop (>= 8 steps), the per-step calls, mixed


def test_stream_fast_path_equals_any_chunking(v1_model):
    audio = (np.random.default_rng(4).standard_normal(16000) * 0.2).astype(np.float32)
    offline = v1_model.predict(audio).values
    for chunk in (640, 320, 960, 1280, 7):
        stream = v1_model.stream()
        parts = [stream.feed(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
        assert max_err(np.concatenate(parts + [stream.flush()]), offline) <= 1e-6
    with pytest.raises(AudioError):
        DHLiveFbankStream(16000, engine="torch")


def test_mini_stream_any_chunking_equals_predict():
    """The 8 kHz path: soxr hands the filterbank 1-3 frames per chunk (fast and general paths)."""
    model = build_lstm_model("dhlive6", "mini")
    audio = (np.random.default_rng(5).standard_normal(24000) * 0.2).astype(np.float32)
    _assert_streams_like_predict(model, audio, (640, 333, 2000))
