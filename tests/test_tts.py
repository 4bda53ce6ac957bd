"""TTS: espeak speech with timed phones (English, Mandarin), the engine registry, and errors."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from talkinghead.audio import tts
from talkinghead.audio.tts import Speech, get_engine, list_engines, register_engine, synthesize
from talkinghead.audio.tts.espeak import MIN_PAUSE_S, phones_from_events
from talkinghead.errors import TTSError
from talkinghead.models.phonetic.phones import Phone

pytestmark = pytest.mark.skipif(not get_engine("espeak").available(), reason="espeak-ng missing")

SR = 16000
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


def frame_rms(audio: np.ndarray, hop: int = 160) -> np.ndarray:
    """RMS per 10 ms frame."""
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    return np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))


def rms(speech: Speech, start: float, end: float) -> float:
    segment = speech.audio[int(start * SR): int(end * SR)].astype(np.float64)
    return float(np.sqrt((segment ** 2).mean())) if len(segment) else 0.0


def check_phones(speech: Speech) -> None:
    """Phones are monotonic, non-empty, and tile the audio from 0 to its end."""
    assert speech.phones
    assert speech.phones[0].start == pytest.approx(0.0, abs=1e-6)
    assert speech.phones[-1].end == pytest.approx(speech.duration, abs=1e-3)
    for before, after in zip(speech.phones, speech.phones[1:]):
        assert after.start == pytest.approx(before.end, abs=1e-6)
    assert all(p.end > p.start for p in speech.phones)
    assert all(p.alphabet == "espeak" for p in speech.phones)


@pytest.fixture(scope="module")
def english() -> Speech:
    return synthesize(SENTENCE)


# --- espeak: English -------------------------------------------------------------------------


def test_english_audio_is_16k_float_and_plausibly_long(english):
    assert english.sample_rate == SR and english.audio.dtype == np.float32 and english.audio.ndim == 1
    words = len(SENTENCE.split())
    assert 0.2 * words < english.duration < 0.6 * words
    assert 0.02 < float(np.sqrt((english.audio ** 2).mean())) and np.abs(english.audio).max() <= 1.0
    assert (english.text, english.voice, english.engine) == (SENTENCE, "en-us", "espeak")


def test_english_phones_tile_the_audio(english):
    check_phones(english)
    assert len(english.phones) > 30  # one per phone, not per word
    assert not any(p.symbol.startswith(("'", ",")) for p in english.phones)  # stress dropped


def test_pop_music_has_bilabials():
    symbols = [p.symbol for p in synthesize("pop music").phones]
    assert symbols.count("p") == 2 and "m" in symbols


def test_phone_times_follow_audio_energy():
    speech = synthesize("Pop music, and more pop music.")
    check_phones(speech)
    energy = frame_rms(speech.audio)
    loud = energy > 0.05 * energy.max()
    onset, offset = np.argmax(loud) * 0.01, (len(loud) - np.argmax(loud[::-1])) * 0.01
    first, last = speech.phones[0], speech.phones[-1]
    assert first.symbol == "p" and first.start <= onset <= first.end + 0.02
    assert last.start - 0.02 <= offset <= last.end + 0.01
    # The comma pause espeak reports sits on silent audio, between loud speech.
    pauses = [p for p in speech.phones if p.symbol == "_"]
    assert pauses and all(p.duration >= MIN_PAUSE_S for p in pauses)
    speech_rms = float(np.sqrt((speech.audio.astype(np.float64) ** 2).mean()))
    assert all(rms(speech, p.start + 0.01, p.end - 0.01) < 0.05 * speech_rms for p in pauses)
    vowels = [p for p in speech.phones if p.symbol in {"0", "u:", "I", "a", "O@", "o@"}]
    assert vowels and np.median([rms(speech, p.start, p.end) for p in vowels]) > 0.5 * speech_rms


def test_rate_changes_duration():
    slow, fast = synthesize(SENTENCE, rate=120), synthesize(SENTENCE, rate=300)
    assert slow.duration > 1.8 * fast.duration
    assert [p.symbol for p in slow.phones if p.symbol != "_"] == \
        [p.symbol for p in fast.phones if p.symbol != "_"]


def test_pitch_changes_the_voice():
    low, high = synthesize("Hello there.", pitch=10), synthesize("Hello there.", pitch=90)
    assert median_f0(high.audio) > 1.3 * median_f0(low.audio)


def median_f0(audio: np.ndarray, frame: int = 640) -> float:
    """Median pitch (Hz) of the loud 40 ms frames, from the autocorrelation peak in 60-500 Hz."""
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame).astype(np.float64)
    loud = frames[np.sqrt((frames ** 2).mean(axis=1)) > 0.3 * np.sqrt((audio ** 2).mean())]
    lags = np.arange(SR // 500, SR // 60)
    f0 = []
    for x in loud:
        x = x - x.mean()
        ac = np.correlate(x, x, mode="full")[frame - 1:]
        f0.append(SR / lags[np.argmax(ac[lags])])
    return float(np.median(f0))


def test_voice_variant_and_other_languages():
    plain, female = synthesize("Hello there.", voice="en-us"), synthesize("Hello there.", voice="en-us+f3")
    assert female.voice == "en-us+f3" and female.duration > 0.3
    assert median_f0(female.audio) > 1.3 * median_f0(plain.audio)  # f3 is a higher voice
    for voice in ("en-gb", "de", "fr", "es", "EN-US"):
        assert synthesize("Hello.", voice=voice).duration > 0.2, voice


def test_voices_and_variants_are_listed():
    engine = get_engine("espeak")
    voices = engine.voices()
    assert {"en-us", "en-gb", "cmn", "de", "fr", "es"} <= set(voices) and len(voices) > 100
    assert {"f3", "m1", "klatt"} <= set(engine.variants())


# --- espeak: Mandarin ------------------------------------------------------------------------


def test_mandarin_audio_and_phones():
    speech = synthesize("你好，世界", voice="cmn")
    assert 0.6 < speech.duration < 3.0 and float(np.abs(speech.audio).max()) > 0.1
    check_phones(speech)
    symbols = [p.symbol for p in speech.phones]
    assert symbols[0] == "n" and "_" in symbols  # ni3 ... and the pause at the full-width comma
    pause = speech.phones[symbols.index("_")]
    assert rms(speech, pause.start + 0.01, pause.end - 0.01) < 0.01


def test_mandarin_full_stops_split_sentences():
    assert tts.split_sentences("你好。世界！好吗？") == ["你好。", "世界！", "好吗？"]


# --- long text -------------------------------------------------------------------------------


def test_long_text_is_joined_sentence_by_sentence_with_pauses():
    text = "Hello there. " * 3 + "How are you?\nFine, thanks!"
    assert tts.split_sentences(text) == ["Hello there."] * 3 + ["How are you?", "Fine, thanks!"]
    joined, single = synthesize(text), synthesize("Hello there.")
    check_phones(joined)
    pauses = [p for p in joined.phones if p.symbol == "_" and p.duration >= 0.25]
    assert len(pauses) >= 4  # one between each pair of sentences
    assert joined.duration > 5 * single.duration
    first = [p.symbol for p in single.phones]
    assert [p.symbol for p in joined.phones[: len(first)]] == first


def test_concurrent_calls_do_not_mix_up_state():
    jobs = [("Hello world.", "en-us"), ("你好", "cmn"), ("Guten Tag.", "de"), ("Bonjour.", "fr")]
    expected = [[p.symbol for p in synthesize(t, voice=v).phones] for t, v in jobs]
    results: dict[int, list[str]] = {}

    def work(i: int) -> None:
        for _ in range(3):
            text, voice = jobs[i]
            results[i] = [p.symbol for p in synthesize(text, voice=voice).phones]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(len(jobs))] == expected


# --- phones from espeak events (pure) --------------------------------------------------------


def test_phones_from_events_folds_short_silences_and_keeps_pauses():
    events = [(0.01, "h"), (0.06, "@"), (0.11, "'oU"), (0.30, "_|"), (0.32, "w"), (0.45, "_:"),
              (0.80, "_"), (0.80, ",a"), (1.00, "_")]
    phones = phones_from_events(events, duration=1.0)
    assert phones == [
        Phone("h", 0.0, 0.06, "espeak"), Phone("@", 0.06, 0.11, "espeak"),
        Phone("oU", 0.11, 0.32, "espeak"), Phone("w", 0.32, 0.45, "espeak"),
        Phone("_", 0.45, 0.80, "espeak"), Phone("a", 0.80, 1.0, "espeak"),
    ]
    assert phones_from_events([], duration=0.5) == [Phone("_", 0.0, 0.5, "espeak")]
    assert phones_from_events([(0.2, "p")], 0.4)[0] == Phone("_", 0.0, 0.2, "espeak")


# --- registry and plug-in engines ------------------------------------------------------------


class ToneEngine:
    """A user engine: a 200 Hz tone of 0.1 s per word, one fake phone per word."""

    name = "tone"
    default_voice = "low"

    def available(self) -> bool:
        return True

    def voices(self) -> list[str]:
        return ["low"]

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> Speech:
        words = text.split()
        t = np.arange(int(0.1 * len(words) * SR)) / SR
        phones = [Phone(w, 0.1 * i, 0.1 * (i + 1), "arpabet") for i, w in enumerate(words)]
        return Speech(np.sin(2 * np.pi * 200 * t).astype(np.float32), phones, text, voice, self.name)


@pytest.fixture
def tone_engine():
    register_engine(ToneEngine())
    yield
    tts._ENGINES.pop("tone")


def test_registered_engine_is_used_and_offsets_phones(tone_engine):
    assert {"espeak", "flite", "festival", "tone"} <= set(list_engines())
    speech = synthesize("A B. C D E.", engine="tone", rate=175)
    pause = tts.SENTENCE_PAUSE_S
    assert speech.duration == pytest.approx(0.5 + pause, abs=1e-3)
    assert [p.symbol for p in speech.phones] == ["A", "B.", "_", "C", "D", "E."]
    assert speech.phones[3].start == pytest.approx(0.2 + pause, abs=1e-3)
    assert speech.voice == "low" and speech.engine == "tone"


def test_register_rejects_non_engines():
    with pytest.raises(TTSError, match="not a TTS engine"):
        register_engine(object())


# --- flite / festival ------------------------------------------------------------------------

FAKE_SYNTH = """#!{python}
import sys, numpy as np, soundfile as sf
args = sys.argv[1:]
if args == ["-lv"]:
    print("Voices available: kal awb rms slt"); sys.exit(0)
