"""Speed of the 55-channel ARTalk generator (`ar-arkit-small`) on one CPU thread.

Figures: seconds of compute per second of audio for a whole clip (fbank + greedy bitwise decoding
+ VAE decode/re-encode, window by window), and the compute time of one window, which with the
window length is the streaming latency. Uses the shipped weights when present (speed does not
depend on the values, only on the sizes).
"""

from __future__ import annotations

import json

from timing import best_of

SECONDS = 20.0


def _model():
    from talkinghead.training.export import WEIGHTS_DIR, load_shipped
    if (WEIGHTS_DIR / "ar-arkit-small.safetensors").is_file():
        return load_shipped("ar-arkit-small"), "shipped"
    import numpy as np

    from talkinghead.models.artalk.arkit import ARArkitModel
    from talkinghead.training.ar import ARRecipe, ar_config, build_ar
    from talkinghead.training.vae import VAERecipe
    recipe = ARRecipe(ar_width=128, ar_depth=3, ar_heads=4)
    cfg = ar_config(recipe, VAERecipe().config())
    net = build_ar(cfg, recipe.encoder_hidden, np.zeros(55, np.float32), np.ones(55, np.float32))
    return ARArkitModel(net), "random (shipped config sizes)"


def bench_ar_arkit() -> dict:
    import numpy as np
    import torch
    torch.set_num_threads(1)
    model, weights = _model()
    audio = (np.random.default_rng(0).standard_normal(int(SECONDS * 16000)) * 0.1).astype(np.float32)
    whole = best_of(lambda: model.predict(audio), repeats=2)
    window = audio[:model.window_samples]
    state = model.start()
    one = best_of(lambda: model.run_window(state, window), repeats=5)
    result = {"weights": weights, "audio_s": SECONDS, "threads": 1,
              "s_per_audio_s": round(whole / SECONDS, 4), "realtime_factor": round(SECONDS / whole, 1),
              "window_s": model.window_samples / 16000, "window_compute_ms": round(one * 1000, 1),
              "stream_latency_s": round(model.window_samples / 16000 + one, 3)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    bench_ar_arkit()
