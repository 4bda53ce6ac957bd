"""flite and festival, run as programs when the user has installed them (e.g. Debian packages).

Their voices are recorded human speech, which recognisers and aligners handle far better than
espeak's formant voice; that makes them useful for synthetic training data. They report no
phone timings, so their Speech carries no phones and the aligner times it later.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import soundfile as sf

from ...errors import TTSError
from .base import Speech, to_model_rate, unknown_voice

DEFAULT_RATE = 175  # words per minute both engines speak at with stretch 1.0, roughly


def _run(command: list[str], what: str, timeout: float) -> str:
    """Run a synthesiser; a failure becomes a TTSError with its last line of stderr."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TTSError(f"{what} took longer than {timeout:.0f} s") from None
    if done.returncode < 0:  # killed by a signal: festival segfaults on text it cannot read
        raise TTSError(f"{what} crashed (signal {-done.returncode}); it reads English text in ASCII "
                       "only, so try espeak for other scripts")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise TTSError(f"{what} failed (exit {done.returncode}): {last}")
    return done.stdout


def _speak_to_wav(build, text: str, engine: str) -> Speech:
    """Write `text` to a file, let `build(text_path, wav_path)` make the command, read the wav."""
    with tempfile.TemporaryDirectory(prefix="talkinghead-tts-") as tmp:
        text_path, wav_path = Path(tmp) / "text.txt", Path(tmp) / "speech.wav"
        text_path.write_text(text + "\n", encoding="utf-8")
        _run(build(str(text_path), str(wav_path)), engine, timeout=30 + len(text) / 5)
        try:
            audio, sample_rate = sf.read(wav_path, dtype="float32", always_2d=False)
        except (OSError, RuntimeError) as err:
            raise TTSError(f"{engine} wrote no readable audio: {err}") from None
    return Speech(audio=to_model_rate(audio, sample_rate), text=text, engine=engine)


class FliteEngine:
    """CMU flite: `flite -voice kal -f text.txt -o out.wav`; rate via duration_stretch."""

    name = "flite"
    default_voice = "kal"
    binary = "flite"

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def voices(self) -> list[str]:
        return list(_flite_voices(shutil.which(self.binary) or self.binary))

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> Speech:
        if voice not in self.voices():
            raise unknown_voice(f"{self.name} voice", voice, self.voices())
        stretch = f"duration_stretch={DEFAULT_RATE / rate:.3f}"

        def build(text_path: str, wav_path: str) -> list[str]:
            return [self.binary, "-voice", voice, "--setf", stretch, "-f", text_path, "-o", wav_path]

        speech = _speak_to_wav(build, text, self.name)
        speech.voice = voice
        return speech


@lru_cache(maxsize=4)
def _flite_voices(binary: str) -> tuple[str, ...]:
    """Voices compiled into this flite ("flite -lv" prints "Voices available: kal awb ...")."""
    listing = _run([binary, "-lv"], "flite -lv", timeout=10)
    return tuple(listing.partition(":")[2].split()) or ("kal", "awb", "rms", "slt")


class FestivalEngine:
    """Festival through `text2wave`; voices are the installed voice folders (kal_diphone, ...)."""

    name = "festival"
    binary = "text2wave"

    @property
    def default_voice(self) -> str:
        voices = self.voices()
        return "kal_diphone" if "kal_diphone" in voices or not voices else voices[0]

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def voices(self) -> list[str]:
        return list(_festival_voices(shutil.which(self.binary) or self.binary))

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> Speech:
        if voice not in self.voices():
            raise unknown_voice(f"{self.name} voice", voice, self.voices())
        setup = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {DEFAULT_RATE / rate:.3f})"]

        def build(text_path: str, wav_path: str) -> list[str]:
            evals = [arg for expr in setup for arg in ("-eval", expr)]
            return [self.binary, *evals, "-o", wav_path, text_path]

        speech = _speak_to_wav(build, text, self.name)
        speech.voice = voice
        return speech


@lru_cache(maxsize=4)
def _festival_voices(binary: str) -> tuple[str, ...]:
    """Voice folders under <prefix>/share/festival/voices/<language>/ next to the binary."""
    prefix = Path(binary).resolve().parent.parent
    roots = [prefix / "share/festival/voices", Path("/usr/share/festival/voices")]
    found = {p.name for root in roots if root.is_dir() for p in root.glob("*/*") if p.is_dir()}
    return tuple(sorted(found))