if "FAIL" in open(args[-1] if "{kind}" == "festival" else args[args.index("-f") + 1]).read():
    print("synthesis exploded", file=sys.stderr); sys.exit(3)
text = open(args[-1] if "{kind}" == "festival" else args[args.index("-f") + 1]).read()
if "CRASH" in text:
    import os, signal; os.kill(os.getpid(), signal.SIGSEGV)
out = args[args.index("-o") + 1]
if "SILENT" in text:
    sf.write(out, np.zeros(0), 8000); sys.exit(0)
expr = " ".join(args)
stretch = float(expr.split("duration_stretch=")[1].split()[0]) if "{kind}" == "flite" \\
    else float(expr.split("Duration_Stretch ")[1].split(")")[0])
seconds = 0.3 * len(text.split()) * stretch
sf.write(out, 0.3 * np.sin(np.arange(int(seconds * 8000)) * 0.3), 8000)
"""


def install_fake(tmp_path: Path, monkeypatch, kind: str) -> None:
    """A stand-in `flite` / `text2wave` on PATH, to test the subprocess plumbing without them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    name = "flite" if kind == "flite" else "text2wave"
    script = bin_dir / name
    script.write_text(FAKE_SYNTH.format(python=sys.executable, kind=kind))
    script.chmod(0o755)
    (tmp_path / "share/festival/voices/english/kal_diphone").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.mark.parametrize("kind, voice", [("flite", "slt"), ("festival", "kal_diphone")])
