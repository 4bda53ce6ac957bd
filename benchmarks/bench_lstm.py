"""DH_live LSTM speed on one CPU core: streaming in 40 ms steps (fbank included) and offline.

The figures come from a child process pinned to one core with every thread pool (torch, OpenBLAS,
OpenMP) at one thread: numpy's BLAS sizes its pool at import, so this cannot be set later in a
process that already imported numpy, and on a shared machine a second thread only adds noise.
Random weights: speed does not depend on them. Every stream is fed one 640-sample chunk per
call, as a live source would (no batching of steps); building a stream (weight folding, ~10 ms)
is timed apart (`*_stream_setup_ms`), not spread over the steps.

Besides the per-step breakdown (fbank, LSTM step, the rest = glue) it prints the memory floor
of an exact float32 step: a step reads every weight once (`lstm_weight_bytes_per_step`, more
than a 2 MB L2), so its matrix-vector products cost at least bytes / bandwidth of the level the
weights come from. `matvec_cycled_us` runs the step's products alone in the step's order,
`matvec_hot_us` the same products each repeated while it sits in cache, and
`stream_read_gbps` a plain read of a 32 MB buffer; `ceiling_rtf_*` is 40 ms over the floor.

With `--coretype` the parent also runs the child with OPENBLAS_CORETYPE=Haswell (only where
the CPU has AVX2), reported under "with_OPENBLAS_CORETYPE_Haswell": numpy's OpenBLAS misdetects
some CPUs (e.g. Sapphire Rapids) and runs generic kernels; the library never sets this itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from timing import best_of

SECONDS = 20.0
STEP = 640  # 40 ms at 16 kHz


def _per_step(fn, steps: int, repeats: int = 5) -> float:
    """Microseconds per step, fastest of `repeats` runs of `fn` (which runs `steps` steps)."""
    return best_of(fn, repeats) / steps * 1e6


def _floor(fast) -> dict:
    """The memory floor of one step's matrix-vector products (see the module docstring)."""
    import numpy as np
    import torch

    mats = [torch.from_numpy(w) for w in fast.weights]
    xs = [torch.ones(w.shape[1]) for w in mats]
    outs = [torch.empty(w.shape[0]) for w in mats]
    n = 500

    def cycled() -> None:
        for _ in range(n):
            for w, x, o in zip(mats, xs, outs):
                torch.mv(w, x, out=o)

    cycled_us = _per_step(cycled, n)
    hot_us = 0.0
    for w, x, o in zip(mats, xs, outs):
        hot_us += _per_step(lambda: [torch.mv(w, x, out=o) for _ in range(n)], n)
    big = torch.ones(8 << 20)  # 32 MB: far beyond L2, inside L3 on most servers
    read_s = best_of(lambda: [big.sum() for _ in range(5)], 5) / 5
    gbps = big.numel() * 4 / read_s / 1e9
    nbytes = int(sum(w.nbytes for w in fast.weights))
    return {"lstm_weight_bytes_per_step": nbytes,
            "matvec_cycled_us": round(cycled_us, 1),
            "matvec_hot_us": round(hot_us, 1),
            "stream_read_gbps": round(gbps, 1),
            "matvec_cycled_gbps": round(nbytes / cycled_us / 1e3, 1),
            "ceiling_rtf_weights_from_memory": round(40e3 / (nbytes / gbps / 1e3), 1),
            "ceiling_rtf_weights_hot": round(40e3 / hot_us, 1),
            "numpy_float32_gemv_768x385_us": round(_numpy_gemv_us(np), 1)}


def _numpy_gemv_us(np) -> float:
    w = np.ones((385, 768), np.float32)
    x, out = np.ones(385, np.float32), np.empty(768, np.float32)
    return _per_step(lambda: [np.matmul(x, w, out=out) for _ in range(200)], 200)


