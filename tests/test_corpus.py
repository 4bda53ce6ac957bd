"""Corpus tooling: texts, shard format, synthetic and video builders, resume, augmentation, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from talkinghead.corpus import augment as aug
from talkinghead.corpus import synth
from talkinghead.corpus.cli import app
from talkinghead.corpus.shards import (MANIFEST, CorpusError, ShardWriter, is_validation, iter_corpus,
                                       iter_shard, read_manifest, split_keys)
from talkinghead.corpus.texts import KINDS, LANGUAGES, generate_texts, number_words, year_words
from talkinghead.corpus.video import build_video_corpus, good_runs
from talkinghead.errors import TalkingHeadError
from talkinghead.models.base import SAMPLE_RATE, frame_count
from talkinghead.models.phonetic.phones import Phone
from talkinghead.motion import ARKIT52_CHANNELS

SMALL_HOURS = 12.0 / 3600  # three utterances with seed 5: a full shard and a cut-short one
SHARD = 2


# -- texts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("language, n, words", [
    ("en", 97, "ninety-seven"), ("en", 1204, "one thousand two hundred four"),
    ("de", 21, "einundzwanzig"), ("de", 101, "einhunderteins"), ("de", 1987, "eintausendneunhundertsiebenundachtzig"),
    ("fr", 71, "soixante et onze"), ("fr", 80, "quatre-vingts"), ("fr", 97, "quatre-vingt-dix-sept"),
    ("fr", 200, "deux cents"), ("es", 16, "dieciséis"), ("es", 21000, "veintiún mil"), ("es", 500, "quinientos"),
    ("zh", 15, "十五"), ("zh", 101, "一百零一"), ("zh", 110, "一百一十"), ("zh", 2005, "两千零五"),
])
def test_number_words(language, n, words):
    assert number_words(n, language) == words


def test_years_are_said_as_people_say_them():
    assert year_words(1987, "en") == "nineteen eighty-seven"
    assert year_words(2005, "en") == "two thousand five"
    assert year_words(1987, "de") == "neunzehnhundertsiebenundachtzig"
    assert year_words(1987, "zh") == "一九八七"


def test_texts_are_seeded_varied_and_lip_heavy():
    texts = generate_texts(300, seed=3)
    assert texts == generate_texts(300, seed=3)
    assert [t.text for t in texts] != [t.text for t in generate_texts(300, seed=4)]
    assert {t.language for t in texts} == set(LANGUAGES)
    assert {t.kind for t in texts} == set(KINDS)
    assert len({t.text for t in texts}) > 250
    latin = [t.text.lower() for t in texts if t.language != "zh"]
    assert np.mean([any(c in s for c in "pbm") for s in latin]) > 0.8
    assert any(ch.isdigit() for t in texts for ch in t.text)          # digits ...
    assert any("twenty" in t.text or "zwanzig" in t.text for t in texts)  # ... and spelled numbers
    assert all(t.text.strip() and "{" not in t.text for t in texts)


# -- shard format --------------------------------------------------------------------------------


def _fake(n_samples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal(n_samples)).astype(np.float32)
    motion = rng.random((frame_count(n_samples), len(ARKIT52_CHANNELS))).astype(np.float32)
    return audio, motion


def test_shard_round_trip(tmp_path):
    audio, motion = _fake(16000 + 123)
    landmarks = np.random.default_rng(1).random((len(motion), 478, 3)).astype(np.float32) * 100
    phones = [Phone("p", 0.0, 0.1, "espeak"), Phone("a", 0.1, 0.5, "espeak")]
    with ShardWriter(tmp_path / "shard-000000.tar") as w:
        w.add("k-1", audio, motion, phones, {"text": "pa", "language": "en"}, landmarks)
        w.add("k-2", audio[:800], motion[:2], [], {"text": ""})
    assert not list(tmp_path.glob("*.tmp"))
    utts = list(iter_shard(tmp_path / "shard-000000.tar"))
    assert [u.key for u in utts] == ["k-1", "k-2"]
    u = utts[0]
    assert np.abs(u.audio - audio).max() < 1 / 16000 and len(u.audio) == len(audio)
    np.testing.assert_array_equal(u.motion, motion)
    assert u.phones == phones and u.meta["key"] == "k-1" and u.meta["text"] == "pa"
    assert u.landmarks.dtype == np.float16 and np.allclose(u.landmarks, landmarks, atol=0.05)
    assert utts[1].landmarks is None and utts[1].phones == []


def test_shard_writer_rejects_bad_utterances(tmp_path):
    audio, motion = _fake(16000)
    with pytest.raises(CorpusError, match="motion must be"):
        with ShardWriter(tmp_path / "shard-000000.tar") as w:
            w.add("k", audio, motion[:-1], [], {})
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind
    with pytest.raises(CorpusError, match="bad utterance key"):
        with ShardWriter(tmp_path / "shard-000001.tar") as w:
            w.add("a.b", audio, motion, [], {})


def test_corrupt_shard_and_missing_manifest(tmp_path):
    (tmp_path / "shard-000000.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(CorpusError, match="corrupt"):
        list(iter_shard(tmp_path / "shard-000000.tar"))
    with pytest.raises(CorpusError, match="no manifest.json"):
        read_manifest(tmp_path)
    with pytest.raises(CorpusError, match="not found"):
        list(iter_corpus(tmp_path / "nope"))


def test_split_is_stable_and_about_five_percent():
    keys = [f"synth-{i:09d}" for i in range(4000)]
    train, val = split_keys(keys)
    assert len(train) + len(val) == 4000 and not set(train) & set(val)
    assert 0.035 < len(val) / 4000 < 0.065
    assert split_keys(keys) == (train, val)
    assert all(is_validation(k) for k in val)
    _, val20 = split_keys(keys, val_fraction=0.2)
    assert set(val) <= set(val20)  # a larger share only adds keys


# -- synthetic corpus ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synth.build_synth_corpus(out, SMALL_HOURS, workers=1, seed=5, shard_size=SHARD)
    return out


def _content(folder: Path, names: list[str] | None = None) -> tuple[list, np.ndarray]:
    """What each listed shard holds: (shard, key, plan) rows and the utterance durations.

    espeak-ng carries waveform phase from one call to the next, so the same plan spoken after
    different predecessors differs by a few samples: compare plans exactly, durations closely.
    """
    rows, seconds = [], []
    for shard in read_manifest(folder)["shards"]:
        if names is not None and shard["name"] not in names:
            continue
        for u in iter_shard(folder / shard["name"]):
            m = u.meta
            rows.append((shard["name"], u.key, m["text"], m["voice"], m["rate"], m["pitch"], m["language"]))
            seconds.append(u.seconds)
    return rows, np.array(seconds)


def _same_corpus(a: Path, b: Path, names: list[str] | None = None) -> None:
    (rows_a, sec_a), (rows_b, sec_b) = _content(a, names), _content(b, names)
    assert rows_a == rows_b and rows_a
    np.testing.assert_allclose(sec_a, sec_b, atol=0.05)


def test_synth_corpus_follows_the_contract(small_corpus):
    manifest = json.loads((small_corpus / MANIFEST).read_text())
    assert manifest["version"] == 1 and manifest["kind"] == "synth" and manifest["fps"] == 25
    assert manifest["sample_rate"] == 16000 and manifest["channels"] == list(ARKIT52_CHANNELS)
    assert len(manifest["shards"]) >= 2
    assert manifest["seconds"] >= SMALL_HOURS * 3600
    utts = list(iter_corpus(small_corpus))
    assert len(utts) == manifest["utterances"] == sum(s["utterances"] for s in manifest["shards"])
    assert len({u.key for u in utts}) == len(utts)
    assert abs(sum(u.seconds for u in utts) - manifest["seconds"]) < 0.01
    for u in utts:
        assert u.motion.shape == (frame_count(len(u.audio)), 55) and np.isfinite(u.motion).all()
        assert {"key", "text", "language", "voice", "engine", "speaker", "seconds", "source"} <= set(u.meta)
        assert u.phones and all(p.alphabet in ("espeak", "arpabet") for p in u.phones)
        assert u.motion[:, ARKIT52_CHANNELS.index("jawOpen")].max() > 0.1  # the mouth moves
    train = [u.key for u in iter_corpus(small_corpus, split="train", val_fraction=0.5)]
    val = [u.key for u in iter_corpus([small_corpus], split="val", val_fraction=0.5)]
    assert sorted(train + val) == sorted(u.key for u in utts) and not set(train) & set(val)
    report = manifest["report"]
    assert report["utterances"] == len(utts) and report["failed"] == sum(report["failures"].values())
    assert report["last_run"]["utterances_per_second"] > 0


def test_synth_plan_is_varied_and_deterministic():
    config = synth.SynthConfig(seed=1)
    plans = [synth.plan_utterance(i, config) for i in range(200)]
    assert plans == [synth.plan_utterance(i, config) for i in range(200)]
    assert {p["language"] for p in plans} == set(LANGUAGES)
    assert len({p["voice"] for p in plans}) > 60
    assert len({p["rate"] for p in plans}) > 30 and len({p["pitch"] for p in plans}) > 30


def test_resume_after_losing_the_last_shard(small_corpus, tmp_path):
    copy = tmp_path / "c"
    shutil.copytree(small_corpus, copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    last = manifest["shards"].pop()
    manifest["utterances"] -= last["utterances"]
    manifest["seconds"] -= last["seconds"]
    (copy / MANIFEST).write_text(json.dumps(manifest))
    (copy / last["name"]).write_bytes(b"half a shard")  # on disk but not listed: incomplete
    (copy / "shard-000099.tar.tmp").write_bytes(b"junk")
    synth.build_synth_corpus(copy, SMALL_HOURS, workers=1, seed=5, shard_size=SHARD)
    _same_corpus(copy, small_corpus)
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in small_corpus.iterdir())


def test_resume_after_a_kill_mid_build(small_corpus, tmp_path, monkeypatch):
    real = synth.build_shard

    def dies_on_second_shard(out_dir, index, config, max_seconds=None):
        if index == 1:
            Path(out_dir, "shard-000001.tar.tmp").write_bytes(b"partial")  # as a kill leaves it
            raise KeyboardInterrupt
        return real(out_dir, index, config, max_seconds)

    monkeypatch.setattr(synth, "build_shard", dies_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        synth.build_synth_corpus(tmp_path, SMALL_HOURS, workers=1, seed=5, shard_size=SHARD)
    assert [s["name"] for s in read_manifest(tmp_path)["shards"]] == ["shard-000000.tar"]
    monkeypatch.setattr(synth, "build_shard", real)
    synth.build_synth_corpus(tmp_path, SMALL_HOURS, workers=1, seed=5, shard_size=SHARD)
    _same_corpus(tmp_path, small_corpus)
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_refuses_other_settings(small_corpus, tmp_path):
    copy = tmp_path / "c"
    shutil.copytree(small_corpus, copy)
    with pytest.raises(CorpusError, match="other settings"):
        synth.build_synth_corpus(copy, SMALL_HOURS, workers=1, seed=6, shard_size=SHARD)


@pytest.mark.slow
def test_parallel_workers_build_the_same_shards(small_corpus, tmp_path):
    synth.build_synth_corpus(tmp_path, SMALL_HOURS, workers=2, seed=5, shard_size=SHARD)
    full = [s["name"] for s in read_manifest(small_corpus)["shards"] if s["utterances"] == SHARD]
    _same_corpus(tmp_path, small_corpus, full)
    assert read_manifest(tmp_path)["seconds"] >= SMALL_HOURS * 3600


class _NoPhonesEngine:
    """Stands in for flite/festival (absent here): speech without phone timings."""

    name, default_voice = "nophones", "en-us"

    def available(self) -> bool:
        return True

    def voices(self) -> list[str]:
        return ["en-us", "en-gb"]

    def synthesize(self, text, voice, rate, pitch):
        from talkinghead.audio.tts import get_engine
        speech = get_engine("espeak").synthesize(text, voice, rate, pitch)
        speech.phones, speech.engine = [], self.name
        return speech


def test_engines_without_phones_are_force_aligned(tmp_path, monkeypatch):
    from talkinghead.audio import tts
    monkeypatch.setitem(tts._ENGINES, "nophones", _NoPhonesEngine())
    manifest = synth.build_synth_corpus(tmp_path, 15 / 3600, workers=1, seed=2, shard_size=4,
                                        engines=("espeak", "nophones", "festival"), languages=("en",))
    festival = ["festival"] if tts.get_engine("festival").available() else []
    assert manifest["config"]["engines"] == ["espeak", "nophones"] + festival
    utts = list(iter_corpus(tmp_path))
    aligned = [u for u in utts if u.meta["engine"] == "nophones"]
    assert aligned and all(u.phones and u.phones[0].alphabet == "arpabet" for u in aligned)
    assert all(u.meta["speaker"].startswith("nophones:") for u in aligned)
    if not tts.get_engine("festival").available():
        assert manifest["report"]["skipped_engines"]["festival"] == "not installed"


@pytest.mark.parametrize("hours", [0, -1.0, float("nan"), float("inf")])
def test_bad_hours(tmp_path, hours):
    with pytest.raises(CorpusError, match="hours must be a positive number"):
        synth.build_synth_corpus(tmp_path, hours)


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(CorpusError, match="cannot write|not a folder"):
        synth.build_synth_corpus(blocker / "corpus", SMALL_HOURS, workers=1)
    with pytest.raises(CorpusError, match="not a folder"):
        synth.build_synth_corpus(blocker, SMALL_HOURS, workers=1)


def test_unknown_engine_is_one_line_error(tmp_path):
    with pytest.raises(TalkingHeadError, match="unknown TTS engine"):
        synth.build_synth_corpus(tmp_path, SMALL_HOURS, engines=("nope",))


# -- augmentation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech(small_corpus):
    return list(iter_corpus(small_corpus))


def test_speed_changes_audio_and_motion_consistently():
    n = 3 * SAMPLE_RATE
    audio = np.sin(2 * np.pi * 150 * np.arange(n) / SAMPLE_RATE).astype(np.float32)
    motion = np.zeros((frame_count(n), 55), np.float32)
    motion[:, 17] = np.linspace(0, 1, len(motion))  # a ramp: frame k holds k / (T - 1)
    for factor in (0.8, 1.25):
        a, m = aug.change_speed(audio, motion, factor)
        assert abs(len(a) - n / factor) <= 2 and len(m) == frame_count(len(a))
        k = np.arange(len(m) // 2)
        np.testing.assert_allclose(m[k, 17], np.minimum(k * factor / (len(motion) - 1), 1), atol=1e-5)


def test_stages_keep_length(speech):
    audio = speech[0].audio
    rng = np.random.default_rng(0)
    outs = [aug.shift_pitch(audio, 2.0), aug.reverb(audio, aug.synthetic_rir(0.5, rng)), aug.telephone(audio),
            aug.lowpass(audio, 3000), aug.mu_law(audio), aug.low_bitrate(audio, rng), aug.gain(audio, -6)]
    for out in outs:
        assert out.shape == audio.shape and out.dtype == np.float32 and np.isfinite(out).all()
        assert not np.allclose(out, audio)
    assert abs(aug.power(outs[1]) / aug.power(audio) - 1) < 1e-3  # reverb keeps loudness
    np.testing.assert_allclose(outs[-1], audio * 10 ** (-6 / 20), rtol=1e-5)


def test_pitch_shift_moves_frequency_not_duration():
    n = SAMPLE_RATE
    tone = np.sin(2 * np.pi * 200 * np.arange(n) / SAMPLE_RATE).astype(np.float32)
    out = aug.shift_pitch(tone, 12.0)
    assert len(out) == n
    peak = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(out[2000:-2000], n)))]
    assert abs(peak - 400) < 10


def test_band_limits_remove_out_of_band_energy():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(SAMPLE_RATE).astype(np.float32)
    spec = lambda x: np.abs(np.fft.rfft(x)) ** 2  # noqa: E731
    f = np.fft.rfftfreq(SAMPLE_RATE, 1 / SAMPLE_RATE)
    tel = spec(aug.telephone(noise))
    band = (f > 500) & (f < 3000)
    assert tel[f > 5000].mean() < 1e-3 * tel[band].mean() and tel[f < 100].mean() < 1e-2 * tel[band].mean()


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
def test_noise_is_mixed_at_the_requested_snr(speech, kind):
    audio = speech[0].audio
    rng = np.random.default_rng(1)
    noise = {"white": aug.white_noise(len(audio), rng), "pink": aug.pink_noise(len(audio), rng),
             "babble": aug.babble([u.audio for u in speech[1:]], len(audio), rng)}[kind]
    for snr in (0.0, 12.5, 30.0):
        mixed = aug.add_noise(audio, noise, snr)
        measured = 10 * np.log10(aug.power(audio) / aug.power(mixed - audio))
        assert abs(measured - snr) < 0.05


def test_augmenter_is_seeded_and_keeps_motion_in_step(speech):
    config = aug.AugmentConfig(speed_p=1, pitch_p=1, reverb_p=1, noise_p=1, bandlimit_p=1, codec_p=1, gain_p=1)
    a1, a2, a3 = aug.Augmenter(config, seed=7), aug.Augmenter(config, seed=7), aug.Augmenter(config, seed=8)
    lengths = set()
    for u in speech:
        x1, m1 = a1(u.audio, u.motion)
        x2, m2 = a2(u.audio, u.motion)
        x3, _ = a3(u.audio, u.motion)
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(m1, m2)
        assert len(x1) != len(x3) or not np.array_equal(x1, x3)
        assert len(m1) == frame_count(len(x1)) and np.isfinite(x1).all() and np.abs(x1).max() <= 1.0
        lengths.add(len(x1) / len(u.audio))
    assert len(lengths) > 1  # speed was drawn per call


def test_augmenter_rejects_bad_input():
    with pytest.raises(CorpusError, match="motion of"):
        aug.Augmenter()(np.zeros(16000, np.float32), np.zeros((10, 55), np.float32))
    with pytest.raises(CorpusError, match="probability"):
        aug.AugmentConfig(noise_p=2.0)
    with pytest.raises(CorpusError, match="noise kinds"):
        aug.AugmentConfig(noise_kinds=("brown",))


# -- video corpus --------------------------------------------------------------------------------


def _make_clip(path: Path, seconds: float, jump_at: float | None = None, noise: bool = False) -> Path:
    """The astronaut photo with a slow pan and zoom (and optionally a cut), plus a 220 Hz tone."""
    from skimage import data
    image, rng, fps, size, sr = data.astronaut(), np.random.default_rng(0), 25, 256, 16000
    n = int(seconds * fps)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=sr)
        for k in range(n):
            if noise:
                frame = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            else:
                crop = int(360 - 20 * np.sin(k / n * np.pi))
                x0 = int(60 + 10 * k / n) + (120 if jump_at is not None and k >= jump_at * fps else 0)
                y0 = int(10 + 5 * k / n)
                frame = np.ascontiguousarray(image[y0:y0 + crop, x0:x0 + crop])
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(width=size, height=size)
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)
        samples = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
        samples.sample_rate = sr
        for packet in list(sound.encode(samples)) + list(sound.encode(None)):
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def video_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video")
    face = _make_clip(folder / "astronaut.mp4", 4.0, jump_at=2.0)
    blank = _make_clip(folder / "noise.mp4", 1.0, noise=True)
    out = folder / "corpus"
    manifest = build_video_corpus([face, blank], out)
    return out, manifest, face, blank


def test_video_corpus_keeps_the_face_and_splits_at_the_cut(video_corpus):
    out, manifest, face, _ = video_corpus
    entry = next(e for e in manifest["report"]["videos"] if e["video"] == str(face.resolve()))
    assert entry["rejected"] is None and entry["segments"] == 2  # split where the picture jumped
    assert entry["dropped"].get("tracking_jump", 0) + entry["dropped"].get("no_face", 0) >= 1
    assert entry["kept_frames"] >= 90
    utts = list(iter_corpus(out))
    assert manifest["kind"] == "video" and len(utts) == 2
    for u in utts:
        assert u.motion.shape == (frame_count(len(u.audio)), 55) and np.isfinite(u.motion).all()
        assert u.landmarks.shape == (len(u.motion), 478, 3) and u.landmarks.dtype == np.float16
        assert u.phones == [] and u.meta["engine"] == "video" and u.meta["source"] == str(face.resolve())
        assert u.seconds >= 1.0
    x = utts[0].audio  # the audio track came along: the 220 Hz tone
    peak = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(x)))]
    assert abs(peak - 220) < 2 and np.sqrt(np.mean(x ** 2)) > 0.05


def test_video_without_a_face_is_rejected_with_a_reason(video_corpus):
    _, manifest, _, blank = video_corpus
    entry = next(e for e in manifest["report"]["videos"] if e["video"] == str(blank.resolve()))
    assert entry["segments"] == 0 and entry["dropped"]["no_face"] >= 20
    assert entry["rejected"].startswith("no face found in")
    assert manifest["report"]["rejected"] == 1 and manifest["report"]["accepted"] == 1


def test_video_rerun_resumes_without_duplicates(video_corpus):
    out, manifest, face, blank = video_corpus
    again = build_video_corpus([face, blank], out)
    assert again["shards"] == manifest["shards"] and again["utterances"] == manifest["utterances"]
    assert len(again["report"]["videos"]) == 2


def test_good_runs_split_and_drop_short():
    status = ["ok"] * 30 + ["no_face"] + ["ok"] * 10 + ["tracking_jump"] + ["ok"] * 60
    runs, short = good_runs(status, min_frames=25, max_frames=50)
    assert runs == [(0, 30), (42, 72), (72, 102)] and short == 10


def test_bad_video_inputs(tmp_path):
    with pytest.raises(CorpusError, match="video not found"):
        build_video_corpus([tmp_path / "missing.mp4"], tmp_path / "out")
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(CorpusError, match="not a readable video"):
        build_video_corpus([fake], tmp_path / "out")
    wav = tmp_path / "tone.wav"
    import soundfile as sf
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    with pytest.raises(CorpusError, match="no video stream"):
        build_video_corpus([wav], tmp_path / "out")
    with pytest.raises(CorpusError, match="no videos"):
        build_video_corpus([], tmp_path / "out")


# -- command line --------------------------------------------------------------------------------


def test_cli_synth_and_errors(tmp_path):
    from typer.testing import CliRunner
    result = CliRunner().invoke(app, ["synth", "-o", str(tmp_path / "c"), "--hours", str(3 / 3600),
                                      "--workers", "1", "--shard-size", "2"])
    assert result.exit_code == 0, result.output
    assert "utterances" in result.output and "h of audio per minute" in result.output
    assert read_manifest(tmp_path / "c")["utterances"] >= 1
    with pytest.raises(CorpusError, match="hours must be"):
        app(["synth", "-o", str(tmp_path / "d"), "--hours", "0"], standalone_mode=False)
    with pytest.raises(CorpusError, match="video not found"):
        app(["video", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "v")], standalone_mode=False)
