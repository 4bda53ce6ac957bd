"""The phonetic motion model: visemes, coarticulation, idle motion, batch vs stream, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from talkinghead.errors import AlignmentError, AudioError, TalkingHeadError
from talkinghead.models.base import MotionModel, MotionStream, frame_count
from talkinghead.models.phonetic import Phone, PhoneticModel, pose_of, viseme_of
from talkinghead.models.phonetic.idle import HeadMotion, blink_curve, blink_times
from talkinghead.models.phonetic.visemes import ARPABET, VISEME_POSES
from talkinghead.motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES

from conftest import random_chunks

ARPABET_PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH "
                  "T TH UH UW V W Y Z ZH SIL").split()
ESPEAK_EN = ["p", "b", "m", "f", "v", "T", "D", "t", "d", "n", "l", "r", "k", "g", "N", "h", "s",
             "z", "S", "Z", "tS", "dZ", "j", "w", "@", "3:", "a", "A:", "aa", "aI", "aU", "e", "E",
             "eI", "e@", "i", "i:", "I", "0", "O:", "OI", "oU", "u:", "U", "V", "@L", "I2", "@2",
             "i@3", "U@", "'a", ",oU", "n-", "?"]
ESPEAK_CMN = ["ts.h", "ts.", "s.", "tS;", "tS;h", "ph", "th", "kh", "x", "X", "i.", "i[", "y",
              "o-", "Au", "ai", "ei", "ou", "iou", "iE", "u@", "ong", "a", "o", "@", "N"]
MOUTH = [c for c in ARKIT52_CHANNELS if c.startswith(("jaw", "mouth", "tongue", "cheek"))]


def _phones(spec: str, dur: float = 0.12) -> list[Phone]:
    """'SIL:0.3 AA P AA SIL:0.3' -> back-to-back phones (default duration `dur`)."""
    out, t = [], 0.0
    for item in spec.split():
        name, _, d = item.partition(":")
        d = float(d) if d else dur
        out.append(Phone(name, t, t + d))
        t += d
    return out


def _at(motion, channel: str, t: float) -> float:
    return float(motion.channel(channel)[int(round(t * 25))])


# -- visemes --------------------------------------------------------------------------------


def test_every_arpabet_phone_maps_to_a_valid_pose():
    assert set(ARPABET_PHONES) <= set(ARPABET)
    for ph in ARPABET_PHONES + ["AA1", "IY0", "ER2"]:
        pose = pose_of(ph)
        assert pose is not None and set(pose) <= set(ARKIT_BLENDSHAPES), ph
        assert all(0.0 <= w <= 1.0 for w in pose.values()), ph
    for name, pose in VISEME_POSES.items():
        assert set(pose) <= set(ARKIT_BLENDSHAPES), name


@pytest.mark.parametrize("symbol", ESPEAK_EN + ESPEAK_CMN)
def test_espeak_symbols_map(symbol):
    assert viseme_of(symbol, "espeak") in VISEME_POSES


def test_espeak_classes_are_phonetically_right():
    assert {viseme_of(s, "espeak") for s in ("p", "b", "m")} == {"PP"}
    assert viseme_of("oU", "espeak") == "O" and viseme_of("u:", "espeak") == "U"
    assert viseme_of("aI", "espeak") == "aa" and viseme_of("A:", "espeak") == "aa"
    assert viseme_of("f", "espeak") == "FF" and viseme_of("s", "espeak") == "SS"
    for pause in ("_", "_:", "_!", "_|"):
        assert viseme_of(pause, "espeak") == "sil"
    for tone in ("55", "214", "51", "35", "11"):
        assert viseme_of(tone, "espeak") is None       # Mandarin tones carry no mouth shape
    assert viseme_of("3:", "espeak") == "RR" and viseme_of("0", "espeak") == "aa"  # vowels, not tones


def test_unknown_alphabet_is_an_error():
    with pytest.raises(ValueError):
        viseme_of("a", "ipa")


# -- from_phones ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> PhoneticModel:
    return PhoneticModel()


def test_bilabials_close_between_open_vowels(model):
    phones = _phones("SIL:0.3 AA:0.2 P:0.08 AA:0.2 B:0.08 AA:0.2 M:0.08 AA:0.2 SIL:0.3")
    motion = model.from_phones(phones, 60)
    for p in phones:
        if p.symbol in "PBM":
            centre = (p.start + p.end) / 2
            vowel = _at(motion, "jawOpen", p.start - 0.1)
            closed = min(_at(motion, "jawOpen", centre + dt) for dt in (-0.04, 0.0, 0.04))
            assert closed < 0.45 * vowel, (p.symbol, closed, vowel)
            assert _at(motion, "mouthPressLeft", centre) > 0.1


def test_rounded_on_uw_and_open_on_aa(model):
    motion = model.from_phones(_phones("SIL:0.3 UW:0.25 SIL:0.5 AA:0.25 SIL:0.3"), 40)
    assert _at(motion, "mouthPucker", 0.425) > 0.3
    assert _at(motion, "mouthPucker", 1.175) < 0.05
    assert _at(motion, "jawOpen", 1.175) > 0.4
    assert _at(motion, "jawOpen", 1.175) > 2 * _at(motion, "jawOpen", 0.425)


def test_silence_closes_the_mouth(model):
    motion = model.from_phones(_phones("SIL:2.0"), 50)
    mouth = np.stack([motion.channel(c) for c in MOUTH])
    assert np.all(mouth == 0.0)
    quiet = model.predict(np.zeros(16000 * 2, np.float32))
    assert len(quiet) == 50 and np.abs(quiet.channel("jawOpen")).max() < 1e-6


def test_mouth_rests_after_speech_and_long_held_sounds_are_capped(model):
    motion = model.from_phones(_phones("SIL:0.3 AA:0.2 SIL:1.5 IY:2.0"), 100)
    assert _at(motion, "jawOpen", 1.5) == 0.0          # well inside the pause
    assert _at(motion, "jawOpen", 3.5) < 0.02           # a 2 s "vowel" is a steady noise


def test_espeak_phones_from_tts(model):
    phones = [Phone(s, i * 0.2, (i + 1) * 0.2, "espeak") for i, s in enumerate("_ a m a _".split())]
    jaw = model.from_phones(phones, 25).channel("jawOpen")
    assert jaw[12] < 0.4 * jaw[5:10].max() and jaw[5:10].max() > 0.3   # m at 0.5 s, a around 0.3 s


def test_predict_uses_given_phones_and_covers_every_frame(model):
    phones = _phones("SIL:0.2 AA:0.3 SIL:0.2")
    for n in (1, 639, 640, 641, 19_680):
        audio = np.zeros(n, np.float32)
        motion = model.predict(audio, phones=phones)
        assert len(motion) == frame_count(n) and motion.channels == ARKIT52_CHANNELS
        assert motion.rig == "arkit52" and motion.fps == 25.0
    resampled = model.predict(np.zeros(22050, np.float32), sample_rate=22050, phones=phones)
    assert len(resampled) == frame_count(16000)


def test_protocol():
    m = PhoneticModel()
    assert isinstance(m, MotionModel) and isinstance(m.stream(), MotionStream)


# -- idle -----------------------------------------------------------------------------------


def test_blinks_present_natural_and_seeded():
    curve = blink_curve(500, seed=3)                  # 20 s
    starts = np.flatnonzero((curve[1:] > 0.5) & (curve[:-1] <= 0.5))
    assert 3 <= len(starts) <= 10 and curve.max() > 0.9
    assert np.all(np.diff(starts) >= 25)              # never two within a second
    assert np.array_equal(curve, blink_curve(500, seed=3))
    assert not np.array_equal(curve, blink_curve(500, seed=4))
    assert all(0.15 <= length <= 0.25 for _, length in blink_times(3, 60.0))
    assert np.array_equal(blink_curve(100, 3, start=200), curve[200:300])   # stream-safe


def test_head_motion_small_smooth_and_seeded():
    loud = np.r_[np.zeros(50), np.ones(100), np.zeros(100)]
    head = HeadMotion(seed=1)(loud)
    assert head.shape == (250, 3) and np.abs(head).max() < 0.15
    assert np.abs(np.diff(head, axis=0)).max() < 0.02
    assert np.array_equal(head, HeadMotion(seed=1)(loud))
    split = HeadMotion(seed=1)
    assert np.allclose(np.concatenate([split(loud[:77]), split(loud[77:])]), head)
    assert not np.allclose(head, HeadMotion(seed=2)(loud))


def test_motion_has_blinks_and_head(model):
    motion = model.from_phones(_phones("SIL:10"), 250)
    assert motion.channel("eyeBlinkLeft").max() > 0.9
    assert np.array_equal(motion.channel("eyeBlinkLeft"), motion.channel("eyeBlinkRight"))
    assert np.abs(motion.channel("headYaw")).max() > 1e-3
    still = PhoneticModel(idle=False).from_phones(_phones("SIL:10"), 250)
    assert np.all(still.values == 0.0)


# -- streaming ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech():
    """English TTS speech with pauses (sentences), or a skip when the TTS module is missing."""
    tts = pytest.importorskip("talkinghead.audio.tts")
    try:
        return tts.synthesize("Please bring the map. We will meet by the boat at noon. "
                              "Move up, Bob.", voice="en-us")
    except TalkingHeadError as exc:
        pytest.skip(f"TTS unavailable: {exc}")


def _run_stream(stream, audio, seed=0):
    out, fed, lag = [], 0, 0
    for piece in random_chunks(audio, np.random.default_rng(seed), 100, 9000):
        out.append(stream.feed(piece))
        fed += len(piece)
        got = sum(len(o) for o in out)
        lag = max(lag, frame_count(fed) - got)
    out.append(stream.flush())
    return np.concatenate(out), lag


@pytest.mark.slow
def test_stream_matches_batch(model, speech):
    batch = model.predict(speech.audio)
    same, _ = _run_stream(model.stream(max_segment=20.0), speech.audio)
    assert same.shape == batch.values.shape
    np.testing.assert_allclose(same, batch.values, atol=1e-5)
    short, lag = _run_stream(model.stream(), speech.audio, seed=1)
    assert short.shape == batch.values.shape
    assert lag <= int(np.ceil((2.0 + 0.55) * 25)) + 9        # bounded latency (+ one chunk)
    jaw = ARKIT52_CHANNELS.index("jawOpen")
    assert np.corrcoef(short[:, jaw], batch.values[:, jaw])[0, 1] > 0.8
    assert np.array_equal(short[:, :14], batch.values[:, :14])   # blinks do not depend on phones


def test_stream_bad_use(model):
    s = model.stream()
    s.feed(np.zeros(1000, np.float32))
    assert len(s.flush()) == frame_count(1000)
    with pytest.raises(AudioError):
        s.feed(np.zeros(10, np.float32))
    with pytest.raises(AudioError):
        model.stream(max_segment=0.1)
    with pytest.raises(AudioError):
        model.stream().feed(np.full(100, np.nan, np.float32))


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("audio, rate", [
    (np.zeros((3, 1000, 2), np.float32), 16000),
    (np.array([0.0, np.nan, 0.0], np.float32), 16000),
    (np.array(["a", "b"]), 16000),
    (np.zeros(100, np.float32), 0),
    (np.zeros(100, np.float32), 16000.5),
])
def test_bad_audio(model, audio, rate):
    with pytest.raises(AudioError):
        model.predict(audio, sample_rate=rate, phones=[])


@pytest.mark.parametrize("phones", [
    "AA", [("AA", 0, 1)], [Phone("AA", 0.5, 0.2)], [Phone("AA", 0, float("nan"))],
    [Phone("a", 0, 1, "ipa")],
])
def test_bad_phones(model, phones):
    with pytest.raises(AlignmentError):
        model.from_phones(phones, 10)


def test_bad_frame_count(model):
    with pytest.raises(AlignmentError):
        model.from_phones([], -1)


def test_loudness_before_the_first_sample_is_silence():
    """Frames at negative indices (smoothing pads) must not wrap around to the audio's end."""
    from talkinghead.models.phonetic.idle import loudness
    audio = np.r_[np.zeros(16000), 0.5 * np.ones(16000)].astype(np.float32)
    assert loudness(audio, 5, start=-5).max() == 0.0


