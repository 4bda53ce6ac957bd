"""ARTalk speed: the released architecture with random weights.

Seconds of compute per second of audio for the generator + codec (greedy AR over 5 scales,
VAE decode and handoff re-encode) without and with the KV cache, checked to give identical
bits; and wav2vec2 XLS-R 300M per 4-s window, timed separately. On CUDA (when present) the
same in fp32 and bf16 autocast.
"""

from __future__ import annotations

import time

import torch

from talkinghead.models.artalk import ARTalkConfig, BitwiseARModel

WINDOW_SECONDS = 4.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def _generator(net: BitwiseARModel, feats: list[torch.Tensor], style: torch.Tensor,
               use_cache: bool, device: torch.device, dtype: torch.dtype | None) -> tuple[float, list]:
    """Seconds per audio second and the bits of every window."""
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        net.step(net.start(style), feats[0], use_cache)  # warm-up
        _sync(device)
        start = time.perf_counter()
        state = net.start(style)
        for f in feats:
            net.step(state, f, use_cache, keep_trace=True)
        _sync(device)
    elapsed = time.perf_counter() - start
    return elapsed / (len(feats) * WINDOW_SECONDS), [t["bits"].cpu() for t in state.trace]


@torch.no_grad()
def _decoding(net: BitwiseARModel, feats: list[torch.Tensor], style: torch.Tensor, use_cache: bool,
              device: torch.device, dtype: torch.dtype | None, repeats: int = 3) -> float:
    """Seconds per audio second of the AR bit decoding alone (what the KV cache speeds up)."""
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        state = net.start(style)
        prev = state.prev_tokens + net.prev_lvl_pos()
        conds = [net.audio_condition(f) for f in feats]
        net.decode_bits(state.style_tok, prev, conds[0], use_cache)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            for cond in conds:
                net.decode_bits(state.style_tok, prev, cond, use_cache)
        _sync(device)
    return (time.perf_counter() - start) / (repeats * len(feats) * WINDOW_SECONDS)


@torch.no_grad()
def _wav2vec2(net: BitwiseARModel, device: torch.device, dtype: torch.dtype | None,
              repeats: int = 2) -> float:
    window = torch.randn(1, net.cfg.window_samples, device=device) * 0.1
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        net.window_features(window)
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            net.window_features(window)
        _sync(device)
    return (time.perf_counter() - start) / (repeats * WINDOW_SECONDS)


def _run(device: torch.device, dtype: torch.dtype | None, windows: int) -> dict:
    torch.manual_seed(0)
    cfg = ARTalkConfig.released()
    net = BitwiseARModel(cfg).eval().to(device)
    feats = [torch.randn(1, 199, cfg.audio_dim, device=device) for _ in range(windows)]
    style = torch.randn(1, 50, cfg.motion_dim, device=device) * 0.3
    full, bits_full = _generator(net, feats, style, False, device, dtype)
    cached, bits_cached = _generator(net, feats, style, True, device, dtype)
    same = all(torch.equal(a, b) for a, b in zip(bits_full, bits_cached))
    decode_full = _decoding(net, feats, style, False, device, dtype)
    decode_cached = _decoding(net, feats, style, True, device, dtype)
    w2v = _wav2vec2(net, device, dtype)
    return {"generator_s_per_audio_s_no_cache": full, "generator_s_per_audio_s_cache": cached,
            "cache_speedup": full / cached, "cache_bits_identical": same,
            "ar_decoding_s_per_audio_s_no_cache": decode_full,
            "ar_decoding_s_per_audio_s_cache": decode_cached,
            "ar_decoding_cache_speedup": decode_full / decode_cached,
            "wav2vec2_s_per_audio_s": w2v, "total_s_per_audio_s_cache": cached + w2v}


def bench_artalk(windows: int = 2) -> dict:
    """Figures per device/precision; printed as a table."""
    results = {"cpu_fp32": _run(torch.device("cpu"), None, windows)}
    results["cpu_fp32"]["threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        for name, dtype in (("cuda_fp32", None), ("cuda_bf16", torch.bfloat16)):
            results[name] = _run(torch.device("cuda"), dtype, windows)
    _print(results)
    return results


def _print(results: dict) -> None:
    print(f"ARTalk released config, random weights ({WINDOW_SECONDS:.0f}-s windows); "
          "seconds of compute per second of audio")
    print("(window = AR decoding + codec decode + re-encode; decoding = the AR bits alone)")
    print(f"{'run':<10} {'window':>8} {'cached':>8} {'speedup':>8} {'decoding':>9} {'cached':>8} "
          f"{'speedup':>8} {'same bits':>10} {'wav2vec2':>9} {'total':>7}")
    for name, r in results.items():
        print(f"{name:<10} {r['generator_s_per_audio_s_no_cache']:>8.3f} "
              f"{r['generator_s_per_audio_s_cache']:>8.3f} {r['cache_speedup']:>7.2f}x "
              f"{r['ar_decoding_s_per_audio_s_no_cache']:>9.3f} {r['ar_decoding_s_per_audio_s_cache']:>8.3f} "
              f"{r['ar_decoding_cache_speedup']:>7.2f}x "
              f"{str(r['cache_bits_identical']):>10} {r['wav2vec2_s_per_audio_s']:>9.3f} "
              f"{r['total_s_per_audio_s_cache']:>7.3f}")


if __name__ == "__main__":
    bench_artalk()
