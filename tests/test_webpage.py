"""`talkinghead web`: the static page whose lstm.js runs the LSTM on the browser's microphone.

lstm.js is run under node on real (synthesised) speech and compared with the Python model:
the filterbank frame by frame, the streamed motion row by row, and the resampler against soxr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from talkinghead.errors import TalkingHeadError
from talkinghead.models import load_model
from talkinghead.sinks.webpage import PAGE_FILES, export_weights, write_site

node = pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")

RUNNER = """
const fs = require("fs");
const lib = require(process.argv[2]);
const dir = process.argv[3];
const manifest = JSON.parse(fs.readFileSync(dir + "/model.json"));
const bin = fs.readFileSync(dir + "/model.bin");
const weights = lib.weightsFrom(manifest, bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length));
const raw = fs.readFileSync(dir + "/audio.f32");
const audio = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
const rate = Number(process.argv[4]);
const chunks = [];   // irregular chunks, as a microphone delivers them
for (let i = 0, n = 0; i < audio.length; n++) { const size = [2048, 777, 4096, 1][n % 4]; chunks.push(audio.subarray(i, i + size)); i += size; }
const fbank = new lib.Fbank(), frames = [];
const resampler = rate === 16000 ? null : new lib.Resampler(rate, 16000);
const stream = new lib.LSTMStream(manifest, weights), rows = [], resampled = [];
for (const chunk of chunks) {
  const x = resampler ? resampler.push(chunk) : chunk;
  resampled.push(...x);
  for (const f of fbank.push(x)) frames.push(Array.from(f));
  for (const r of stream.feed(x)) rows.push(Array.from(r));
}
process.stdout.write(JSON.stringify({ frames: frames, rows: rows, resampled: resampled }));
"""


@pytest.fixture(scope="module")
def model():
    return load_model("lstm-arkit")


@pytest.fixture(scope="module")
def site(tmp_path_factory, model):
    return write_site(tmp_path_factory.mktemp("site"), model)


@pytest.fixture(scope="module")
def speech():
    from talkinghead.audio.tts import synthesize
    return np.r_[np.zeros(1000, np.float32), synthesize("The page moves the mouth by itself.").audio]


def _run_page_model(site: Path, audio: np.ndarray, rate: int) -> dict:
    (site / "audio.f32").write_bytes(np.asarray(audio, "<f4").tobytes())
    script = site / "runner.js"
    script.write_text(RUNNER)
    out = subprocess.run(["node", str(script), str(site / "lstm.js"), str(site), str(rate)],
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout)


def test_the_site_holds_the_page_the_rig_and_the_model(site, model):
    assert all((site / name).is_file() for name in PAGE_FILES + ("rig.json", "model.json", "model.bin"))
    rig = json.loads((site / "rig.json").read_text())
    assert rig["browser_model"] == "model.json" and rig["microphone"] and rig["rig"] == "arkit52"
    manifest = json.loads((site / "model.json").read_text())
    assert manifest["delay_steps"] == 4 and manifest["channels"] == list(model.channels)
    total = sum(t["size"] for t in manifest["tensors"]) * 4
    assert total == (site / "model.bin").stat().st_size
    assert b'src="lstm.js"' in (site / "index.html").read_bytes()


def test_folded_weights_compute_what_the_network_does(model):
    """The exported layers (BatchNorm folded) reproduce Audio2Feature in numpy."""
    import torch
    manifest, blob = export_weights(model)
    w = {t["name"]: np.frombuffer(blob, "<f4", t["size"], t["offset"]).reshape(t["shape"]).astype(np.float64)
         for t in manifest["tensors"]}
    pairs = np.random.default_rng(0).standard_normal((5, 160))
    leaky = lambda x: np.where(x < 0, 0.2 * x, x)  # noqa: E731
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    h, c, out = np.zeros((2, 192)), np.zeros((2, 192)), []
    for pair in pairs:
        x = w["down.3.weight"] @ leaky(w["down.0.weight"] @ pair + w["down.0.bias"]) + w["down.3.bias"]
        for layer in (0, 1):
            g = w[f"lstm.{layer}.weight_ih"] @ x + w[f"lstm.{layer}.weight_hh"] @ h[layer] + w[f"lstm.{layer}.bias"]
            i, f, gg, o = np.split(g, 4)
            c[layer] = sig(f) * c[layer] + sig(i) * np.tanh(gg)
            h[layer] = x = sig(o) * np.tanh(c[layer])
        y = leaky(w["fc.3.weight"] @ leaky(w["fc.0.weight"] @ x + w["fc.0.bias"]) + w["fc.3.bias"])
        out.append(w["fc.6.weight"] @ y + w["fc.6.bias"])
    with torch.inference_mode():
        expected = model.net.eval()(torch.from_numpy(pairs.reshape(1, 10, 80)).float())[0][0].numpy()
    assert np.abs(np.array(out) - expected).max() < 1e-4


@node
def test_the_pages_filterbank_and_motion_match_python(site, model, speech):
    from talkinghead.features.fbank import NumpyFbankStream
    got = _run_page_model(site, speech, 16000)
    frames = NumpyFbankStream(16000).feed(speech)
    assert len(got["frames"]) == len(frames)
    assert np.abs(np.array(got["frames"]) - frames).max() < 1e-4   # (0.0 measured: the same float64 recipe)
    stream = model.stream()
    expected = np.concatenate([stream.feed(speech[i:i + 3000]) for i in range(0, len(speech), 3000)])
    rows = np.array(got["rows"])
    assert len(rows) == len(expected) > 40
    assert np.abs(rows - expected).max() < 1e-5   # (8e-8 measured)
    assert rows[:, model.channels.index("jawOpen")].max() > 0.1


@node
def test_a_48_khz_microphone_is_resampled_like_soxr(site, model, speech):
    import soxr
    audio48 = soxr.resample(speech, 16000, 48000).astype(np.float32)
    got = _run_page_model(site, audio48, 48000)
    ours, reference = np.array(got["resampled"]), speech
    n = min(len(ours), len(reference)) - 100
    assert abs(len(ours) - len(reference)) < 100
    assert np.corrcoef(ours[:n], reference[:n])[0, 1] > 0.999
    jaw = np.array(got["rows"])[:, model.channels.index("jawOpen")]
    expected = model.predict(speech).values[:, model.channels.index("jawOpen")]
    m = min(len(jaw), len(expected))
    assert np.corrcoef(jaw[:m], expected[:m])[0, 1] > 0.98


def test_only_16_khz_lstms_go_to_the_browser(tmp_path):
    with pytest.raises(TalkingHeadError, match="runs LSTM models"):
        write_site(tmp_path, load_model("acoustic"))
    from talkinghead.models.lstm import build_lstm_model
    with pytest.raises(TalkingHeadError, match="'mini' variant reads 8 kHz features"):
        write_site(tmp_path, build_lstm_model("dhlive6", "mini"))


def test_a_feature_normalised_lstm_is_refused(tmp_path, model):
    """lstm.js has no running normaliser, so such a model would give wrong motion silently."""
    from talkinghead.training.featnorm import NormalizedLSTMModel
    normalised = NormalizedLSTMModel.__new__(NormalizedLSTMModel)
    normalised.__dict__.update(model.__dict__)
    with pytest.raises(TalkingHeadError, match="NormalizedLSTMModel .* needs its normaliser"):
        write_site(tmp_path, normalised)


def test_cli_web(tmp_path):
    out = subprocess.run([sys.executable, "-m", "talkinghead", "web", "-o", str(tmp_path / "site")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "http.server" in out.stdout and (tmp_path / "site" / "model.bin").is_file()
    bad = subprocess.run([sys.executable, "-m", "talkinghead", "web", "-o", str(tmp_path / "x"),
                          "--model", "phonetic"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "runs LSTM models" in bad.stderr
