"""Training throughput of the three trainers' default recipes on this CPU (one thread).

Random batches of the trainers' shapes, so the figure is the optimiser step alone (forward,
backward, AdamW); data loading happens once per run and is excluded. Windows per second and
seconds of audio per second; the best of a few steps, the least disturbed by other processes.
"""

from __future__ import annotations

import json
import time

STEPS = 6


def _best_step(module, batch) -> float:
    import torch
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], 1e-4)
    best = float("inf")
    for _ in range(STEPS):
        start = time.perf_counter()
        loss, _ = module(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        best = min(best, time.perf_counter() - start)
    return best


def bench_training() -> dict:
    import numpy as np
    import torch

    from talkinghead.models.lstm import Audio2Feature
    from talkinghead.training.ar import ARObjective, ARRecipe, ar_config, build_ar
    from talkinghead.training.lstm import LSTMObjective, LSTMRecipe
    from talkinghead.training.vae import VAEObjective, VAERecipe, build_vae

    torch.set_num_threads(1)
    torch.manual_seed(0)
    mean, std = np.zeros(55, np.float32), np.ones(55, np.float32)
    out = {}
    lstm, B = LSTMRecipe(), 32
    T = lstm.window_steps
    batch = {"x": torch.randn(B, 2 * T, 80), "y": torch.rand(B, T, 55), "mask": torch.ones(B, T, 55)}
    s = _best_step(LSTMObjective(Audio2Feature(55), 1.0), batch)
    out["lstm"] = {"batch": B, "step_s": s, "windows_per_s": B / s, "audio_s_per_s": B * T * 0.04 / s}
    vae = VAERecipe()
    cfg = vae.config()
    T = cfg.window_frames
    batch = {"prev": torch.rand(B, T, 55), "this": torch.rand(B, T, 55)}
    s = _best_step(VAEObjective(build_vae(cfg, mean, std), vae.weights), batch)
    out["vae"] = {"batch": B, "step_s": s, "windows_per_s": B / s, "audio_s_per_s": B * T * 0.04 / s}
    ar, B = ARRecipe(), 16
    cfg = ar_config(ar, cfg)
    batch = {"pairs": torch.randn(B, T, 160), "prev": torch.rand(B, T, 55), "this": torch.rand(B, T, 55),
             "style": torch.rand(B, ar.style_frames, 55)}
    s = _best_step(ARObjective(build_ar(cfg, ar.encoder_hidden, mean, std), ar), batch)
    out["ar"] = {"batch": B, "step_s": s, "windows_per_s": B / s, "audio_s_per_s": B * T * 0.04 / s}
    return out


if __name__ == "__main__":
    print(json.dumps(bench_training(), indent=1))
