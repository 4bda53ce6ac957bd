"""Read speech from disk or from arrays as 16 kHz mono float32, with one-line errors.

Every motion model wants the same thing: mono float32 in [-1, 1] at 16 kHz. This module is the
only place that turns files (wav/flac/ogg/mp3 through libsndfile, anything else, including the
audio track of a video, through PyAV) or user arrays into that, so every entry point validates
audio the same way and a bad input fails with an `AudioError` naming the file and the problem
instead of a library traceback.

Files are decoded in blocks at their native rate, mixed to mono (channel mean) and resampled with
soxr. `load_audio` resamples the whole signal in one go; `stream_audio` feeds the same blocks
through `soxr.ResampleStream`, so the two agree to float precision while streaming never holds
more than a few blocks in memory.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import soundfile as sf
import soxr

from ..errors import AudioError

SAMPLE_RATE = 16000
MIN_SECONDS = 0.04  # one frame at 25 fps: shorter audio cannot drive even a single frame
MAX_SECONDS = 24 * 3600.0  # longer is almost surely a wrong file; override with max_seconds
MIN_RATE, MAX_RATE = 1000, 768000
MAX_CHANNELS = 64
QUALITY = "HQ"

# Containers libsndfile never reads; skip straight to PyAV for them.
VIDEO_SUFFIXES = {".mp4", ".m4a", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".aac", ".3gp", ".wma", ".ts"}
BLOCK_SAMPLES = 1 << 16  # decode granularity at the native rate (~1.5 s at 44.1 kHz)
_TAIL = 4096  # most end padding a codec adds that we trim to the declared duration
_DECODE_ERRORS = (av.FFmpegError, sf.SoundFileError, RuntimeError, OSError, ValueError, EOFError)


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding it."""

    path: str
    duration: float  # seconds; 0.0 when the container does not say
    sample_rate: int
    channels: int
    codec: str  # e.g. "pcm_16", "vorbis", "mp3", "aac"
    container: str  # e.g. "wav", "flac", "mp4"


# ---------------------------------------------------------------------------------------------
# public API


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
               max_seconds: float | None = None) -> np.ndarray:
    """Decode a whole file to mono float32 in [-1, 1] at `sample_rate`.

    `max_seconds` is the longest input accepted (default 24 h): longer files raise instead of
    filling memory.
    """
    _check_rate(sample_rate, "requested output")
    with _open(path) as dec:
        _check_duration(dec.info.duration, dec.name, max_seconds)
        blocks = list(_limited(dec.blocks(), dec.info.sample_rate, dec.name, max_seconds))
        mono = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        del blocks  # halves peak memory while resampling long files
        return _check(mono, dec.info.sample_rate, dec.name, sample_rate, max_seconds)


def stream_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
                 chunk_seconds: float = 1.0) -> Iterator[np.ndarray]:
    """Yield mono float32 chunks of `chunk_seconds` (the last one shorter), decoding lazily.

    Memory stays bounded by a few decode blocks whatever the file length; the concatenated
    chunks equal `load_audio(path, sample_rate)`.
    """
    _check_rate(sample_rate, "requested output")
    if not chunk_seconds > 0:
        raise AudioError(f"chunk_seconds must be positive, got {chunk_seconds}")
    dec = _open(path)  # opened now, so a missing or corrupt file fails at the call, not later
    try:
        _check_duration(dec.info.duration, dec.name, None)
    except AudioError:
        dec.close()
        raise
    return _stream(dec, sample_rate, max(1, int(round(chunk_seconds * sample_rate))))


def _stream(dec: "_Decoder", sample_rate: int, chunk: int) -> Iterator[np.ndarray]:
    """Resample decode blocks through one soxr stream and cut the output into equal chunks."""
    with dec:
        rate, name = dec.info.sample_rate, dec.name
        resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality=QUALITY)
        pending: list[np.ndarray] = []
        have = seen = 0
        for block in _limited(dec.blocks(), rate, name, None):
            _check_finite(block, f"{name} (near {seen / rate:.1f} s)")
            seen += len(block)
            out = _resample_chunk(resampler, block, rate, sample_rate, last=False)
            pending.append(out)
            have += len(out)
            while have >= chunk:
                head, pending, have = _take(pending, chunk)
                yield head
        _check_length(seen, rate, name)
        pending.append(_resample_chunk(resampler, np.zeros(0, np.float32), rate, sample_rate, last=True))
        rest = np.clip(np.concatenate(pending), -1.0, 1.0)
        for start in range(0, len(rest), chunk):
            yield rest[start:start + chunk]


