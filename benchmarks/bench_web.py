"""The browser side, timed under node (V8, the engine of Chrome and Edge).

`talkinghead web`'s lstm.js: filterbank + LSTM streamed in 40 ms steps (real-time factor and
milliseconds per step), and the microphone resampler 48 -> 16 kHz. The viewer's drawing needs a
canvas and is not timed here. Skips without node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

SECONDS = 20

SCRIPT = """
const fs = require("fs"), lib = require(process.argv[2]), dir = process.argv[3];
const manifest = JSON.parse(fs.readFileSync(dir + "/model.json")), bin = fs.readFileSync(dir + "/model.bin");
const weights = lib.weightsFrom(manifest, bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length));
let seed = 1; const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
const seconds = Number(process.argv[4]);
const audio = Float32Array.from({ length: 16000 * seconds }, noise);
const mic = Float32Array.from({ length: 48000 * seconds }, noise);
const stream = new lib.LSTMStream(manifest, weights), resampler = new lib.Resampler(48000, 16000);
let t = process.hrtime.bigint();
for (let i = 0; i < audio.length; i += 640) stream.feed(audio.subarray(i, i + 640));
const lstm = Number(process.hrtime.bigint() - t) / 1e9;
t = process.hrtime.bigint();
for (let i = 0; i < mic.length; i += 2048) resampler.push(mic.subarray(i, i + 2048));
const resample = Number(process.hrtime.bigint() - t) / 1e9;
process.stdout.write(JSON.stringify({ lstm_s: lstm, resample_s: resample }));
"""


def bench_web() -> dict:
    if shutil.which("node") is None:
        return {"skipped": "node not installed"}
    from talkinghead.models import load_model
    from talkinghead.sinks.webpage import write_site
    with tempfile.TemporaryDirectory() as tmp:
        site = write_site(Path(tmp), load_model("lstm-arkit"))
        (site / "bench.js").write_text(SCRIPT)
        out = subprocess.run(["node", str(site / "bench.js"), str(site / "lstm.js"), str(site), str(SECONDS)],
                             capture_output=True, text=True, check=True, timeout=600)
    t = json.loads(out.stdout)
    steps = SECONDS * 25
    return {"node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
            "lstm_js_realtime_factor": round(SECONDS / t["lstm_s"], 1),
            "lstm_js_ms_per_40ms_step": round(1000 * t["lstm_s"] / steps, 2),
            "resampler_48k_realtime_factor": round(SECONDS / t["resample_s"], 1)}


if __name__ == "__main__":
    print(json.dumps(bench_web(), indent=1))