def test_subprocess_engines_through_a_stand_in(tmp_path, monkeypatch, kind, voice):
    install_fake(tmp_path, monkeypatch, kind)
    engine = get_engine(kind)
    assert engine.available() and voice in engine.voices()
    speech = synthesize("one two three four", voice=voice, engine=kind, rate=175)
    assert speech.sample_rate == SR and speech.audio.dtype == np.float32
    assert speech.duration == pytest.approx(1.2, abs=0.01) and speech.phones == []
    assert (speech.voice, speech.engine) == (voice, kind)
    slow = synthesize("one two three four", voice=voice, engine=kind, rate=87.5)
    assert slow.duration == pytest.approx(2.4, abs=0.01)
    with pytest.raises(TTSError, match="unknown .* voice 'nope'"):
        synthesize("hi", voice="nope", engine=kind)
    with pytest.raises(TTSError, match="synthesis exploded"):
        synthesize("FAIL now", voice=voice, engine=kind)
    with pytest.raises(TTSError, match=f"{kind} crashed \\(signal 11\\)"):
        synthesize("CRASH now", voice=voice, engine=kind)
    with pytest.raises(TTSError, match=f"nothing to say: {kind} produced no speech"):
        synthesize("SILENT", voice=voice, engine=kind)


def test_flite_default_voice_through_a_stand_in(tmp_path, monkeypatch):
    install_fake(tmp_path, monkeypatch, "flite")
    assert synthesize("hello there", engine="flite").voice == "kal"


