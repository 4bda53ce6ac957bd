"""`talkinghead live` latency: a sentence played at real time through each streaming model.

Latency is wall time from the moment a frame's sound has arrived (its end, the audio paced by
`audio.live.paced` as a microphone would deliver it) to the moment the frame is handed to the
sinks; it is the model's look-ahead plus compute. Figures: median and 95th percentile over the
frames sent while audio was still arriving (the flush at the end has nothing left to wait for),
and the share of one core the model used (compute seconds per second of audio).
"""

from __future__ import annotations

import time

import numpy as np

MODELS = ("acoustic", "lstm-arkit", "ar-arkit-small", "phonetic")
TEXT = ("Streaming motion has to keep up with the voice, frame by frame, "
        "while the speaker is still talking.")


def bench_live() -> dict:
    from talkinghead import live, load_model
    from talkinghead.audio.live import paced
    from talkinghead.audio.tts import synthesize
    audio = synthesize(TEXT).audio
    chunks = [audio[i:i + 640] for i in range(0, len(audio), 640)]
    result = {"audio_s": round(len(audio) / 16000, 2)}
    for name in MODELS:
        model = load_model(name)
        latencies: list[float] = []
        cpu = time.process_time()
        live(paced(chunks), model, [lambda i, v, latency: latencies.append(latency)])
        cpu = time.process_time() - cpu
        during = np.array(latencies[: len(chunks) - 25])  # frames emitted while sound still came in
        result[name] = {"latency_ms_median": round(float(np.median(during)), 1),
                        "latency_ms_p95": round(float(np.percentile(during, 95)), 1),
                        "cpu_s_per_audio_s": round(cpu / result["audio_s"], 3)}
    return result


if __name__ == "__main__":
    import json
    print(json.dumps(bench_live(), indent=1))
