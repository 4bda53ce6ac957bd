"""Phone timings: pocketsphinx recognition and forced alignment, segmentation, fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from talkinghead.errors import AlignmentError, AudioError, TalkingHeadError
from talkinghead.models.phonetic.align import (Segmenter, align, letter_to_sound, recognize,
                                               segments, words_of)
from talkinghead.models.phonetic.visemes import ARPABET

TEXT = "Please bring the map. We will meet by the boat."


@pytest.fixture(scope="module")
def speech():
    tts = pytest.importorskip("talkinghead.audio.tts")
    try:
        return tts.synthesize(TEXT, voice="en-us")
    except TalkingHeadError as exc:
        pytest.skip(f"TTS unavailable: {exc}")


def _well_formed(phones, duration):
    assert phones and phones[0].start == pytest.approx(0.0, abs=0.02)
    assert phones[-1].end == pytest.approx(duration, abs=0.02)
    for a, b in zip(phones, phones[1:]):
        assert a.end <= b.start + 1e-6 and a.start < a.end
    assert all(p.symbol in ARPABET and p.alphabet == "arpabet" for p in phones)


def test_align_tts_speech(speech):
    phones = align(speech.audio, TEXT)
    _well_formed(phones, speech.duration)
    spoken = [p.symbol for p in phones if p.symbol != "SIL"]
    assert spoken[:5] == ["P", "L", "IY", "Z", "B"]
    # "map": the M lands near espeak's own m (the second espeak "m" of the text)
    tts_m = [p.start for p in speech.phones if p.symbol == "m"][0]
    ours = [p.start for p in phones if p.symbol == "M"][0]
    assert abs(ours - tts_m) < 0.08


def test_recognize_tts_speech(speech):
    for mode in ("words", "phones"):
        phones = recognize(speech.audio, mode=mode)
        _well_formed(phones, speech.duration)
        kinds = {p.symbol for p in phones}
        assert "SIL" in kinds and kinds & {"AA", "AE", "AH", "EY", "IY", "OW", "IH", "EH"}
        assert kinds & {"P", "B", "M"}
    with pytest.raises(AlignmentError):
        recognize(speech.audio, mode="letters")


def test_unknown_words_and_wrong_text_do_not_crash(speech):
    assert letter_to_sound("blorptastic").split()[:3] == ["B", "L", "AA"]
    phones = align(speech.audio, "Please bring the blorptastic map")
    _well_formed(phones, speech.duration)
    wrong = align(speech.audio, "zebra xylophone quantum")      # falls back to recognition
    _well_formed(wrong, speech.duration)
    assert align(speech.audio, "!!!") and align(np.zeros(0, np.float32), TEXT) == []


def test_words_of():
    assert words_of("It's 42, Dr. Smith!") == ["it's", "four", "two", "dr", "smith"]


def test_bad_audio():
    with pytest.raises(AudioError):
        recognize(np.zeros((2, 100), np.float32))
    with pytest.raises(AudioError):
        align(np.array([np.inf], np.float32), "a")


def test_segmenter_cuts_at_pauses_and_forces_long_pieces():
    rng = np.random.default_rng(0)
    loud = lambda s: (0.3 * rng.standard_normal(int(s * 16000))).astype(np.float32)  # noqa: E731
    audio = np.concatenate([loud(1.0), np.zeros(8000, np.float32), loud(1.0)])
    pieces = segments(audio)
    assert len(pieces) == 2 and 16000 < pieces[0][1] < 24000 and not pieces[1][2]
    long = loud(5.0)
    forced = segments(long, max_segment=2.0)
    assert len(forced) == 3 and all(b - a <= 32000 for a, b, _ in forced) and forced[1][2]
    seg, cuts, step = Segmenter(max_segment=2.0), [], 777
    for i in range(0, len(long), step):
        cuts += seg.feed(long[i:i + step])
    assert [c for c, _ in cuts] == [b for _, b, _ in forced[:-1]]   # chunking changes nothing


@pytest.mark.slow
def test_recognize_real_speech(eval_dir):
    sf = pytest.importorskip("soundfile")
    wav = eval_dir / "audio" / "sad_WDA_KatieHill_000.wav"
    if not wav.is_file():
        pytest.skip("dev clip missing")
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == 16000
    phones = recognize(audio)
    _well_formed(phones, len(audio) / 16000)
    assert len(phones) > 40     # ~8 s of fluent speech


def test_recognition_does_not_depend_on_what_was_decoded_before(speech):
    """The cached decoders keep front-end state (noise estimate, cepstral mean) between
    utterances; each decode starts from fresh state, so the same audio gives the same phones."""
    rng = np.random.default_rng(0)
    loud_noise = (0.3 * rng.standard_normal(3 * 16000)).astype(np.float32)
    quiet = (0.2 * speech.audio).astype(np.float32)
    first = recognize(quiet)
    recognize(loud_noise)
    assert recognize(quiet) == first
    aligned = align(quiet, TEXT)
    align(loud_noise, "noise")
    assert align(quiet, TEXT) == aligned
