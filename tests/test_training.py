"""Trainers end to end on a tiny corpus: loss falls, checkpoints resume exactly, exports round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkinghead.corpus.shards import ShardWriter, add_shard, new_manifest, write_manifest
from talkinghead.errors import CheckpointError, TalkingHeadError
from talkinghead.models.artalk.bsq import MultiScaleBSQ
from talkinghead.models.lstm import LSTMMotionModel
from talkinghead.motion import ARKIT52_CHANNELS
from talkinghead.training import cli, export
from talkinghead.training.ar import quantize_with_flips
from talkinghead.training.data import JAW_OPEN, is_held_aside, load_clips, read_corpus
from talkinghead.training.loop import TrainConfig, train
from talkinghead.training.lstm import LSTMRecipe, LSTMTask
from talkinghead.training.vae import st_quantize

SR = 16000


def _utterance(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Noise bursts whose loudness is the jaw opening: a mapping a net can learn in a few steps."""
    frames = int(seconds * 25)
    jaw = np.clip(np.convolve(rng.random(frames) > 0.6, np.ones(3) / 3, "same"), 0, 1)
    env = np.repeat(jaw, 640).astype(np.float32)
    audio = (rng.standard_normal(frames * 640).astype(np.float32) * 0.3 * env).astype(np.float32)
    motion = np.zeros((frames, len(ARKIT52_CHANNELS)), np.float32)
    motion[:, JAW_OPEN] = jaw
    motion[:, ARKIT52_CHANNELS.index("mouthFunnel")] = 0.5 * jaw
    return audio, motion


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    manifest = new_manifest("synth")
    with ShardWriter(folder / "shard-000000.tar") as w:
        for i in range(24):
            audio, motion = _utterance(rng, 2.4 + 0.4 * (i % 3))
            w.add(f"synth-{i:06d}", audio, motion, [], {"text": "", "seconds": len(audio) / SR})
    add_shard(manifest, {"name": "shard-000000.tar", "utterances": w.count, "seconds": w.seconds})
    write_manifest(folder, manifest)
    return folder


@pytest.fixture(scope="module")
def clips(corpus):
    return load_clips(read_corpus([corpus]), val_fraction=0.2)


def _losses(run_dir) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"]


def test_split_is_by_key_and_covers_both_sides(clips):
    assert clips.val and clips.train
    assert all(is_held_aside(c.key, 0.2) for c in clips.val)
    assert not any(is_held_aside(g[0].key, 0.2) for g in clips.train)


def test_lstm_trains_exports_and_loads(corpus, tmp_path):
    config = json.dumps({"batch_size": 8, "window_steps": 24, "lr": 3e-3, "warmup_steps": 2,
                         "log_every": 1, "val_every": 20, "augment_copies": 1, "val_fraction": 0.2,
                         "threads": 1})
    result = cli.run("lstm", [corpus], config, tmp_path, steps=20, resume=False, progress=False)
    losses = _losses(tmp_path)
    assert len(losses) == 20 and np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])
    assert {"loss", "jaw_r", "jaw_r_pooled"} <= set(result["val"])
    model = export.load_export(result["export"])
    assert isinstance(model, LSTMMotionModel) and model.rig == "arkit52"
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["model"]
    for k, v in model.net.state_dict().items():
        assert torch.equal(v, saved[f"net.{k}"]), k
    meta = json.loads((tmp_path / "lstm.json").read_text())
    assert meta["kind"] == "lstm" and meta["training"]["data"]["train_utterances"] == len(
        [1 for g in load_clips(read_corpus([corpus]), 0.2).train])
    assert "Validation" in (tmp_path / "lstm.md").read_text()
    motion = model.predict(np.zeros(SR, np.float32))
    assert motion.values.shape == (25, 55)


def test_resume_continues_from_the_saved_step_exactly(clips, tmp_path):
    def task():
        return LSTMTask(clips, LSTMRecipe(window_steps=16, val_clips=2), batch_size=4)

    cfg = dict(batch_size=4, lr=1e-3, warmup_steps=2, log_every=1, val_every=100, checkpoint_every=3, seed=3,
               threads=1)
    straight = train(task(), TrainConfig(steps=6, **cfg), tmp_path / "a", progress=False)
    train(task(), TrainConfig(steps=3, **cfg), tmp_path / "b", progress=False)
    with pytest.raises(CheckpointError):
        train(task(), TrainConfig(steps=6, **cfg), tmp_path / "b", progress=False)
    resumed = train(task(), TrainConfig(steps=6, **cfg), tmp_path / "b", resume=True, progress=False)
    assert straight["start_step"] == 0 and resumed["start_step"] == 3 and resumed["step"] == 6
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        assert torch.allclose(a["model"][k].float(), b["model"][k].float(), atol=1e-6), k
    assert _losses(tmp_path / "b")[3:] == pytest.approx(_losses(tmp_path / "a")[3:], rel=1e-5)


