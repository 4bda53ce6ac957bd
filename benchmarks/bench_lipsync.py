"""Lip sync of a motion model on the real-people dev set (../shared/eval), plus its speed.

`bench_lipsync(model=...)` runs `model.predict(audio)` (no text) on every clip in
../shared/eval/audio, writes `<clip>.npz` with the rig's landmarks (the mouth opening the README
reports, as `talkinghead eval` does; `jawOpen` for rigs without landmarks) and `jawOpen`, scores it with
../shared/eval/lipsync_metrics.py (imported, never copied) and returns per-clip and mean metrics
and the seconds of compute per second of audio. Skips with a message when ../shared/eval is absent.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
KEYS = ("r", "lag", "r_best", "clo_R", "clo_P", "sil", "amp")


def _metrics_module():
    spec = importlib.util.spec_from_file_location("lipsync_metrics", EVAL / "lipsync_metrics.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def bench_lipsync(model=None, eval_dir: Path = EVAL) -> dict:
    """Per-clip and mean lip-sync metrics and speed; {"skipped": reason} without the dev set."""
    if not (eval_dir / "lipsync_metrics.py").is_file():
        print(f"bench_lipsync skipped: {eval_dir} is absent")
        return {"skipped": f"{eval_dir} is absent"}
    import soundfile as sf
    from talkinghead.pipeline import with_landmarks
    if model is None:
        from talkinghead.models.phonetic import PhoneticModel
        model = PhoneticModel()
    metrics = _metrics_module()
    seconds = compute = 0.0
    with tempfile.TemporaryDirectory() as out:
        for wav in sorted((eval_dir / "audio").glob("*.wav")):
            audio, rate = sf.read(wav, dtype="float32")
            start = time.perf_counter()
            motion = model.predict(audio, sample_rate=rate)
            compute += time.perf_counter() - start
            seconds += len(audio) / rate
            extras = with_landmarks(motion).extras
            arrays = {"jawOpen": motion.channel("jawOpen")}
            if "landmarks" in extras:   # metric and isotropic: no image aspect to undo
                arrays.update(landmarks=extras["landmarks"], image_size=np.array([1, 1]))
            np.savez(Path(out) / f"{wav.stem}.npz", **arrays)
        rows, mean = metrics.evaluate_dir(out, str(eval_dir / "clips"))
    result = {"clips": {r["clip"]: {k: r[k] for k in KEYS} for r in rows},
              "mean": {k: mean[k] for k in KEYS},
              "seconds_per_audio_second": compute / max(seconds, 1e-9),
              "table": metrics.format_table(rows, mean, markdown=True)}
    print(result["table"])
    print(f"speed: {result['seconds_per_audio_second']:.3f} s per s of audio")
    return result


if __name__ == "__main__":
    bench_lipsync()