def probe_audio(path: str | os.PathLike) -> AudioInfo:
    """Header facts (duration, rate, channels, codec, container) without decoding the samples."""
    with _open(path) as dec:
        return dec.info


def check_audio(array, sample_rate: int, target_rate: int = SAMPLE_RATE,
                max_seconds: float | None = None) -> np.ndarray:
    """Validate audio handed over as an array; return mono float32 in [-1, 1] at `target_rate`.

    Accepts 1-D `(samples,)` or 2-D `(samples, channels)` float or integer PCM (integers are
    scaled by their type's full range). Rejects empty, too short, too long, non-finite or
    non-numeric input and sample rates outside 1 kHz - 768 kHz.
    """
    return _check(array, sample_rate, "audio array", target_rate, max_seconds)


def check_chunk(samples, name: str = "audio") -> np.ndarray:
    """A chunk for a stream: 1-D float32 of any length (0 too), at the stream's own rate.

    `check_audio`'s rules (float or integer PCM, (n,) or (n, channels) mixed to mono, finite)
    without its length limits or resampling, so every model's `stream().feed` and `predict`
    accept the same arrays. Float 1-D input, the per-chunk hot path of every stream, costs one
    cheap finiteness pass and no copy.
    """
    x = np.asarray(samples)
    if not (x.ndim == 1 and x.dtype.kind == "f"):
        x = _to_float(_as_samples(x, name), name)
        if x.ndim == 2:
            x = x.mean(axis=1, dtype=np.float32)
    x = x.astype(np.float32, copy=False)
    if not _all_finite(x):
        raise AudioError(f"{name} contains NaN or infinity")
    return x


def check_rate(sample_rate, name: str = "audio") -> int:
    """A sample rate as int Hz, or an AudioError if it is not a whole number in range."""
    return _check_rate(sample_rate, name)


_ZEROS = np.zeros(4096, np.float32)


def _all_finite(samples: np.ndarray) -> bool:
    """One pass: x * 0 is 0 for every finite x (no magnitude overflows) and NaN for NaN or inf,
    so a dot with zeros is finite iff all samples are; ~5x cheaper than a float64 sum on the
    640-sample chunks of a stream. Long inputs use the sum (no big zero buffer kept)."""
    if samples.size <= _ZEROS.size:
        return math.isfinite(np.dot(samples.ravel(), _ZEROS[:samples.size]))  # any shape
    return math.isfinite(np.sum(samples, dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# validation shared by files and arrays


def _check(array, sample_rate, name: str, target_rate: int, max_seconds: float | None) -> np.ndarray:
    """The one validation path: shape, dtype, rate, length, finiteness; then mono + resample."""
    _check_rate(target_rate, "requested output")
    rate = _check_rate(sample_rate, name)
    x = _as_samples(array, name)
    _check_length(x.shape[0], rate, name)
    _check_duration(x.shape[0] / rate, name, max_seconds)
    x = _to_float(x, name)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    _check_finite(x, name)
    if rate != target_rate:
        x = soxr.resample(x, rate, target_rate, quality=QUALITY)
    return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)


def _check_rate(sample_rate, name: str) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.integer, np.floating)):
        raise AudioError(f"{name}: sample rate must be a number, got {type(sample_rate).__name__}")
    if not np.isfinite(sample_rate) or float(sample_rate) != int(sample_rate):
        raise AudioError(f"{name}: sample rate must be a whole number of Hz, got {sample_rate}")
    rate = int(sample_rate)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{name} has an absurd sample rate of {rate} Hz (expected {MIN_RATE}-{MAX_RATE} Hz)")
    return rate


def _as_samples(array, name: str) -> np.ndarray:
    """A numeric ndarray shaped (n,) or (n, channels), without copying when possible."""
    try:
        x = np.asarray(array)
    except (TypeError, ValueError) as exc:
        raise AudioError(f"{name} is not a numeric array ({exc})") from None
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise AudioError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise AudioError(f"{name} has shape {x.shape}: expected (samples,) or (samples, channels)")
    if x.ndim == 2 and not 1 <= x.shape[1] <= MAX_CHANNELS:
        raise AudioError(f"{name} has shape {x.shape}: expected (samples, channels) with at most "
                         f"{MAX_CHANNELS} channels (transpose channel-first arrays)")
    return x