# -- acoustic opening cue (features/formants.py) ---------------------------------------------


def _vowel(f1: float, f2: float, seconds: float = 0.5, f0: float = 120.0) -> np.ndarray:
    """A glottal pulse train through two resonators: a vowel with known F1 and F2."""
    from scipy.signal import lfilter
    sr = 16000
    src = np.zeros(int(seconds * sr))
    src[::int(sr / f0)] = 1.0
    for f, bw in ((f1, 80.0), (f2, 100.0)):
        r, theta = np.exp(-np.pi * bw / sr), 2 * np.pi * f / sr
        src = lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], src)
    return (0.3 * src / np.abs(src).max()).astype(np.float32)


def test_f1_tracker_finds_the_first_formant():
    from talkinghead.features.formants import frame_f1, periodicity
    times = np.arange(5, 10) / 25
    for f1, f2 in ((300.0, 2300.0), (700.0, 1200.0)):
        est = frame_f1(_vowel(f1, f2), times)
        assert np.all(np.abs(est - f1) < 0.2 * f1), (f1, est)   # LPC leans toward a harmonic
    assert np.all(periodicity(_vowel(500.0, 1500.0), times) > 0.8)
    noise = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    assert np.all(periodicity(noise, times) < 0.45)


def test_f1_norm_is_causal_and_chunkable():
    from talkinghead.features.formants import F1Norm
    rng = np.random.default_rng(0)
    f1 = rng.uniform(300, 800, 200)
    voiced = rng.random(200) > 0.3
    whole = F1Norm().zscore(f1, voiced, 200)
    norm = F1Norm()
    parts = [norm.zscore(f1[:70], voiced[:70], 70), norm.zscore(f1[70:], voiced[70:], 130)]
    np.testing.assert_allclose(np.concatenate(parts), whole)
    changed = f1.copy(); changed[150:] = 2000.0                 # the future does not leak back
    np.testing.assert_allclose(F1Norm().zscore(changed, voiced, 200)[:150], whole[:150])


