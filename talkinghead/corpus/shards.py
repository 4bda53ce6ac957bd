"""Corpus shards (format version 1): plain tar files of utterances, and the manifest that lists them.

A corpus is a folder with `manifest.json` and `shard-XXXXXX.tar` files. Each tar holds, per
utterance key and in this order: `<key>.wav` (16 kHz mono PCM16), `<key>.motion.npy` ((T, 55)
float32 arkit52 at 25 fps, T = ceil(samples / 640)), `<key>.phones.json`, `<key>.meta.json` and,
for video corpora, `<key>.landmarks.npy` ((T, 478, 3) float16).

Why this shape: tar is streamable (a reader holds one utterance at a time), needs no library,
and every trainer framework reads it. Shards are written to a temporary name and renamed when
complete; the manifest is rewritten atomically after each one, so a shard listed in the manifest
is always whole and an interrupted build can resume by rebuilding everything else.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import soundfile as sf

from ..errors import TalkingHeadError
from ..models.base import FPS, SAMPLE_RATE, frame_count
from ..models.phonetic.phones import Phone
from ..motion import ARKIT52_CHANNELS

VERSION = 1
MANIFEST = "manifest.json"
RIG = "arkit52"
KINDS = ("synth", "video")
VAL_FRACTION = 0.05
META_FIELDS = ("key", "text", "language", "voice", "engine", "speaker", "seconds", "source")
_SUFFIXES = (".wav", ".motion.npy", ".phones.json", ".meta.json", ".landmarks.npy")
_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class CorpusError(TalkingHeadError):
    """A corpus folder, shard or build request is unusable (one line naming the problem)."""


@dataclass
class Utterance:
    """One training example: 16 kHz float32 audio and the (T, 55) motion that goes with it."""

    key: str
    audio: np.ndarray
    motion: np.ndarray
    phones: list[Phone]
    meta: dict[str, Any]
    landmarks: np.ndarray | None = None  # (T, 478, 3) float16, video corpora only

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


def shard_index(name: str) -> int:
    """The number in "shard-000123.tar"."""
    return int(name[len("shard-"):-len(".tar")])


# -- writing -------------------------------------------------------------------------------------


class ShardWriter:
    """Write utterances into `path` (via `path.tmp`); the shard appears only when closed cleanly."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.tar = tarfile.open(self.tmp, "w", format=tarfile.PAX_FORMAT)
        self.count = 0
        self.seconds = 0.0
        self.keys: list[str] = []

    def add(self, key: str, audio: np.ndarray, motion: np.ndarray, phones: list[Phone],
            meta: dict[str, Any], landmarks: np.ndarray | None = None) -> None:
        """Append one utterance; shapes are checked here so a bad shard is never written."""
        check_key(key)
        audio, motion = _check_pair(key, audio, motion)
        members = [(".wav", _wav_bytes(audio)), (".motion.npy", _npy_bytes(motion)),
                   (".phones.json", _json_bytes(phones_to_json(phones))),
                   (".meta.json", _json_bytes({**meta, "key": key}))]
        if landmarks is not None:
            members.append((".landmarks.npy", _npy_bytes(_check_landmarks(key, landmarks, len(motion)))))
        for suffix, data in members:
            info = tarfile.TarInfo(key + suffix)
            info.size, info.mtime, info.mode = len(data), 0, 0o644  # fixed mtime: same input, same bytes
            self.tar.addfile(info, io.BytesIO(data))
        self.count += 1
        self.seconds += len(audio) / SAMPLE_RATE
        self.keys.append(key)

    def close(self) -> None:
        """Finish the tar and move it into place."""
        self.tar.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial shard."""
        self.tar.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.abort() if exc_type is not None else self.close()


def check_key(key: str) -> str:
    """Keys name tar members, so they may hold only letters, digits, '_' and '-' (no dots)."""
    if not key or not set(key) <= _KEY_CHARS:
        raise CorpusError(f"bad utterance key {key!r}: use letters, digits, '_' and '-' only")
    return key


def _check_pair(key: str, audio: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    audio = np.asarray(audio, dtype=np.float32)
    motion = np.asarray(motion, dtype=np.float32)
    if audio.ndim != 1 or len(audio) == 0:
        raise CorpusError(f"{key}: audio must be non-empty mono, got shape {audio.shape}")
    want = frame_count(len(audio))
    if motion.shape != (want, len(ARKIT52_CHANNELS)):
        raise CorpusError(f"{key}: motion must be ({want}, {len(ARKIT52_CHANNELS)}) for "
                          f"{len(audio)} samples, got {motion.shape}")
    if not (np.isfinite(audio).all() and np.isfinite(motion).all()):
        raise CorpusError(f"{key}: audio or motion contains NaN or infinity")
    return audio, motion


def _check_landmarks(key: str, landmarks: np.ndarray, frames: int) -> np.ndarray:
    landmarks = np.asarray(landmarks)
    if landmarks.ndim != 3 or landmarks.shape[0] != frames or landmarks.shape[2] != 3:
        raise CorpusError(f"{key}: landmarks must be ({frames}, N, 3), got {landmarks.shape}")
    return landmarks.astype(np.float16)


def _wav_bytes(audio: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def phones_to_json(phones: list[Phone]) -> list[list]:
    return [[p.symbol, round(float(p.start), 4), round(float(p.end), 4), p.alphabet] for p in phones]


def phones_from_json(rows: list[list]) -> list[Phone]:
    return [Phone(str(s), float(a), float(b), str(alpha)) for s, a, b, alpha in rows]


# -- manifest ------------------------------------------------------------------------------------


def new_manifest(kind: str, **extra: Any) -> dict[str, Any]:
    """An empty manifest of `kind`; `extra` adds optional top-level fields (e.g. "config")."""
    if kind not in KINDS:
        raise CorpusError(f"corpus kind must be one of {KINDS}, got {kind!r}")
    return {"version": VERSION, "kind": kind, "fps": int(FPS), "sample_rate": SAMPLE_RATE, "rig": RIG,
            "channels": list(ARKIT52_CHANNELS), "shards": [], "utterances": 0, "seconds": 0.0,
            "report": {}, **extra}


def add_shard(manifest: dict[str, Any], entry: dict[str, Any]) -> None:
    """List a completed shard (name, utterances, seconds, optional stats) and update totals."""
    shards = [s for s in manifest["shards"] if s["name"] != entry["name"]] + [entry]
    manifest["shards"] = sorted(shards, key=lambda s: s["name"])
    manifest["utterances"] = sum(s["utterances"] for s in manifest["shards"])
    manifest["seconds"] = round(sum(s["seconds"] for s in manifest["shards"]), 3)


def write_manifest(folder: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """Write manifest.json atomically: readers see the old or the new one, never half of it."""
    path = Path(folder) / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a corpus folder, checked against this format version."""
    path = Path(folder) / MANIFEST
    if not Path(folder).is_dir():
        raise CorpusError(f"corpus folder not found: {folder}")
    if not path.is_file():
        raise CorpusError(f"{folder} is not a corpus: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("version") != VERSION:
        version = manifest.get("version") if isinstance(manifest, dict) else None
        raise CorpusError(f"{path} has format version {version!r}; this reader knows version {VERSION}")
    if manifest.get("channels") != list(ARKIT52_CHANNELS) or manifest.get("rig") != RIG:
        raise CorpusError(f"{path} is not an arkit52 corpus with the 55 standard channels")
    return manifest


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create `out_dir` and prove it is writable, with a one-line error when it is not."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CorpusError(f"output {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CorpusError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return out


def remove_stray_files(out: Path, manifest: dict[str, Any]) -> list[str]:
    """Delete shards the manifest does not list and leftover temporaries: they are incomplete."""
    listed = {s["name"] for s in manifest["shards"]}
    stray = [p for p in out.glob("shard-*.tar*") if p.name not in listed]
    for path in stray:
        path.unlink()
    return [p.name for p in stray]


# -- reading -------------------------------------------------------------------------------------


def iter_shard(path: str | os.PathLike) -> Iterator[Utterance]:
    """Utterances of one shard, read in streaming mode (one utterance in memory at a time)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"shard not found: {path}")
    try:
        with tarfile.open(path, "r|") as tar:
            key, parts = None, {}
            for member in tar:
                name_key, suffix = _split_member(member.name, path)
                if key is not None and name_key != key:
                    yield _utterance(key, parts, path)
                    parts = {}
                key = name_key
                parts[suffix] = tar.extractfile(member).read()
            if key is not None:
                yield _utterance(key, parts, path)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CorpusError(f"shard {path} is corrupt: {exc}") from None


def _split_member(name: str, path: Path) -> tuple[str, str]:
    key, dot, rest = name.partition(".")
    if not dot or "." + rest not in _SUFFIXES:
        raise CorpusError(f"shard {path} holds an unexpected member {name!r}")
    return key, "." + rest


def _utterance(key: str, parts: dict[str, bytes], path: Path) -> Utterance:
    missing = [s for s in _SUFFIXES[:4] if s not in parts]
    if missing:
        raise CorpusError(f"shard {path}: utterance {key} lacks {', '.join(missing)}")
    try:
        audio, rate = sf.read(io.BytesIO(parts[".wav"]), dtype="float32")
        motion = np.load(io.BytesIO(parts[".motion.npy"]), allow_pickle=False)
        phones = phones_from_json(json.loads(parts[".phones.json"]))
        meta = json.loads(parts[".meta.json"])
        landmarks = (np.load(io.BytesIO(parts[".landmarks.npy"]), allow_pickle=False)
                     if ".landmarks.npy" in parts else None)
    except (ValueError, TypeError, RuntimeError, sf.SoundFileError) as exc:
        raise CorpusError(f"shard {path}: utterance {key} is unreadable ({exc})") from None
    if rate != SAMPLE_RATE:
        raise CorpusError(f"shard {path}: utterance {key} is at {rate} Hz, not {SAMPLE_RATE}")
    return Utterance(key, audio, motion.astype(np.float32, copy=False), phones, meta, landmarks)


def corpus_shards(dirs: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Paths of every shard listed by the manifests of `dirs` (one folder or several)."""
    folders = [dirs] if isinstance(dirs, (str, os.PathLike)) else list(dirs)
    if not folders:
        raise CorpusError("no corpus folders given")
    paths = []
    for folder in folders:
        manifest = read_manifest(folder)
        paths += [Path(folder) / s["name"] for s in manifest["shards"]]
    return paths


def iter_corpus(dirs: str | os.PathLike | Iterable[str | os.PathLike], shuffle_shards: bool = False,
                seed: int = 0, split: str | None = None,
                val_fraction: float = VAL_FRACTION) -> Iterator[Utterance]:
    """Stream the utterances of one or more corpora, shard by shard.

    `shuffle_shards` visits the shards in a seeded random order (utterances inside a shard stay
    in order; shuffle those with a small buffer in the trainer). `split` "train" or "val" keeps
    only that side of the key-hash split (see `is_validation`); None keeps everything.
    """
    if split not in (None, "train", "val"):
        raise CorpusError(f"split must be None, 'train' or 'val', got {split!r}")
    paths = corpus_shards(dirs)
    if shuffle_shards:
        random.Random(seed).shuffle(paths)
    for path in paths:
        for utt in iter_shard(path):
            if split is None or (split == "val") == is_validation(utt.key, val_fraction):
                yield utt


def is_validation(key: str, val_fraction: float = VAL_FRACTION) -> bool:
    """Deterministic held-aside split: a key is validation when its hash falls below the fraction.

    Hashing the key (not drawing at random) keeps the split the same across runs, machines,
    shard orders and corpus growth: adding shards never moves an old utterance across the split.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise CorpusError(f"val_fraction must be within 0..1, got {val_fraction}")
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 < val_fraction


def split_keys(keys: Iterable[str], val_fraction: float = VAL_FRACTION) -> tuple[list[str], list[str]]:
    """(train keys, validation keys) by `is_validation`, each in the given order."""
    train, val = [], []
    for key in keys:
        (val if is_validation(key, val_fraction) else train).append(key)
    return train, val

