"""ARTalkModel behaviour: KV cache, batching, streaming, frame count, checkpoints, style files.

Uses a toy model (fixture-small generator + the "tiny" wav2vec2, random weights): fast, and
every path of the real model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkinghead.errors import AudioError, CheckpointError, MotionFileError
from talkinghead.models.artalk import (FLAME_CHANNELS, ARTalkConfig, ARTalkModel, BitwiseARModel,
                                       StreamingSmoother, artalk_frame_count, load_artalk, load_net,
                                       load_style, save_artalk, savgol_smooth)
from talkinghead.models.artalk.style import StyleEncoder
from talkinghead.models.base import MotionModel, frame_count
from talkinghead.rigs import flame

from conftest import random_chunks

TOY = ARTalkConfig.fixture_small().with_(audio_encoder="tiny", audio_dim=32)


@pytest.fixture(scope="module")
def net() -> BitwiseARModel:
    torch.manual_seed(1)
    return BitwiseARModel(TOY).eval()


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    t = np.arange(110000) / 16000
    rng = np.random.default_rng(2)
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def style() -> np.ndarray:
    return (np.random.default_rng(3).standard_normal((50, 106)) * 0.3).astype(np.float32)


def test_protocol_and_channels(net):
    model = ARTalkModel(net)
    assert isinstance(model, MotionModel)
    assert model.rig == "flame" and len(model.channels) == 106 == len(set(model.channels))
    assert model.channels == FLAME_CHANNELS == flame.FLAME_CHANNELS


def test_frame_count_double_precision_quirk():
    assert artalk_frame_count(4480) == 8 and frame_count(4480) == 7
    assert artalk_frame_count(64000) == 100 and artalk_frame_count(64001) == 101
    differ = sum(artalk_frame_count(n) != -(-n // 640) for n in range(1, 16000 * 60))
    assert differ == 70  # the spec's count below 60 s


def test_short_clip_keeps_quirky_length(net):
    raw = ARTalkModel(net, postprocess=False).predict(np.full(4480, 0.1, np.float32))
    assert len(raw) == 8
    with pytest.raises(AudioError):
        ARTalkModel(net).predict(np.full(4480, 0.1, np.float32))  # smoothing needs 9 frames


def test_kv_cache_gives_identical_bits(net, audio, style):
    x = torch.from_numpy(audio[:64000])[None]
    with torch.no_grad():
        feats = net.window_features(x)
        runs = []
        for use_cache in (False, True):
            state = net.start(torch.from_numpy(style))
            for _ in range(3):
                net.step(state, feats, use_cache=use_cache, keep_trace=True)
            runs.append(state.trace)
    for a, b in zip(*runs):
        assert torch.equal(a["bits"], b["bits"]) and torch.equal(a["prev_bits_in"], b["prev_bits_in"])
        assert torch.equal(a["decoded_motion"], b["decoded_motion"])
        assert (a["final_logits"] - b["final_logits"]).abs().max() < 1e-5
    cached = ARTalkModel(net, use_cache=True).predict(audio, style_motion=style).values
    full = ARTalkModel(net, use_cache=False).predict(audio, style_motion=style).values
    assert np.array_equal(cached, full)


def test_batch_equals_single_runs(net, audio, style):
    model = ARTalkModel(net)
    a, b = audio, audio[20000:90000] * 0.5
    batch = model.predict_batch([a, b], style_motion=[style, None])
    singles = [model.predict(a, style_motion=style), model.predict(b)]
    for got, want in zip(batch, singles):
        assert got.values.shape == want.values.shape
        np.testing.assert_allclose(got.values, want.values, atol=1e-5)  # a flipped bit is ~1e-2
    assert len(batch[1]) == artalk_frame_count(70000)


@pytest.mark.parametrize("postprocess", [True, False])
def test_stream_is_bit_exact_with_predict(net, audio, style, postprocess):
    model = ARTalkModel(net, postprocess=postprocess, style_motion=style)
    whole = model.predict(audio).values
    stream = model.stream()
    parts = [stream.feed(piece) for piece in random_chunks(audio, np.random.default_rng(4), 1, 40000)]
    parts.append(stream.flush())
    assert np.array_equal(np.concatenate(parts), whole)
    assert len(whole) == artalk_frame_count(len(audio))


def test_stream_emits_early_and_respects_clip_length(net, audio):
    model = ARTalkModel(net, clip_length=120)
    stream = model.stream()
    first = stream.feed(audio[:64000])
    assert len(first) == 96  # one window decoded, 4 frames held back by the smoothing
    rest = np.concatenate([stream.feed(audio[64000:]), stream.flush()])
    assert len(first) + len(rest) == 120
    assert np.array_equal(np.concatenate([first, rest]), model.predict(audio).values)


def test_streaming_smoother_matches_batch():
    raw = np.random.default_rng(5).standard_normal((237, 106)).astype(np.float32)
    smoother, out, i = StreamingSmoother(), [], 0
    for n in (3, 1, 9, 50, 2, 100, 72):
        out.append(smoother.push(raw[i:i + n]))
        i += n
    out.append(smoother.flush())
    expected = savgol_smooth(raw)
    expected[:, 104:] = 0
    assert np.array_equal(np.concatenate(out), expected)


def test_bad_audio_raises(net):
    model = ARTalkModel(net)
    with pytest.raises(AudioError):
        model.predict(np.zeros(0, np.float32))
    with pytest.raises(AudioError):
        model.predict(np.full(32000, np.nan, np.float32))
    with pytest.raises(MotionFileError):
        model.predict(np.zeros(32000, np.float32), style_motion=np.zeros((50, 3)))


def test_style_changes_output_and_pe_quirk_flag(net, audio, style):
    model = ARTalkModel(net, postprocess=False)
    assert not np.array_equal(model.predict(audio, style_motion=style).values, model.predict(audio).values)
    m = torch.from_numpy(style)[None]
    quirk, plain = StyleEncoder(TOY).eval(), StyleEncoder(TOY, pe_quirk=False).eval()
    plain.load_state_dict(quirk.state_dict())
    with torch.no_grad():
        # the quirk adds one row (PE[50]) to every frame; plain adds PE[0..49]
        h = quirk.encoder.motion_proj((m - quirk.motion_mean) / quirk.motion_std)
        want_quirk = quirk.encoder.transformer(h + quirk.PE.pe[0, 50]).mean(1)
        want_plain = quirk.encoder.transformer(h + quirk.PE.pe[:, :50]).mean(1)
        torch.testing.assert_close(quirk(m), want_quirk, atol=1e-6, rtol=0)
        torch.testing.assert_close(plain(m), want_plain, atol=1e-6, rtol=0)
        assert (quirk(m) - plain(m)).abs().max() > 1e-3


# -- checkpoints ------------------------------------------------------------------------


def _outputs(model: ARTalkModel, audio: np.ndarray) -> np.ndarray:
    return model.predict(audio[:70000]).values


@pytest.mark.parametrize("wrap", ["flat", "model", "state_dict"])
def test_checkpoint_roundtrip(net, audio, tmp_path, wrap):
    state = {k: v.clone() for k, v in net.state_dict().items()}
    obj = state if wrap == "flat" else {wrap: state}
    torch.save(obj, tmp_path / "ARTalk_wav2vec.pt")
    loaded = load_artalk(tmp_path / "ARTalk_wav2vec.pt", config=TOY)
    assert np.array_equal(_outputs(loaded, audio), _outputs(ARTalkModel(net), audio))


def test_checkpoint_with_old_weight_norm_keys(net, audio, tmp_path):
    state = {k.replace("parametrizations.weight.original0", "weight_g")
              .replace("parametrizations.weight.original1", "weight_v"): v
             for k, v in net.state_dict().items()}
    assert "audio_encoder.encoder.pos_conv_embed.conv.weight_g" in state
    torch.save(state, tmp_path / "old.pt")
    loaded = load_artalk(tmp_path / "old.pt", config=TOY)
    assert np.array_equal(_outputs(loaded, audio), _outputs(ARTalkModel(net), audio))


def test_own_checkpoint_carries_config(net, tmp_path):
    save_artalk(net, tmp_path / "ours.pt", with_config=True)
    assert load_net(tmp_path / "ours.pt").cfg == TOY


def test_checkpoint_errors_name_the_keys(net, tmp_path):
    state = dict(net.state_dict())
    del state["lvl_embed.weight"]
    state["bogus.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"lvl_embed\.weight.*bogus\.weight"):
        load_artalk(tmp_path / "bad.pt", config=TOY)
    state = dict(net.state_dict())
    state["logits_head.bias"] = torch.zeros(3)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="logits_head.bias"):
        load_artalk(tmp_path / "shape.pt", config=TOY)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_artalk(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError):
        load_artalk(tmp_path / "missing.pt")


def test_config_inferred_from_shapes_for_released_layout():
    from talkinghead.models.artalk import infer_config
    from talkinghead.models.artalk.ar import level_index
    with torch.device("meta"):
        state = BitwiseARModel(ARTalkConfig.released()).state_dict()
    state["lvl_idx"] = level_index(ARTalkConfig.released().patch_nums)  # the one value read
    assert infer_config(state) == ARTalkConfig.released()


def test_wav2vec2_from_local_hf_directory(net, audio, tmp_path):
    """A pre-training checkpoint layout: `wav2vec2.` prefix, old weight-norm keys, extra heads."""
    from safetensors.torch import save_file
    encoder = net.audio_encoder
    hf = {"wav2vec2." + k.replace("parametrizations.weight.original0", "weight_g")
          .replace("parametrizations.weight.original1", "weight_v"): v.contiguous()
          for k, v in encoder.state_dict().items()}
    hf["quantizer.codevectors"] = torch.zeros(1, 4, 8)
    hf["project_q.weight"] = torch.zeros(4, 4)
    (tmp_path / "w2v").mkdir()
    save_file(hf, str(tmp_path / "w2v" / "model.safetensors"))
    (tmp_path / "w2v" / "config.json").write_text(json.dumps(encoder.config.to_dict()))
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("audio_encoder.")}
    torch.save(state, tmp_path / "no_audio.pt")
    with pytest.raises(CheckpointError, match="wav2vec2_dir"):
        load_artalk(tmp_path / "no_audio.pt", config=TOY.with_(audio_encoder=None))
    loaded = load_artalk(tmp_path / "no_audio.pt", config=TOY, wav2vec2_dir=tmp_path / "w2v")
    assert np.array_equal(_outputs(loaded, audio), _outputs(ARTalkModel(net), audio))


def test_load_style(tmp_path, style):
    torch.save(torch.from_numpy(style), tmp_path / "natural.pt")
    torch.save(torch.from_numpy(style)[None], tmp_path / "batched.pt")
    assert torch.equal(load_style(tmp_path / "natural.pt"), torch.from_numpy(style))
    assert load_style(tmp_path / "batched.pt").shape == (50, 106)
    torch.save(torch.zeros(50, 100), tmp_path / "wrong.pt")
    with pytest.raises(MotionFileError):
        load_style(tmp_path / "wrong.pt")
    with pytest.raises(MotionFileError):
        load_style(tmp_path / "absent.pt")