def _measure() -> dict:
    import numpy as np
    import torch

    from talkinghead.features.fbank import FbankStream, NumpyFbankStream
    from talkinghead.models.lstm import _FastSteps, build_lstm_model, run_audio2feature

    torch.set_num_threads(1)
    audio = (np.random.default_rng(0).standard_normal(int(SECONDS * 16000)) * 0.1).astype(np.float32)
    steps = len(audio) // STEP
    chunks = [audio[i:i + STEP] for i in range(0, len(audio), STEP)]
    result: dict = {"audio_s": SECONDS, "cpu_cores_used": 1}

    def stream_us(model, repeats: int = 5) -> float:
        """Per 40 ms step of a live stream: streams are built before the clock starts."""
        streams = iter([model.stream() for _ in range(repeats)])

        def run() -> None:
            stream = next(streams)
            for chunk in chunks:
                stream.feed(chunk)
        return _per_step(run, steps, repeats)

    def fbank_run(cls, rate: int) -> None:
        stream = cls(rate)
        for chunk in chunks:
            stream.push(chunk[: len(chunk) * rate // 16000])

    for name, cls in (("kaldi", FbankStream), ("numpy", NumpyFbankStream)):
        result[f"fbank16k_{name}_us_per_step"] = round(_per_step(lambda: fbank_run(cls, 16000), steps), 1)
    result["fbank8k_numpy_us_per_step"] = round(_per_step(lambda: fbank_run(NumpyFbankStream, 8000), steps), 1)
    fast = _FastSteps(build_lstm_model("dhlive6", "v1").net)
    result["lstm_backend"] = fast.backend
    pair = np.zeros(160, np.float32)
    result["lstm_step_us"] = round(_per_step(lambda: [fast.step(pair) for _ in range(steps)], steps), 1)
    for head, variant in (("dhlive6", "v1"), ("dhlive6", "mini"), ("arkit52", "v1")):
        model = build_lstm_model(head, variant)
        key = f"{head}_{variant}"
        us = stream_us(model)
        result[f"{key}_stream_us_per_step"] = round(us, 1)
        result[f"{key}_stream_setup_ms"] = round(best_of(model.stream) * 1e3, 1)
        result[f"{key}_stream_rtf"] = round(40e3 / us, 1)
        wall = best_of(lambda: model.predict(audio))
        result[f"{key}_offline_rtf"] = round(SECONDS / wall, 1)
    glue = result["dhlive6_v1_stream_us_per_step"] - result["fbank16k_numpy_us_per_step"] \
        - result["lstm_step_us"]
    result["dhlive6_v1_glue_us_per_step"] = round(glue, 1)
    model = build_lstm_model("dhlive6", "v1")
    feats = FbankStream(16000).feed(audio)
    wall = best_of(lambda: run_audio2feature(model.net, feats))
    result["torch_audio2feature_offline_rtf_no_fbank"] = round(SECONDS / wall, 1)
    result.update(_floor(fast))
    result["target_stream_rtf"] = 500
    result["load_average_1min"] = round(os.getloadavg()[0], 2)  # other processes on the machine
    return result


def _child(extra_env: dict | None = None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update(extra_env or {})
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


def bench_lstm(coretype: bool = False) -> dict:
    """Microseconds per 40 ms step and real-time factors (audio seconds per wall second)."""
    result = _child()
    if coretype and _has_avx2() and "OPENBLAS_CORETYPE" not in os.environ:
        time.sleep(0.1)
        other = _child({"OPENBLAS_CORETYPE": "Haswell"})
        keys = [k for k in other if "stream" in k or k.startswith(("lstm_", "numpy_", "fbank"))]
        result["with_OPENBLAS_CORETYPE_Haswell"] = {k: other[k] for k in keys}
    return result


if __name__ == "__main__":
    if "--child" in sys.argv:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(json.dumps(_measure()))
    else:
        print(json.dumps(bench_lstm(coretype="--coretype" in sys.argv), indent=1))