def test_open_vowel_opens_the_jaw_more_than_a_close_one():
    """Same phones, different sound: the acoustic cue must follow F1 (open "ah" vs close "ee")."""
    model = PhoneticModel(idle=False)
    phones = _phones("SIL:0.3 AH:1.0 SIL:0.3")
    quiet = np.zeros(int(0.3 * 16000), np.float32)
    jaw = {}
    for name, (f1, f2) in {"ah": (750.0, 1200.0), "ee": (280.0, 2300.0)}.items():
        audio = np.concatenate([quiet, _vowel(f1, f2, 0.5), _vowel(f1, f2, 0.5, f0=110.0), quiet])
        jaw[name] = model.from_phones(phones, frame_count(len(audio)), audio).channel("jawOpen")
    core = slice(int(0.5 * 25), int(1.2 * 25))
    assert jaw["ah"][core].mean() > jaw["ee"][core].mean() + 0.05


def test_acoustic_analyses_run_in_blocks_with_the_same_numbers(monkeypatch):
    """Long inputs are analysed BLOCK times at a time (bounded memory); results must not change."""
    from talkinghead.features import formants
    audio = np.concatenate([_vowel(600.0, 1700.0, 1.0), _vowel(350.0, 2100.0, 1.0)])
    times = np.arange(45) / 25
    whole = [formants.frame_f1(audio, times), formants.periodicity(audio, times),
             formants.band_level(audio, times, (300.0, 1200.0))]
    monkeypatch.setattr(formants, "BLOCK", 7)
    blocked = [formants.frame_f1(audio, times), formants.periodicity(audio, times),
               formants.band_level(audio, times, (300.0, 1200.0))]
    for a, b in zip(whole, blocked):
        np.testing.assert_array_equal(a, b)