def _to_float(x: np.ndarray, name: str) -> np.ndarray:
    """Integer PCM -> float32 in [-1, 1] by its type's full scale; floats just cast."""
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    if x.dtype == np.uint8:  # 8-bit WAV convention: unsigned, centred on 128
        return (x.astype(np.float32) - 128.0) / 128.0
    bits = min(np.iinfo(x.dtype).bits, 32)
    scale = float(2 ** (bits - 1))
    if x.dtype.itemsize > 4 and x.size and np.abs(x).max() > scale:
        raise AudioError(f"{name}: 64-bit integer samples exceed the 32-bit PCM range")
    return (x / scale).astype(np.float32)


def _check_length(n: int, rate: int, name: str) -> None:
    if n == 0:
        raise AudioError(f"{name} is empty (no audio samples)")
    if n / rate < MIN_SECONDS:
        raise AudioError(f"{name} is too short ({1000 * n / rate:.0f} ms; at least "
                         f"{1000 * MIN_SECONDS:.0f} ms, one 25 fps frame, is needed)")


def _check_duration(seconds: float, name: str, max_seconds: float | None) -> None:
    limit = MAX_SECONDS if max_seconds is None else float(max_seconds)
    if seconds > limit:
        raise AudioError(f"{name} is {_hms(seconds)} long, over the {_hms(limit)} limit "
                         "(pass max_seconds to allow longer audio)")


def _check_finite(x: np.ndarray, name: str) -> None:
    if _all_finite(x):
        return
    if np.isnan(x).all():
        raise AudioError(f"{name} is all NaN")
    raise AudioError(f"{name} contains NaN or infinite samples")


def _hms(seconds: float) -> str:
    """h:mm:ss.s, exact enough that "24:00:01" visibly exceeds "24:00:00"."""
    minutes, secs = divmod(round(float(seconds), 1), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}"


# ---------------------------------------------------------------------------------------------
# decoding


def _open(path: str | os.PathLike) -> "_Decoder":
    """Pick a decoder: libsndfile when it understands the file, PyAV for everything else."""
    name = os.fspath(path)
    p = Path(name)
    _check_path(p, name)
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return _PyAVDecoder(p, name)
    try:
        return _SoundfileDecoder(p, name)
    except AudioError:
        raise
    except _DECODE_ERRORS as sf_error:
        try:
            return _PyAVDecoder(p, name)
        except AudioError as av_error:
            if "no audio stream" in str(av_error):
                raise
            reason = getattr(sf_error, "error_string", None) or str(sf_error)
            raise AudioError(f"{name} is not a readable audio file ({reason.strip().rstrip('.')})") from None


def _check_path(p: Path, name: str) -> None:
    if not p.exists():
        raise AudioError(f"audio file not found: {name}")
    if p.is_dir():
        raise AudioError(f"{name} is a directory, not an audio file")
    try:
        with open(p, "rb") as f:
            f.read(1)
    except PermissionError:
        raise AudioError(f"cannot read {name}: permission denied") from None
    except OSError as exc:
        raise AudioError(f"cannot read {name}: {exc.strerror or exc}") from None


def _limited(blocks: Iterator[np.ndarray], rate: int, name: str,
             max_seconds: float | None) -> Iterator[np.ndarray]:
    """Pass blocks through, stopping with an error once the running length passes the limit.

    Headers can lie or be missing (raw AAC, some mkv), so the limit is enforced while decoding.
    """
    seen = 0
    for block in blocks:
        seen += len(block)
        _check_duration(seen / rate, name, max_seconds)
        yield block


def _resample_chunk(stream: soxr.ResampleStream, block: np.ndarray, rate: int, target: int,
                    last: bool) -> np.ndarray:
    if rate == target:
        return block
    return stream.resample_chunk(block, last=last)


