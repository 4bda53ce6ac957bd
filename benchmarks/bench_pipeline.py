"""End-to-end figures: `speak` of a ~20 s text, and peak memory of `speak --audio` on 10 minutes."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT_20S = (
    "Good morning, and welcome to the talking head demonstration. Today we will look at how speech "
    "becomes facial motion. First the voice is turned into phones, small units of sound like p, b and m, "
    "which close the lips, or open vowels, which drop the jaw. Then every phone pulls the face toward its "
    "own shape, and neighbouring phones blend smoothly. Finally the moving mesh is rendered and encoded "
    "together with the sound into a video file that you can play anywhere."
)


def _speak_seconds(text: str, out: Path) -> tuple[float, float]:
    import talkinghead as th
    start = time.perf_counter()
    motion = th.speak(text, out=out)
    return time.perf_counter() - start, motion.duration


def _peak_rss_of(args: list[str]) -> tuple[float, float]:
    """Run a CLI command in a child process; return (seconds, peak RSS in MB)."""
    code = ("import resource, sys, runpy; sys.argv = ['talkinghead'] + sys.argv[1:]\n"
            "from talkinghead.cli import main\nrc = main(sys.argv[1:])\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(rc)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    peak_kb = int(done.stdout.split("PEAK")[-1].split()[0])
    return seconds, peak_kb / 1024


def _long_audio(path: Path, minutes: float) -> None:
    """Speech-like audio: TTS sentences repeated (with pauses) up to `minutes`."""
    import numpy as np
    import soundfile as sf
    from talkinghead.audio.tts import synthesize
    sentence = synthesize(TEXT_20S).audio
    pause = np.zeros(8000, np.float32)
    block = np.concatenate([sentence, pause])
    reps = int(np.ceil(minutes * 60 * 16000 / len(block)))
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as f:
        for _ in range(reps):
            f.write(block)


def bench_pipeline() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _speak_seconds("Warm up.", tmp / "warm.mp4")
        seconds, duration = _speak_seconds(TEXT_20S, tmp / "speak.mp4")
        result = {"speak_text_audio_s": round(duration, 2), "speak_wall_s": round(seconds, 2),
                  "speak_x_realtime": round(duration / seconds, 2)}
        _long_audio(tmp / "long.wav", 10)
        wall, peak = _peak_rss_of(["speak", "--audio", str(tmp / "long.wav"), "-o", str(tmp / "long.mp4")])
        result.update({"speak_audio_10min_wall_s": round(wall, 1), "speak_audio_10min_peak_MB": round(peak)})
    return result


if __name__ == "__main__":
    print(bench_pipeline())
