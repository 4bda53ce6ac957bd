"""ARTalk reimplementation vs the original's numbers (../shared/conformance/artalk).

One test per stage. Bits must match exactly; floats within the README's tolerances (1e-5).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from torch import nn

from talkinghead.models.artalk import (ARTalkConfig, ARTalkModel, BitwiseARModel, MultiScaleBSQ,
                                       build_wav2vec2, postprocess, savgol_smooth)
from talkinghead.models.artalk.ar import block_causal_bias, greedy_bits, level_index
from talkinghead.models.artalk.stats import MOTION_MEAN, MOTION_STD
from talkinghead.models.artalk.style import sinusoid_table
from talkinghead.models.artalk.vae import two_window_mask
from talkinghead.models.artalk.wav2vec2 import canonical_keys

safetensors = pytest.importorskip("safetensors.torch")
ATOL = 1e-5


@pytest.fixture(scope="module")
def art(conformance_dir):
    path = conformance_dir / "artalk"
    if not path.is_dir():
        pytest.skip("artalk fixtures absent")
    return path


@pytest.fixture(scope="module")
def io(art):
    return safetensors.load_file(str(art / "small_io.safetensors"))


@pytest.fixture(scope="module")
def net(art):
    state = safetensors.load_file(str(art / "small_state_dict.safetensors"))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model = BitwiseARModel(ARTalkConfig.fixture_small()).eval()
    model.load_state_dict(state, strict=True)
    return model


def feat(io, key: str) -> torch.Tensor:
    return io[key].float() / 64  # int8 storage, exact


def assert_bits(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.dtype == torch.uint8 and torch.equal(actual, expected), \
        f"{int((actual != expected).sum())} bits differ"


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float = ATOL) -> None:
    assert actual.shape == expected.shape
    err = (actual - expected).abs().max().item()
    assert err <= atol, f"max abs error {err:.3g} > {atol}"


# -- state_dict layout -------------------------------------------------------------------


def test_released_state_dict_matches_manifest(art):
    manifest = json.loads((art / "manifest_full.json").read_text())
    with torch.device("meta"):
        big = BitwiseARModel(ARTalkConfig.released())
    state = big.state_dict()
    buffers = {n for n, _ in big.named_buffers()}
    entries = manifest["keys"] + manifest["audio_encoder"]["keys"]
    assert len(entries) == manifest["num_keys_total"] == 814
    assert set(state) == {e["key"] for e in entries}
    for e in entries:
        t = state[e["key"]]
        assert list(t.shape) == e["shape"], e["key"]
        assert str(t.dtype).removeprefix("torch.") == e["dtype"], e["key"]
        assert (e["key"] in buffers) == (e["kind"] == "buffer"), e["key"]
    n_audio = sum(p.numel() for p in big.audio_encoder.parameters())
    assert n_audio == manifest["num_parameters_audio_encoder"]
    n_rest = sum(p.numel() for n, p in big.named_parameters() if not n.startswith("audio_encoder."))
    assert n_rest == manifest["num_parameters_excluding_audio_encoder"]


def test_released_buffers_are_bit_identical(art):
    manifest = {e["key"]: e for e in json.loads((art / "manifest_full.json").read_text())["keys"]}
    pn = ARTalkConfig.released().patch_nums
    buffers = {
        "attn_bias_for_masking": block_causal_bias(pn, 1),
        "lvl_idx": level_index(pn),
        "basic_vae.attn_mask": two_window_mask(100),
        "basic_vae.motion_mean": torch.tensor(MOTION_MEAN, dtype=torch.float32),
        "basic_vae.motion_std": torch.tensor(MOTION_STD, dtype=torch.float32),
    }
    for key, value in buffers.items():
        digest = hashlib.sha256(value.contiguous().numpy().tobytes()).hexdigest()
        assert digest == manifest[key]["sha256_of_raw_bytes"], key


def test_positional_table_close_to_original(art):
    """float32 exp differs by 1 ulp between CPU kernels (3 of 64 frequencies here), which moves
    sin(599 w) by ~3e-5; checkpoints carry the table, so only fresh models see our own."""
    original = safetensors.load_file(str(art / "small_state_dict.safetensors"))["style_encoder.PE.pe"]
    assert_close(sinusoid_table(600, 128), original, 1e-4)


def test_stats_match_json(art):
    stats = json.loads((art / "postprocess_and_stats.json").read_text())
    assert np.array_equal(np.float32(MOTION_MEAN), np.float32(stats["ALLTALKEMICA_MEAN"]))
    assert np.array_equal(np.float32(MOTION_STD), np.float32(stats["ALLTALKEMICA_STD"]))


# -- stages ------------------------------------------------------------------------------


def test_bsq(io):
    q = MultiScaleBSQ(32, (1, 5, 25, 50, 100))
    quantized, bits, aux = q(io["bsq.in.latent"])
    assert_bits(bits, io["bsq.out.bits"])
    assert_close(quantized, io["bsq.out.quantized"], 0)
    assert_close(aux, io["bsq.out.aux_losses"], 1e-6)
    ref = io["bsq.out.bits"]
    assert_close(q.decoder_features(ref), io["bsq.out.vqidx_to_feat_single"], 0)
    assert_close(q.next_scale_features(ref), io["bsq.out.vqidx_to_feat_multiscale"], 0)
    for p in range(4):
        n = sum((1, 5, 25, 50, 100)[:p + 1])
        assert_close(q.next_scale_features(ref[:, :n], upto=p), io[f"bsq.out.ar_vqfeat_pidx{p}"], 0)


@torch.no_grad()
def test_vae_encode(net, io):
    vae, prev, this = net.basic_vae, io["vae.in.prev_motion"], io["vae.in.this_motion"]
    assert_close(vae.encode_latent(prev, this), io["vae.dbg.encoder_out_pair"])
    assert_close(vae.encode_latent(prev), io["vae.dbg.encoder_out_single"])
    prev_bits, this_bits = vae.encode(prev, this)
    assert_bits(prev_bits, io["vae.out.pair_prev_bits"])
    assert_bits(this_bits, io["vae.out.pair_this_bits"])
    assert_bits(vae.encode(prev), io["vae.out.single_prev_bits"])


@torch.no_grad()
def test_vae_decode(net, io):
    vae = net.basic_vae
    prev_bits, this_bits = io["vae.out.pair_prev_bits"], io["vae.out.pair_this_bits"]
    assert_close(vae.decoder_input(prev_bits, this_bits), io["vae.dbg.decoder_in_feat"])
    prev, this = vae.decode(prev_bits, this_bits)
    assert_close(prev, io["vae.out.decode_prev_motion"])
    assert_close(this, io["vae.out.decode_this_motion"])


@torch.no_grad()
def test_style_encoder(net, io):
    enc = net.style_encoder
    assert_close(enc(io["style.in.motion50"]), io["style.out.feat50"])
    assert_close(enc(io["style.in.motion37"]), io["style.out.feat37"])  # adds PE row 37
    batch = torch.cat([io["style.in.motion50"], io["vae.in.prev_motion"][:, :50]])
    assert_close(enc(batch), io["style.out.feat50_batch2"])
    assert_close(net.style_token(io["style.in.motion50"]), io["tf.dbg.style_cond"])


@torch.no_grad()
def test_teacher_forced_logits(net, io):
    style_tok = net.style_token(io["style.in.motion50"])
    prev_bits = net.basic_vae.encode(io["vae.in.prev_motion"])
    assert_bits(prev_bits, io["tf.dbg.prev_bits"])
    assert_close(net.embed_prev(style_tok, prev_bits), io["tf.dbg.prev_attn_feat"])
    trace: list = []
    logits = net.teacher_forced(feat(io, "tf.in.audio_feat"), style_tok, prev_bits,
                                io["tf.in.target_bits"], trace=trace)
    assert_close(trace[0], io["tf.dbg.block_in"])
    assert_close(trace[1], io["tf.dbg.block0_out"])
    assert_close(trace[2], io["tf.dbg.block1_out"])
    assert_close(logits, io["tf.out.logits"])


@pytest.mark.parametrize("prefix", ["infer", "infer_nostyle"])
@pytest.mark.parametrize("use_cache", [False, True])
@torch.no_grad()
def test_greedy_decoding_and_handoff(net, io, prefix, use_cache):
    style = io["style.in.motion50"] if prefix == "infer" else None
    state = net.start(style)
    feats = [feat(io, "tf.in.audio_feat"), feat(io, "infer.in.audio_feat_w1")]
    motions = [net.step(state, f, use_cache=use_cache, keep_trace=True) for f in feats]
    for w, trace in enumerate(state.trace):
        assert_bits(trace["prev_bits_in"], io[f"{prefix}.out.w{w}_prev_bits_in"])
        assert_bits(trace["bits"], io[f"{prefix}.out.w{w}_bits"])
        assert_close(trace["final_logits"], io[f"{prefix}.out.w{w}_final_logits"])
        assert_close(trace["decoded_motion"], io[f"{prefix}.out.w{w}_decoded_motion"])
        if prefix == "infer":
            assert_close(trace["decoded_prev_motion"], io[f"infer.dbg.w{w}_decoded_prev_motion"])
    assert_bits(state.prev_bits, io[f"{prefix}.out.next_prev_bits_after_w1"])
    assert_close(torch.cat(motions, 1)[:, :188], io[f"{prefix}.out.pred_motion"])


def test_greedy_bits_per_scale(net, io):
    """Every prefix step predicts the same bits for the scales it has seen."""
    with torch.no_grad():
        state = net.start(io["style.in.motion50"])
        cond = net.audio_condition(feat(io, "tf.in.audio_feat"))
        prev = state.prev_tokens + net.prev_lvl_pos()
        cfg, final = net.cfg, io["infer.out.w0_bits"]
        for step, pn in enumerate(cfg.patch_nums):
            n = cfg.offsets[step] + pn
            x = net.token_inputs(state.style_tok, final, step) + net.lvl_pos()[:, :n]
            mask = net.attn_bias_for_masking[:, :, :n, :prev.shape[1] + n]
            bits = greedy_bits(net.logits(x, cond[:, :n], prev, mask))
            assert_bits(bits, final[:, :n])


class _Feeder(nn.Module):
    """Stands in for wav2vec2: returns the stored features, checks what it is given."""

    def __init__(self, feats: list[torch.Tensor]) -> None:
        super().__init__()
        self.feats, self.calls = feats, []

    def features(self, window: torch.Tensor) -> torch.Tensor:
        self.calls.append(window.clone())
        return self.feats[len(self.calls) - 1]


@torch.no_grad()
def test_model_windows_and_postprocess(net, io, art):
    feeder = _Feeder([feat(io, "tf.in.audio_feat"), feat(io, "infer.in.audio_feat_w1")])
    net.audio_encoder = feeder
    try:
        model = ARTalkModel(net, clip_length=750)
        audio = np.random.default_rng(0).uniform(-0.5, 0.5, 120000).astype(np.float32)
        style = io["style.in.motion50"][0].numpy()
        raw = model.predict_raw([audio], [style])[0]
        assert [c.shape[-1] for c in feeder.calls] == [64000, 64000]
        assert torch.count_nonzero(feeder.calls[1][0, 56000:]) == 0
        assert_close(torch.from_numpy(raw)[None], io["infer.out.pred_motion"])
        feeder.calls.clear()
        motion = model.predict(audio, style_motion=style)
    finally:
        net.audio_encoder = None
    assert motion.values.shape == (188, 106) and motion.rig == "flame"
    assert_close(torch.from_numpy(motion.values), io["post.out.engine_default"])
    # the smoothing itself, from the original's raw output: exact
    pred = io["infer.out.pred_motion"][0].numpy()
    assert np.array_equal(savgol_smooth(pred), io["post.out.savgol"].numpy())
    assert np.array_equal(postprocess(pred), io["post.out.engine_default"].numpy())
    stats = json.loads((art / "postprocess_and_stats.json").read_text())
    assert stats["zeroed_dims_always"] == [104, 105] and stats["savgol"]["min_frames"] == 9


@pytest.mark.parametrize("spelling", ["parametrizations", "weight_g"])
@torch.no_grad()
def test_wav2vec2_wrapper(art, spelling):
    config = json.loads((art / "w2v_tiny_info.json").read_text())["config"]
    state = safetensors.load_file(str(art / "w2v_tiny_state_dict.safetensors"))
    if spelling == "weight_g":
        state = {k.replace("parametrizations.weight.original0", "weight_g")
                  .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
        assert any(k.endswith("weight_g") for k in state)
    model = build_wav2vec2(config)
    model.load_state_dict({k: v.float() for k, v in canonical_keys(state).items()}, strict=True)
    data = safetensors.load_file(str(art / "w2v_tiny_io.safetensors"))
    assert_close(model.features(data["in.audio_16k"]), data["out.hidden_states"])