def test_straight_through_quantiser_matches_the_module_and_passes_gradients():
    torch.manual_seed(0)
    bsq = MultiScaleBSQ(8, (1, 5, 10))
    f = torch.randn(2, 10, 8, requires_grad=True)
    q_ref, bits_ref, aux_ref = bsq(f)
    q, bits, aux = st_quantize(bsq, f)
    assert torch.equal(bits, bits_ref)
    assert torch.allclose(q, q_ref, atol=1e-6) and torch.allclose(aux, aux_ref, atol=1e-6)
    (q * torch.randn_like(q)).sum().backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    targets, shown = quantize_with_flips(bsq, f.detach(), max_flip=0.0)
    assert torch.equal(targets, bits_ref) and torch.equal(shown, bits_ref)
    targets, shown = quantize_with_flips(bsq, f.detach(), max_flip=0.3)
    assert torch.equal(shown[:, -10:], targets[:, -10:])  # the last scale is never flipped


def test_vae_then_ar_train_and_round_trip(corpus, tmp_path):
    small_vae = {"vae_hidden": 32, "vae_depth": 1, "vae_heads": 2, "code_dim": 8, "batch_size": 8,
                 "lr": 5e-3, "warmup_steps": 2, "log_every": 1, "val_every": 100, "val_fraction": 0.2,
                 "threads": 1}
    vae_run = cli.run("vae", [corpus], json.dumps(small_vae), tmp_path / "vae", steps=25, resume=False,
                      progress=False)
    losses = _losses(tmp_path / "vae")
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    vae = export.load_export(vae_run["export"])
    assert tuple(vae.motion_mean.shape) == (55,) and {"l1", "jaw_r"} <= set(vae_run["val"])

    small_ar = {"ar_width": 32, "ar_depth": 1, "ar_heads": 2, "audio_dim": 16, "encoder_hidden": 16,
                "style_dim": 16, "style_depth": 1, "style_heads": 2, "style_ffn": 32, "style_frames": 20,
                "vae": vae_run["export"], "batch_size": 8, "lr": 3e-3, "warmup_steps": 2,
                "log_every": 1, "val_every": 100, "val_clips": 2, "augment_copies": 0, "val_fraction": 0.2,
                "threads": 1}
    ar_run = cli.run("ar", [corpus], json.dumps(small_ar), tmp_path / "ar", steps=25, resume=False,
                     progress=False)
    losses = _losses(tmp_path / "ar")
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert {"ce", "bit_acc", "jaw_r"} <= set(ar_run["val"])
    net = export.load_export(ar_run["export"])
    for k, v in vae.state_dict().items():  # the codec was frozen: exported as trained
        assert torch.equal(net.basic_vae.state_dict()[k], v), k
    with torch.no_grad():
        out = net.step(net.start(None), net.audio_encoder.features(torch.zeros(1, 50 * 640)))
    assert out.shape == (1, 50, 55) and torch.isfinite(out).all()


def test_bad_config_and_missing_data_fail_clearly(corpus, tmp_path):
    with pytest.raises(TalkingHeadError, match="unknown lstm config keys"):
        cli.run("lstm", [corpus], '{"no_such_key": 1}', tmp_path, steps=1, resume=False, progress=False)
    with pytest.raises(TalkingHeadError):
        cli.run("lstm", [tmp_path / "nowhere"], None, tmp_path, steps=1, resume=False, progress=False)
    with pytest.raises(CheckpointError, match="no shipped weights"):
        export.load_shipped("no-such-model")


def test_shipped_lstm_arkit_loads_and_predicts():
    model = export.load_shipped("lstm-arkit")
    assert isinstance(model, LSTMMotionModel) and model.channels == ARKIT52_CHANNELS
    t = np.arange(SR) / SR
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    motion = model.predict(audio)
    assert motion.values.shape == (25, 55) and np.isfinite(motion.values).all()
    assert export.WEIGHTS_DIR.joinpath("lstm-arkit.md").is_file()