# -- without recognition: the "acoustic" model ---------------------------------------------------

def _speechlike(seconds_each: float = 0.5) -> np.ndarray:
    """Vowels of different openness with pauses between them (16 kHz)."""
    quiet = np.zeros(int(0.3 * 16000), np.float32)
    parts = [quiet]
    for f1, f2 in ((750.0, 1200.0), (300.0, 2300.0), (600.0, 1000.0)):
        parts += [_vowel(f1, f2, seconds_each), quiet]
    return np.concatenate(parts)


def test_acoustic_model_never_runs_the_recogniser(monkeypatch):
    from talkinghead.models import load_model
    from talkinghead.models.phonetic import align

    def refuse(*args, **kwargs):
        raise AssertionError("the acoustic model must not recognise phones")

    monkeypatch.setattr(align, "recognize", refuse)
    monkeypatch.setattr(align, "recognize_words", refuse)
    model = load_model("acoustic")
    audio = _speechlike()
    jaw = model.predict(audio).channel("jawOpen")
    stream = model.stream()
    streamed = np.concatenate([stream.feed(audio[i:i + 1000]) for i in range(0, len(audio), 1000)]
                              + [stream.flush()])
    assert streamed.shape == (frame_count(len(audio)), len(ARKIT52_CHANNELS))
    t = np.arange(len(jaw)) / 25
    assert jaw[t < 0.2].max() < 0.05                           # silence: closed
    assert jaw[(t > 0.4) & (t < 0.7)].mean() > jaw[(t > 1.2) & (t < 1.5)].mean() + 0.05  # ah > ee


def test_acoustic_stream_equals_batch_with_bounded_latency():
    from talkinghead.models.phonetic.model import ACOUSTIC_LATENCY
    model = PhoneticModel(recognize=False)
    audio = _speechlike()
    batch = model.predict(audio).values
    stream, parts, fed = model.stream(), [], 0
    for piece in random_chunks(audio, np.random.default_rng(3), 50, 2000):
        parts.append(stream.feed(piece))
        fed += len(piece)
        emitted = sum(len(p) for p in parts)
        # every frame whose audio (plus the cue's look-ahead) has arrived is out
        assert emitted >= int((fed / 16000 - ACOUSTIC_LATENCY) * 25) - 1
    parts.append(stream.flush())
    np.testing.assert_array_equal(np.concatenate(parts), batch)