def _take(parts: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Split the first n samples off a list of arrays; return (head, remaining parts, remaining n)."""
    joined = np.concatenate(parts)
    head, rest = joined[:n], joined[n:]
    return np.clip(head, -1.0, 1.0), [rest], len(rest)


class _Decoder:
    """An open file: `info` from its header and `blocks()` of native-rate mono float32."""

    name: str
    info: AudioInfo

    def blocks(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "_Decoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_DATA_SIZE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_PLACEHOLDER_SIZE = 0x7FFFF000  # streaming writers put a huge dummy size in the header


class _SoundfileDecoder(_Decoder):
    def __init__(self, p: Path, name: str):
        self.name = name
        self.file = sf.SoundFile(str(p))
        try:
            self._check_truncated()
            f = self.file
            self.info = AudioInfo(name, f.frames / f.samplerate if f.samplerate else 0.0, f.samplerate,
                                  f.channels, f.subtype.lower(), f.format.lower())
            _check_rate(f.samplerate, name)
        except BaseException:
            self.file.close()
            raise

    def _check_truncated(self) -> None:
        """libsndfile silently reads what is left of a cut-off WAV; we call it corrupt instead."""
        match = _DATA_SIZE.search(self.file.extra_info)
        if match:
            declared, actual = int(match.group(1)), int(match.group(2))
            if actual < declared < _PLACEHOLDER_SIZE:
                raise AudioError(f"{self.name} is truncated: its header promises {declared} bytes "
                                 f"of audio, the file holds {actual}")

    def blocks(self) -> Iterator[np.ndarray]:
        while True:
            try:
                data = self.file.read(BLOCK_SAMPLES, dtype="float32", always_2d=True)
            except _DECODE_ERRORS as exc:
                raise AudioError(f"{self.name} is corrupt or truncated ({_reason(exc)})") from None
            if len(data) == 0:
                return
            yield data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0].copy()

    def close(self) -> None:
        self.file.close()


class _PyAVDecoder(_Decoder):
    def __init__(self, p: Path, name: str):
        self.name = name
        try:
            self.container = av.open(str(p), mode="r")
        except _DECODE_ERRORS as exc:
            raise AudioError(f"{name} is not a readable audio or video file ({_reason(exc)})") from None
        try:
            self.info = self._probe()
        except BaseException:
            self.container.close()
            raise

    def _probe(self) -> AudioInfo:
        if not self.container.streams.audio:
            raise AudioError(f"{self.name} has no audio stream")
        self.stream = s = self.container.streams.audio[0]
        rate = _check_rate(s.codec_context.sample_rate or s.rate or 0, self.name)
        channels = s.codec_context.layout.nb_channels if s.codec_context.layout else 0
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self.container.duration is not None:
            duration = self.container.duration / av.time_base
        else:
            duration = 0.0
        container = self.container.format.name.split(",")[0]
        return AudioInfo(self.name, duration, rate, channels, s.codec_context.name, container)

    def blocks(self) -> Iterator[np.ndarray]:
        """Decode packet by packet, batching frames into ~BLOCK_SAMPLES blocks.

        The last `_TAIL` samples are held back so that codec end padding (AAC rounds up to
        1024-sample frames) can be cut to the duration the container declares.
        """
        resampler = av.AudioResampler(format="fltp", rate=self.info.sample_rate)
        batch: list[np.ndarray] = []
        size = emitted = 0
        try:
            for packet in self.container.demux(self.stream):
                for frame in packet.decode():
                    for out in resampler.resample(frame):
                        batch.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
                        size += batch[-1].shape[0]
                if size >= BLOCK_SAMPLES + _TAIL:
                    joined = np.concatenate(batch)
                    batch, size = [joined[-_TAIL:]], _TAIL
                    emitted += len(joined) - _TAIL
                    yield joined[:-_TAIL]
            for out in resampler.resample(None):
                batch.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
        except _DECODE_ERRORS as exc:
            raise AudioError(f"{self.name} is corrupt or truncated ({_reason(exc)})") from None
        if batch:
            yield self._trim_padding(np.concatenate(batch), emitted)

    def _trim_padding(self, tail: np.ndarray, emitted: int) -> np.ndarray:
        declared = int(round(self.info.duration * self.info.sample_rate))
        excess = emitted + len(tail) - declared
        if declared > 0 and 0 < excess <= min(_TAIL, len(tail)):
            return tail[:-excess]
        return tail

    def close(self) -> None:
        self.container.close()


def _reason(exc: BaseException) -> str:
    """The library's own short explanation, without errno numbers or repeated paths."""
    text = getattr(exc, "error_string", None) or getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".").splitlines()[0] if str(text).strip() else type(exc).__name__
