"""espeak-ng through ctypes, on the library and data shipped by the `espeakng-loader` wheel.

espeak-ng reports a phoneme event for every phone it speaks, with its position in the audio,
so its speech comes with exact phone timings in any of its ~140 languages and needs no aligner.
The library keeps one global state (voice, rate, callback), so it is initialised once per process
and every synthesis runs under one lock.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import PurePosixPath

import numpy as np

from ...errors import TTSError
from ...models.base import SAMPLE_RATE
from ...models.phonetic.phones import Phone
from .base import SILENCE, Speech, to_model_rate, unknown_voice

# Constants from espeak-ng's speak_lib.h.
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 1
CHARS_UTF8 = 1
EVENT_LIST_TERMINATED = 0
EVENT_PHONEME = 7
PARAM_RATE = 1
PARAM_PITCH = 3

MIN_PAUSE_S = 0.05  # shorter silences (syllable breaks, stop closures) belong to a neighbouring phone
STRESS_MARKS = "',"


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT: six 4-byte ints, then a pointer and an 8-byte union (40 bytes on 64-bit)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of this synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),  # for phoneme events: the mnemonic, up to 8 chars, not NUL-terminated
    ]


class _Voice(ctypes.Structure):
    """espeak_VOICE; `languages` is a run of (priority byte, NUL-terminated code) ending in 0."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def _declare(lib: ctypes.CDLL) -> None:
    """Give ctypes the C signatures, so pointers and size_t are not truncated to int."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))


def _languages(address: int) -> list[tuple[int, str]]:
    """Decode espeak_VOICE.languages into (priority, code) pairs; lower priority = better fit."""
    pairs, offset = [], 0
    while (priority := ctypes.string_at(address + offset, 1)[0]) != 0:
        code = ctypes.string_at(address + offset + 1)
        pairs.append((priority, code.decode("utf-8", "replace").lower()))
        offset += len(code) + 2
    return pairs


class _Library:
    """The initialised espeak-ng library plus the buffers its callback fills."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        _declare(self.lib)
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, data, INITIALIZE_PHONEME_EVENTS
        )
        if self.sample_rate <= 0:
            raise TTSError(f"espeak-ng failed to initialise with data at {data.decode()}")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[float, str]] = []
        self._callback = _SynthCallback(self._collect)  # kept alive: espeak holds only the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.voices = self._voice_table()
        self.variants = self._variant_table()

    def _collect(self, wav, count: int, events) -> int:
        """Synthesis callback: copy the audio chunk and the phoneme events; 0 = keep going."""
        if count > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
        i = 0
        while events and events[i].type != EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == EVENT_PHONEME:
                mnemonic = event.id.string.decode("utf-8", "replace")
                self.events.append((event.audio_position / 1000.0, mnemonic))
            i += 1
        return 0

    def _list(self, spec: _Voice | None) -> list[_Voice]:
        found = self.lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        voices, i = [], 0
        while found[i]:
            voices.append(found[i].contents)
            i += 1
        return voices

    def _voice_table(self) -> dict[str, str]:
        """Lower-case name -> voice identifier: file names ("en-us", "cmn") win over language codes
        ("en-gb", "zh"), and a code shared by several voices goes to the one espeak ranks best."""
        by_code: dict[str, tuple[int, str]] = {}
        table: dict[str, str] = {}
        for voice in self._list(None):
            identifier = voice.identifier.decode()
            table[PurePosixPath(identifier).name.lower()] = identifier
            for priority, code in _languages(voice.languages):
                if code not in by_code or priority < by_code[code][0]:
                    by_code[code] = (priority, identifier)
        return {**{code: ident for code, (_, ident) in by_code.items()}, **table}

    def _variant_table(self) -> dict[str, str]:
        """Lower-case variant name ("f3", "klatt") -> its name as espeak spells it."""
        language = ctypes.c_char_p(b"variant")  # espeak lists variants under this "language"
        spec = _Voice()
        spec.languages = ctypes.cast(language, ctypes.c_void_p)
        names = [PurePosixPath(v.identifier.decode()).name for v in self._list(spec)]
        return {name.lower(): name for name in names}

    def speak(self, text: str, voice: bytes, rate: int, pitch: int) -> tuple[np.ndarray, list]:
        """One synchronous synthesis: int16 audio at `sample_rate` and (seconds, mnemonic) events."""
        self.chunks, self.events = [], []
        if self.lib.espeak_SetVoiceByName(voice) != 0:
            raise TTSError(f"espeak-ng could not load voice {voice.decode()!r}")
        self.lib.espeak_SetParameter(PARAM_RATE, int(rate), 0)
        self.lib.espeak_SetParameter(PARAM_PITCH, int(pitch), 0)
        data = text.encode("utf-8")
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, CHARS_UTF8, None, None)
        if status != 0:
            raise TTSError(f"espeak-ng synthesis failed (status {status}) for {text[:40]!r}")
        audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        return audio, self.events


