"""DH_live LSTM speed on one CPU core: streaming in 40 ms steps (fbank included) and offline.

The figures come from a child process pinned to one core with every thread pool (torch, OpenBLAS,
OpenMP) at one thread: numpy's BLAS sizes its pool at import, so this cannot be set later in a
process that already imported numpy, and on a shared machine a second thread only adds noise.
Random weights: speed does not depend on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from timing import best_of

SECONDS = 20.0
STEP = 640  # 40 ms at 16 kHz


def _measure() -> dict:
    import numpy as np
    import torch

    from talkinghead.features.fbank import FbankStream
    from talkinghead.models.lstm import _FastSteps, build_lstm_model, run_audio2feature

    torch.set_num_threads(1)
    audio = (np.random.default_rng(0).standard_normal(int(SECONDS * 16000)) * 0.1).astype(np.float32)
    steps = len(audio) // STEP
    result: dict = {"audio_s": SECONDS, "cpu_cores_used": 1}

    def stream_run(model) -> None:
        stream = model.stream()
        for i in range(0, len(audio), STEP):
            stream.feed(audio[i:i + STEP])
        stream.flush()

    def fbank_run() -> None:
        stream = FbankStream(16000)
        for i in range(0, len(audio), STEP):
            stream.feed(audio[i:i + STEP])

    wall = best_of(fbank_run)
    result["fbank16k_stream_rtf"] = round(SECONDS / wall, 1)
    result["fbank16k_us_per_step"] = round(wall / steps * 1e6, 1)
    fast = _FastSteps(build_lstm_model("dhlive6", "v1").net)
    pair, state = np.zeros((1, 160), np.float32), _FastSteps.zero_state()
    wall = best_of(lambda: [fast.run(pair, state) for _ in range(steps)])
    result["lstm_only_us_per_step"] = round(wall / steps * 1e6, 1)
    for head, variant in (("dhlive6", "v1"), ("dhlive6", "mini"), ("arkit52", "v1")):
        model = build_lstm_model(head, variant)
        key = f"{head}_{variant}"
        wall = best_of(lambda: stream_run(model))
        result[f"{key}_stream_rtf"] = round(SECONDS / wall, 1)
        result[f"{key}_stream_us_per_step"] = round(wall / steps * 1e6, 1)
        wall = best_of(lambda: model.predict(audio))
        result[f"{key}_offline_rtf"] = round(SECONDS / wall, 1)
    model = build_lstm_model("dhlive6", "v1")
    feats = FbankStream(16000).feed(audio)
    wall = best_of(lambda: run_audio2feature(model.net, feats))
    result["torch_audio2feature_offline_rtf_no_fbank"] = round(SECONDS / wall, 1)
    result["target_stream_rtf"] = 500
    result["load_average_1min"] = round(os.getloadavg()[0], 2)  # other processes on the machine
    return result


def bench_lstm() -> dict:
    """Real-time factors (audio seconds per wall second) and microseconds per 40 ms step."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if "--child" in sys.argv:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(json.dumps(_measure()))
    else:
        print(json.dumps(bench_lstm(), indent=1))
