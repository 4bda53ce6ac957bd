"""Synthetic corpus: many offline TTS voices x varied texts -> audio + phones -> phonetic motion.

Why: the learned motion models need hours of (audio, motion) pairs, and no such data ships
with the repo. TTS knows its phone timings exactly (espeak-ng) or can be force-aligned (flite,
festival: recorded human voices, English), and the rule-based `phonetic` model turns timed
phones into clean arkit52 targets. Variety comes from espeak's languages and accents, its voice
variants (f1..f5, m1..m8, klatt, ...), random speaking rate and pitch, and the text generator.

Every utterance i is a pure function of (seed, i): its text, voice, rate and pitch are drawn
from `default_rng([seed, i])`. Shard s holds utterances s*shard_size .. (s+1)*shard_size - 1,
so what a shard says does not depend on which worker built it or when, and resuming an
interrupted build (the manifest lists only complete shards) gives the same corpus as an
uninterrupted one. Only the last shard may be cut short to land near the requested hours.
Not bit-exact: espeak-ng carries waveform phase from one call to the next, so the same plan
spoken after different predecessors differs by a few samples (a few ms of duration).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TalkingHeadError
from ..models.base import SAMPLE_RATE, frame_count
from .shards import (MANIFEST, CorpusError, ShardWriter, add_shard, new_manifest, prepare_out_dir,
                     read_manifest, remove_stray_files, shard_index, shard_name, write_manifest)
from .texts import LANGUAGES, make_text

ENGINES = ("espeak", "flite", "festival")
SHARD_SIZE = 200
GUESS_SECONDS = 3.0            # mean utterance length assumed before the first shard is done
MIN_SECONDS, MAX_SECONDS = 0.5, 25.0
RATE_RANGE = (130, 240)        # words per minute
PITCH_RANGE = (20, 80)         # espeak 0..100, 50 = the voice's own
VARIANT_PROBABILITY = 0.75     # otherwise the language's plain voice
EXTERNAL_SHARE = 0.4           # share of English utterances spoken by flite/festival when installed

# espeak accents per text language (all ship with espeakng-loader; missing ones are skipped).
ESPEAK_VOICES = {
    "en": ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd"),
    "de": ("de",), "fr": ("fr", "fr-be", "fr-ch"), "es": ("es", "es-419", "es-mx"), "zh": ("cmn",),
}
# Variants that do not sound like a person talking (robots, whispers, effects) teach bad mouths.
_ODD_VARIANTS = ("robo", "robot", "demonic", "whisper", "croak", "anxious", "tweaky", "kaukovalta")


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides the content of a shard; a resumed build must match it."""

    seed: int = 0
    shard_size: int = SHARD_SIZE
    languages: tuple[str, ...] = LANGUAGES
    engines: tuple[str, ...] = ("espeak",)  # those actually installed, in order

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "languages": list(self.languages), "engines": list(self.engines)}