@pytest.mark.parametrize("kind", ["flite", "festival"])
def test_real_subprocess_engine_when_installed(kind):
    engine = get_engine(kind)
    if not engine.available():
        pytest.skip(f"{kind} is not installed")
    speech = synthesize("Hello there.", engine=kind)
    assert 0.3 < speech.duration < 3.0 and float(np.abs(speech.audio).max()) > 0.05


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(text=""), "text is empty"),
        (dict(text="  \n\t "), "text is empty"),
        (dict(text="..."), "'...' is only punctuation"),
        (dict(text=" - ¿? "), "only punctuation"),
        (dict(text="hi", engine="sapi"), r"unknown TTS engine 'sapi'; known: .*espeak.*flite"),
        (dict(text="hi", voice="en-usa"), r"unknown espeak voice 'en-usa'; did you mean .*en-us"),
        (dict(text="hi", voice="en-us+f33"), r"unknown espeak voice variant 'f33'; did you mean f3"),
        (dict(text="hi", rate=79), "rate 79 wpm is outside 80-450"),
        (dict(text="hi", rate=451), "rate 451 wpm is outside 80-450"),
        (dict(text="hi", pitch=101), "pitch 101 is outside 0-100"),
        (dict(text="a" * 100_001), "text too long: 100001 characters"),
    ],
)
def test_errors_are_one_line_tts_errors(kwargs, message):
    with pytest.raises(TTSError, match=message) as caught:
        synthesize(**kwargs)
    assert "\n" not in str(caught.value)


def test_engine_not_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not get_engine("flite").available()
    with pytest.raises(TTSError, match="'flite' is not installed"):
        synthesize("hi", engine="flite")


def test_symbols_are_not_punctuation():
    """Only punctuation is refused: espeak reads symbols such as emoji out by name."""
    assert synthesize("😀").duration > 0.3
    assert synthesize("42%").duration > 0.3