_LOCK = threading.Lock()
_LIBRARY: _Library | None = None


def _library() -> _Library:
    """The process-wide espeak-ng, initialised on first use (call with _LOCK held)."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = _Library()
    return _LIBRARY


def phones_from_events(events: list[tuple[float, str]], duration: float) -> list[Phone]:
    """Timed phones that tile [0, duration]: each event lasts until the next one.

    Stress marks are dropped ("'oU" -> "oU") and every pause mnemonic ("_:", "_", "_|") becomes
    SILENCE. A silence shorter than MIN_PAUSE_S is a syllable break or stop closure rather than
    a pause, so it is folded into the phone before it (or after it, at the very start).
    """
    spans = []
    starts = [min(max(t, 0.0), duration) for t, _ in events]
    if not starts or starts[0] > 0:
        spans.append([SILENCE, 0.0, starts[0] if starts else duration])
    for i, (_, mnemonic) in enumerate(events):
        symbol = mnemonic.lstrip(STRESS_MARKS) or mnemonic
        symbol = SILENCE if symbol.startswith(SILENCE) else symbol
        end = starts[i + 1] if i + 1 < len(events) else duration
        spans.append([symbol, starts[i], end])
    spans = _merge_silences([s for s in spans if s[2] > s[1]])
    return [Phone(sym, start, end, alphabet="espeak") for sym, start, end in _fold_short(spans)]


def _merge_silences(spans: list[list]) -> list[list]:
    merged: list[list] = []
    for span in spans:
        if merged and span[0] == SILENCE and merged[-1][0] == SILENCE:
            merged[-1][2] = span[2]
        else:
            merged.append(span)
    return merged


def _fold_short(spans: list[list]) -> list[list]:
    kept: list[list] = []
    for span in spans:
        if kept and _is_short_silence(span):
            kept[-1][2] = span[2]
        else:
            kept.append(span)
    if len(kept) > 1 and _is_short_silence(kept[0]):
        first = kept.pop(0)
        kept[0][1] = first[1]
    return kept


def _is_short_silence(span: list) -> bool:
    return span[0] == SILENCE and span[2] - span[1] < MIN_PAUSE_S


class EspeakEngine:
    """espeak-ng: every language it ships, voice variants as "en-us+f3", exact phone timings."""

    name = "espeak"
    default_voice = "en-us"

    def available(self) -> bool:
        try:
            with _LOCK:
                _library()
        except (ImportError, OSError, TTSError):
            return False
        return True

    def voices(self) -> list[str]:
        with _LOCK:
            return sorted(_library().voices)

    def variants(self) -> list[str]:
        """Voice variants to append with "+", e.g. "f3" in "en-us+f3"."""
        with _LOCK:
            return sorted(_library().variants.values())

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> Speech:
        with _LOCK:
            library = _library()
            audio, events = library.speak(text, self._resolve(library, voice), rate, pitch)
            sample_rate = library.sample_rate
        audio = to_model_rate(audio, sample_rate)
        phones = phones_from_events(events, len(audio) / SAMPLE_RATE)
        return Speech(audio=audio, phones=phones, text=text, voice=voice, engine=self.name)

    def _resolve(self, library: _Library, voice: str) -> bytes:
        """"en-us+f3" -> b"gmw/en-US+f3"; unknown names raise with the closest known ones."""
        base, plus, variant = voice.strip().partition("+")
        identifier = library.voices.get(base.lower())
        if identifier is None:
            raise unknown_voice("espeak voice", base, list(library.voices))
        if not plus:
            return identifier.encode()
        spelled = library.variants.get(variant.lower())
        if spelled is None:
            raise unknown_voice("espeak voice variant", variant, list(library.variants.values()))
        return f"{identifier}+{spelled}".encode()