class _Skip(Exception):
    """An utterance that could not be made; `reason` is the report bucket."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


# -- one utterance -------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _espeak_choices() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """(accents per language, usable variants) from what this espeak-ng actually ships."""
    from ..audio.tts import get_engine
    engine = get_engine("espeak")
    known = set(engine.voices())
    voices = {lang: tuple(v for v in names if v in known) for lang, names in ESPEAK_VOICES.items()}
    variants = tuple(v for v in engine.variants()
                     if " " not in v and not any(odd in v.lower() for odd in _ODD_VARIANTS))
    return voices, variants


@lru_cache(maxsize=None)
def _external_voices(engine: str) -> tuple[str, ...]:
    from ..audio.tts import get_engine
    return tuple(get_engine(engine).voices())


def plan_utterance(index: int, config: SynthConfig) -> dict[str, Any]:
    """Engine, voice, rate, pitch and text of utterance `index` (deterministic)."""
    rng = np.random.default_rng([config.seed, index])
    language = config.languages[int(rng.integers(len(config.languages)))]
    external = [e for e in config.engines if e != "espeak"]
    engine = "espeak"
    if language == "en" and external and rng.random() < EXTERNAL_SHARE:
        engine = external[int(rng.integers(len(external)))]
    if engine == "espeak":
        accents, variants = _espeak_choices()
        names = accents.get(language) or ESPEAK_VOICES[language][:1]
        voice = names[int(rng.integers(len(names)))]
        if variants and rng.random() < VARIANT_PROBABILITY:
            voice += "+" + variants[int(rng.integers(len(variants)))]
    else:
        voices = _external_voices(engine) or ("",)
        voice = voices[int(rng.integers(len(voices)))]
    rate = int(rng.integers(RATE_RANGE[0], RATE_RANGE[1] + 1))
    pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
    text = make_text(rng, language=language)
    return {"engine": engine, "voice": voice, "rate": rate, "pitch": pitch, "text": text.text,
            "language": language, "kind": text.kind}


def make_utterance(index: int, config: SynthConfig) -> tuple[dict[str, Any], np.ndarray, np.ndarray, list]:
    """(meta, audio, motion, phones) of utterance `index`; raises _Skip with a report reason."""
    from ..audio.tts import synthesize
    from ..models.phonetic import PhoneticModel
    from ..models.phonetic.align import align

    plan = plan_utterance(index, config)
    try:
        speech = synthesize(plan["text"], voice=plan["voice"] or None, rate=plan["rate"],
                            pitch=plan["pitch"], engine=plan["engine"])
    except TalkingHeadError as exc:
        raise _Skip(f"tts: {type(exc).__name__}", str(exc)) from None
    audio = speech.audio
    seconds = len(audio) / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise _Skip("too_short", f"{seconds:.2f} s")
    if seconds > MAX_SECONDS:
        raise _Skip("too_long", f"{seconds:.1f} s")
    if float(np.max(np.abs(audio))) < 1e-3:
        raise _Skip("silent")
    phones = speech.phones
    if not phones:
        try:
            phones = align(audio, plan["text"])
        except TalkingHeadError as exc:
            raise _Skip(f"align: {type(exc).__name__}", str(exc)) from None
    if not phones:
        raise _Skip("no_phones")
    model = PhoneticModel(seed=int(np.random.default_rng([config.seed, index, 1]).integers(2 ** 31)))
    motion = model.from_phones(phones, frame_count(len(audio)), audio).values
    meta = {"text": plan["text"], "language": plan["language"], "voice": speech.voice or plan["voice"],
            "engine": plan["engine"], "speaker": f"{plan['engine']}:{speech.voice or plan['voice']}",
            "seconds": round(seconds, 4), "source": "synth", "rate": plan["rate"],
            "pitch": plan["pitch"], "kind": plan["kind"]}
    return meta, audio, motion, phones


# -- one shard (runs in a worker process) --------------------------------------------------------


def build_shard(out_dir: str, index: int, config: SynthConfig,
                max_seconds: float | None = None) -> dict[str, Any]:
    """Write shard `index`; stop early once it holds `max_seconds` of audio (the last shard).

    Returns the manifest entry: name, utterances, seconds, plus per-shard statistics.
    """
    start = time.perf_counter()
    failures: Counter = Counter()
    examples: dict[str, str] = {}
    languages: Counter = Counter()
    engines: Counter = Counter()
    speakers: set[str] = set()
    first = index * config.shard_size
    with ShardWriter(Path(out_dir) / shard_name(index)) as writer:
        for i in range(first, first + config.shard_size):
            try:
                meta, audio, motion, phones = make_utterance(i, config)
            except _Skip as skip:
                failures[skip.reason] += 1
                examples.setdefault(skip.reason, f"utterance {i}: {skip}"[:200])
                continue
            writer.add(f"synth-{i:09d}", audio, motion, phones, meta)
            languages[meta["language"]] += 1
            engines[meta["engine"]] += 1
            speakers.add(meta["speaker"])
            if max_seconds is not None and writer.seconds >= max_seconds:
                break
        count, seconds = writer.count, writer.seconds
    return {"name": shard_name(index), "utterances": count, "seconds": round(seconds, 3),
            "failures": dict(failures), "failure_examples": examples, "languages": dict(languages),
            "engines": dict(engines), "speakers": sorted(speakers),
            "build_seconds": round(time.perf_counter() - start, 3)}


# -- the whole corpus ----------------------------------------------------------------------------


def build_synth_corpus(out_dir: str | os.PathLike, hours: float, workers: int = 2, seed: int = 0,
                       engines: tuple[str, ...] = ENGINES, shard_size: int = SHARD_SIZE,
                       languages: tuple[str, ...] = LANGUAGES, progress: bool = False) -> dict[str, Any]:
    """Build (or resume, or extend) a synthetic corpus of about `hours` of audio in `out_dir`.

    `engines` lists those to use when installed (espeak always is, via espeakng-loader).
    `workers` processes each build whole shards. Returns the manifest, whose "report" holds
    counts, hours, failures by reason and the throughput of this run.
    """
    target = _check_request(hours, workers, shard_size, languages)
    config = SynthConfig(int(seed), int(shard_size), tuple(languages), _installed(engines))
    out = prepare_out_dir(out_dir)
    manifest = _open_manifest(out, config)
    done = {shard_index(s["name"]) for s in manifest["shards"]}
    remove_stray_files(out, manifest)
    started, seconds_before, count_before = time.perf_counter(), manifest["seconds"], manifest["utterances"]
    bar = _bar(target, manifest["seconds"], progress)
    try:
        _run(out, config, manifest, done, target, workers, bar)
    finally:
        bar.close()
    manifest["report"] = synth_report(manifest, config, engines, time.perf_counter() - started,
                                      manifest["utterances"] - count_before,
                                      manifest["seconds"] - seconds_before)
    write_manifest(out, manifest)
    return manifest


def _run(out: Path, config: SynthConfig, manifest: dict, done: set[int], target: float,
         workers: int, bar) -> None:
    """Keep `workers` shards in flight until the committed seconds reach `target`."""
    next_index = 0
    in_flight: dict[Future, int] = {}

    def commit(entry: dict) -> None:
        if entry["utterances"] == 0:  # every utterance failed: more shards would fail the same way
            example = next(iter(entry["failure_examples"].values()), "no example")
            raise CorpusError(f"{entry['name']}: all {sum(entry['failures'].values())} utterances failed ({example})")
        add_shard(manifest, entry)
        write_manifest(out, manifest)
        bar.update(entry["seconds"])

    def submit(pool) -> bool:
        nonlocal next_index
        while next_index in done:
            next_index += 1
        full = _shard_estimate(manifest, config)
        remaining = target - manifest["seconds"] - full * len(in_flight)
        if remaining <= 0:
            return False
        budget = remaining if remaining < full else None
        if pool is None:
            commit(build_shard(str(out), next_index, config, budget))
        else:
            in_flight[pool.submit(build_shard, str(out), next_index, config, budget)] = next_index
        next_index += 1
        return True

    if workers == 1:  # in-process: no start-up cost, and easy to debug
        while submit(None):
            pass
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            while True:
                while len(in_flight) < workers and submit(pool):
                    pass
                if not in_flight:
                    return
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    del in_flight[future]
                    commit(future.result())
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise


def _shard_estimate(manifest: dict, config: SynthConfig) -> float:
    """Expected seconds of a full shard: the mean of full shards so far, else a guess."""
    full = [s["seconds"] / s["utterances"] for s in manifest["shards"] if s["utterances"]]
    per_utterance = float(np.mean(full)) if full else GUESS_SECONDS
    return per_utterance * config.shard_size


def _check_request(hours: float, workers: int, shard_size: int, languages) -> float:
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours) or hours <= 0:
        raise CorpusError(f"hours must be a positive number, got {hours!r}")
    if not isinstance(workers, int) or workers < 1:
        raise CorpusError(f"workers must be a positive integer, got {workers!r}")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise CorpusError(f"shard_size must be a positive integer, got {shard_size!r}")
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if not languages or unknown:
        raise CorpusError(f"languages must be a non-empty subset of {', '.join(LANGUAGES)}; got {unknown or 'none'}")
    return float(hours) * 3600.0


def _installed(engines: tuple[str, ...]) -> tuple[str, ...]:
    """The requested engines that run here (unknown names are an error, missing ones skipped)."""
    from ..audio.tts import get_engine
    if isinstance(engines, str):
        engines = (engines,)
    usable = tuple(name for name in dict.fromkeys(engines) if get_engine(name).available())
    if not usable:
        raise CorpusError(f"none of the TTS engines {', '.join(engines)} is installed")
    return usable


def _open_manifest(out: Path, config: SynthConfig) -> dict[str, Any]:
    if not (out / MANIFEST).exists():
        return new_manifest("synth", config=config.to_json())
    manifest = read_manifest(out)
    if manifest.get("kind") != "synth":
        raise CorpusError(f"{out} holds a {manifest.get('kind')} corpus, not a synth one")
    if manifest.get("config") != config.to_json():
        raise CorpusError(f"{out} was built with other settings ({manifest.get('config')}); "
                          "resume with the same seed, shard size, languages and engines, or use a new folder")
    return manifest


def synth_report(manifest: dict[str, Any], config: SynthConfig, requested: tuple[str, ...],
                 wall: float, built: int, built_seconds: float) -> dict[str, Any]:
    """Totals over all listed shards plus the throughput of the run that just ended."""
    total: dict[str, Counter] = {k: Counter() for k in ("failures", "languages", "engines")}
    speakers: set[str] = set()
    examples: dict[str, str] = {}
    for shard in manifest["shards"]:
        for k in total:
            total[k].update(shard.get(k, {}))
        speakers.update(shard.get("speakers", []))
        for reason, text in shard.get("failure_examples", {}).items():
            examples.setdefault(reason, text)
    skipped = {e: "not installed" for e in dict.fromkeys(requested) if e not in config.engines}
    return {
        "utterances": manifest["utterances"], "hours": round(manifest["seconds"] / 3600, 4),
        "shards": len(manifest["shards"]), "failed": sum(total["failures"].values()),
        "failures": dict(total["failures"]), "failure_examples": examples,
        "languages": dict(total["languages"]), "engines": dict(total["engines"]),
        "speakers": len(speakers), "skipped_engines": skipped,
        "last_run": {"wall_seconds": round(wall, 2), "utterances": built,
                     "audio_hours": round(built_seconds / 3600, 4),
                     "utterances_per_second": round(built / wall, 2) if wall > 0 else 0.0,
                     "audio_hours_per_minute": round(built_seconds / 3600 / (wall / 60), 4) if wall > 0 else 0.0},
    }


def _bar(target: float, already: float, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=round(target), initial=min(round(already), round(target)), unit="s", desc="synth",
                file=sys.stderr, disable=not (enabled and sys.stderr.isatty()), leave=False)
