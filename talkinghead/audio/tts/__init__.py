"""Offline text-to-speech: text -> 16 kHz speech plus timed phones, for the motion models.

`synthesize("Hello there.")` speaks with espeak-ng (bundled, ~140 languages, exact phone
timings); "flite" and "festival" join when their programs are installed. Anything that follows
`TTSEngine` can be registered with `register_engine` and picked by name.

Text is spoken sentence by sentence and the pieces joined, so one call on a long script stays
quick, the global espeak lock is released between sentences, and phone times stay exact.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from ...errors import TTSError
from ...models.base import SAMPLE_RATE
from ...models.phonetic.phones import Phone
from .base import SILENCE, Speech, TTSEngine, to_model_rate, unknown_voice
from .espeak import EspeakEngine
from .external import FestivalEngine, FliteEngine

__all__ = [
    "Speech", "TTSEngine", "synthesize", "register_engine", "get_engine", "list_engines",
    "split_sentences", "unknown_voice", "SILENCE", "MIN_RATE", "MAX_RATE", "MAX_CHARS",
]

MIN_RATE, MAX_RATE = 80, 450  # words per minute; espeak's own limits, and past them speech is noise
MAX_CHARS = 100_000
SENTENCE_PAUSE_S = 0.3  # espeak's own pause after a full stop at 175 wpm
MIN_SPEECH_S = 0.04  # one 25 fps frame: less is not speech (the audio readers' own minimum)

_ENGINES: dict[str, TTSEngine] = {}

# A sentence ends at . ! ? ; followed by space, at CJK full stops (no space follows them), or a newline.
_SENTENCE_END = re.compile(r"(?<=[.!?;…])\s+|(?<=[。！？；])|\s*\n\s*")


def register_engine(engine: TTSEngine) -> None:
    """Make `engine` available to `synthesize(engine=engine.name)`; a same-named one is replaced."""
    if not isinstance(engine, TTSEngine):
        raise TTSError(f"{engine!r} is not a TTS engine (needs name, available, voices, synthesize)")
    _ENGINES[engine.name] = engine


def get_engine(name: str) -> TTSEngine:
    try:
        return _ENGINES[name]
    except KeyError:
        raise TTSError(f"unknown TTS engine {name!r}; known: {', '.join(list_engines())}") from None


def list_engines() -> list[str]:
    """Names of all registered engines, installed or not (see `get_engine(name).available()`)."""
    return sorted(_ENGINES)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, stripped, empty ones dropped."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def synthesize(
    text: str, voice: str | None = None, rate: int = 175, pitch: int = 50, engine: str = "espeak"
) -> Speech:
    """Speak `text`; `voice` None means the engine's default ("en-us" for espeak).

    `rate` is in words per minute (80-450), `pitch` 0-100 with 50 the voice's own.
    """
    _check_request(text, rate, pitch)
    tts = get_engine(engine)
    if not tts.available():
        raise TTSError(f"TTS engine {engine!r} is not installed on this machine")
    voice = voice if voice is not None else tts.default_voice
    parts = [tts.synthesize(sentence, voice, rate, pitch) for sentence in split_sentences(text)]
    speech = _join(parts, text=text, voice=voice, engine=tts.name, rate=rate)
    if speech.duration < MIN_SPEECH_S or not np.any(speech.audio):
        raise TTSError(f"nothing to say: {tts.name} produced no speech for {text.strip()[:40]!r}")
    return speech


def _check_request(text: str, rate: int, pitch: int) -> None:
    if not isinstance(text, str) or not text.strip():
        raise TTSError("nothing to say: the text is empty")
    if not _has_words(text):  # engines answer "..." with silence (espeak), nothing, or a crash
        raise TTSError(f"nothing to say: {text.strip()[:40]!r} is only punctuation")
    if len(text) > MAX_CHARS:
        raise TTSError(f"text too long: {len(text)} characters (at most {MAX_CHARS}); split it up")
    if not isinstance(rate, (int, float)) or not MIN_RATE <= rate <= MAX_RATE:
        raise TTSError(f"speech rate {rate!r} wpm is outside {MIN_RATE}-{MAX_RATE}")
    if not isinstance(pitch, (int, float)) or not 0 <= pitch <= 100:
        raise TTSError(f"pitch {pitch!r} is outside 0-100")


def _has_words(text: str) -> bool:
    """Anything but punctuation, spaces and control characters (letters, digits, symbols such
    as emoji, which espeak reads out by name)."""
    return any(unicodedata.category(ch)[0] not in "PZC" for ch in text)


def _join(parts: list[Speech], text: str, voice: str, engine: str, rate: float) -> Speech:
    """Concatenate per-sentence speech with a pause between sentences, shifting phone times.

    Engines end a text without its closing pause (espeak stops ~7 ms after the last phone), so
    the pause running speech would have is put back: SENTENCE_PAUSE_S at 175 wpm, scaled by rate.
    """
    pause = np.zeros(round(SENTENCE_PAUSE_S * 175 / rate * SAMPLE_RATE), np.float32)
    audio: list[np.ndarray] = []
    phones: list[Phone] = []
    samples = 0
    for i, part in enumerate(parts):
        if i > 0:
            if phones:
                start = samples / SAMPLE_RATE
                end = (samples + len(pause)) / SAMPLE_RATE
                _append(phones, Phone(SILENCE, start, end, phones[-1].alphabet))
            audio.append(pause)
            samples += len(pause)
        shift = samples / SAMPLE_RATE
        for phone in part.phones:
            _append(phones, Phone(phone.symbol, phone.start + shift, phone.end + shift, phone.alphabet))
        audio.append(to_model_rate(part.audio, part.sample_rate))
        samples += len(audio[-1])
    joined = np.concatenate(audio) if audio else np.zeros(0, np.float32)
    return Speech(audio=joined, phones=phones, text=text, voice=voice, engine=engine)


def _append(phones: list[Phone], phone: Phone) -> None:
    """Add `phone`, fusing it with a silence it continues."""
    last = phones[-1] if phones else None
    if last and last.symbol == phone.symbol == SILENCE and abs(last.end - phone.start) < 1e-6:
        phones[-1] = Phone(SILENCE, last.start, phone.end, last.alphabet)
    else:
        phones.append(phone)


for _engine in (EspeakEngine(), FliteEngine(), FestivalEngine()):
    register_engine(_engine)