@pytest.mark.slow
def test_torchrun_ddp_two_cpu_processes(corpus, tmp_path):
    """Two gloo ranks train together; rank 0 alone writes the metrics, checkpoint and export."""
    import subprocess
    import sys
    script = tmp_path / "ddp.py"
    script.write_text(
        "import json, sys\nfrom pathlib import Path\nfrom talkinghead.training import cli\n"
        "cfg = json.dumps({'batch_size': 2, 'window_steps': 12, 'log_every': 1, 'val_every': 100,\n"
        "                  'augment_copies': 0, 'threads': 1, 'val_clips': 1, 'val_fraction': 0.2})\n"
        "cli.run('lstm', [Path(sys.argv[1])], cfg, Path(sys.argv[2]), steps=3, resume=False, progress=False)\n")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(corpus), str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2, 3]
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 3
    assert isinstance(export.load_export(out / "lstm.safetensors"), LSTMMotionModel)


# -- running feature normalisation (featnorm.py, LSTMRecipe.feature_norm) -------------------------

def test_running_norm_streams_exactly_and_forgets_a_channel_offset():
    from talkinghead.training.featnorm import FeatureNorm, normalize, prior_from_frames
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 80)) * 2.0 - 3.0
    cfg = prior_from_frames([x[:700], x[700:900]])
    floored = np.maximum(x[:900], cfg.floor)
    assert np.allclose(cfg.prior_mean, floored.mean(0)) and np.allclose(cfg.prior_std, floored.std(0))
    whole = normalize(x, cfg)
    state, cuts = cfg.start(), [0, 1, 7, 150, 151, 420, 999, 2000]
    chunked = np.concatenate([state.feed(x[a:b]) for a, b in zip(cuts, cuts[1:])])
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    # A louder, differently coloured microphone: a per-bin offset the statistics absorb.
    shifted = normalize(x + np.linspace(-4.0, 6.0, 80), cfg)
    early, late = np.abs(shifted - whole)[:50].mean(), np.abs(shifted - whole)[-200:].mean()
    assert late < 0.1 * early
    assert np.isfinite(normalize(np.full((50, 80), -15.9), cfg)).all()   # digital silence, floored
    with pytest.raises(CheckpointError):
        FeatureNorm(prior_mean=[0.0] * 3)


def test_lstm_with_feature_norm_exports_a_streaming_normalised_model(corpus, tmp_path):
    from talkinghead.training.featnorm import NormalizedLSTMModel
    config = json.dumps({"batch_size": 4, "window_steps": 16, "log_every": 1, "val_every": 100,
                         "augment_copies": 0, "val_fraction": 0.2, "threads": 1, "feature_norm": "running"})
    result = cli.run("lstm", [corpus], config, tmp_path, steps=3, resume=False, progress=False)
    model = export.load_export(result["export"])
    assert isinstance(model, NormalizedLSTMModel)
    assert json.loads((tmp_path / "lstm.json").read_text())["feature_norm"]["mode"] == "running"
    audio, _ = _utterance(np.random.default_rng(5), 2.0)
    batch = model.predict(audio).values
    stream = model.stream()
    parts = [stream.feed(audio[i:i + 1000]) for i in range(0, len(audio), 1000)] + [stream.flush()]
    np.testing.assert_allclose(np.concatenate(parts), batch, atol=1e-5)
    plain = LSTMMotionModel(model.net, "v1").predict(audio).values   # same net, raw features
    assert np.abs(plain - batch).max() > 1e-3
    with pytest.raises(TalkingHeadError, match="feature_norm"):
        cli.run("lstm", [corpus], '{"feature_norm": "global"}', tmp_path / "x", steps=1, resume=False,
                progress=False)


def test_augment_overrides_reach_the_augmenter_and_bad_names_fail():
    from talkinghead.training.data import DataError, default_augment
    quiet = default_augment(0, {"speed_p": 0.0, "pitch_p": 0.0, "reverb_p": 0.0, "noise_p": 0.0,
                                "bandlimit_p": 0.0, "codec_p": 0.0, "gain_p": 1.0,
                                "gain_db_range": [-6.0, -6.0]})
    audio, motion = _utterance(np.random.default_rng(2), 1.0)
    out, same = quiet(audio, motion)
    np.testing.assert_allclose(out, audio * 10 ** (-6 / 20), atol=1e-6)
    np.testing.assert_array_equal(same, motion)
    with pytest.raises(DataError, match="unknown augment keys"):
        default_augment(0, {"echo_p": 0.5})
