"""Training-time audio augmentation: make clean TTS sound like the audio users will bring.

Synthetic speech is clean, loud and always the same microphone; real input is phones, laptops,
rooms and noise. Each stage below mimics one of those and keeps the motion in step: only
`speed` changes timing, and it resamples the motion to match. All stages work on 16 kHz
float32 mono with numpy/scipy/soxr and draw from a seeded numpy Generator.

Approximations, on purpose:
* `speed` is tape-style: resampling changes tempo and pitch together (like a faster talker
  with a slightly higher voice); the motion is time-stretched by the same factor.
* `pitch` shifts by resampling and then restores the original duration with a WSOLA time
  stretch (overlap-add of 30 ms windows at the best-matching offset). Timing drifts by less
  than one window, well under a motion frame, so the motion is left unchanged; formants move
  with the pitch (no formant preservation), which also varies the apparent vocal tract.
* `codec` emulates low bitrates by band-limiting, 8 kHz resampling and quantisation noise, not
  by running a real codec.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import soxr

from ..models.base import FPS, SAMPLE_RATE, frame_count
from .shards import CorpusError

NOISES = ("white", "pink", "babble")


@dataclass
class AugmentConfig:
    """Probability of each stage and the ranges its parameters are drawn from."""

    speed_p: float = 0.5
    speed_range: tuple[float, float] = (0.85, 1.15)   # >1 is faster (shorter)
    pitch_p: float = 0.3
    pitch_semitones: tuple[float, float] = (-3.0, 3.0)
    reverb_p: float = 0.3
    rt60_range: tuple[float, float] = (0.15, 0.8)      # seconds for the tail to fall by 60 dB
    noise_p: float = 0.5
    noise_kinds: tuple[str, ...] = NOISES
    snr_range: tuple[float, float] = (0.0, 30.0)        # dB
    bandlimit_p: float = 0.3
    lowpass_range: tuple[float, float] = (2500.0, 7000.0)
    codec_p: float = 0.2
    gain_p: float = 0.8
    gain_db_range: tuple[float, float] = (-18.0, 6.0)
    babble_pool: int = 16                               # recent clips kept as babble sources

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise CorpusError(f"augment {f.name} must be a probability in 0..1, got {value}")
            if f.name.endswith("_range") and not (len(value) == 2 and value[0] <= value[1]):
                raise CorpusError(f"augment {f.name} must be (low, high), got {value}")
        if self.speed_range[0] <= 0:
            raise CorpusError(f"augment speed_range must be positive, got {self.speed_range}")
        bad = [k for k in self.noise_kinds if k not in NOISES]
        if bad:
            raise CorpusError(f"unknown noise kinds {bad}; known: {', '.join(NOISES)}")


@dataclass
class Augmenter:
    """`Augmenter(config, seed)(audio, motion) -> (audio, motion)`, a fresh draw per call.

    Babble noise is a mix of other utterances this augmenter has seen (the last
    `config.babble_pool` clips), so it needs no extra data; until two clips have been seen,
    babble falls back to pink noise.
    """

    config: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.config is None:
            self.config = AugmentConfig()
        self.rng = np.random.default_rng(self.seed)
        self._pool: list[np.ndarray] = []

    def __call__(self, audio: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        audio, motion = _check(audio, motion)
        cfg, rng = self.config, self.rng
        clean = audio
        if rng.random() < cfg.speed_p:
            audio, motion = change_speed(audio, motion, rng.uniform(*cfg.speed_range))
        if rng.random() < cfg.pitch_p:
            audio = shift_pitch(audio, rng.uniform(*cfg.pitch_semitones))
        if rng.random() < cfg.reverb_p:
            audio = reverb(audio, synthetic_rir(rng.uniform(*cfg.rt60_range), rng))
        if rng.random() < cfg.noise_p and cfg.noise_kinds:
            kind = cfg.noise_kinds[int(rng.integers(len(cfg.noise_kinds)))]
            audio = add_noise(audio, self._noise(kind, len(audio)), rng.uniform(*cfg.snr_range))
        if rng.random() < cfg.bandlimit_p:
            audio = telephone(audio) if rng.random() < 0.5 else lowpass(audio, rng.uniform(*cfg.lowpass_range))
        if rng.random() < cfg.codec_p:
            audio = mu_law(audio) if rng.random() < 0.5 else low_bitrate(audio, rng)
        if rng.random() < cfg.gain_p:
            audio = gain(audio, rng.uniform(*cfg.gain_db_range))
        self._remember(clean)
        return audio.astype(np.float32), motion.astype(np.float32)

    def _noise(self, kind: str, n: int) -> np.ndarray:
        if kind == "white":
            return white_noise(n, self.rng)
        if kind == "pink" or len(self._pool) < 2:
            return pink_noise(n, self.rng)
        return babble(self._pool, n, self.rng)

    def _remember(self, audio: np.ndarray) -> None:
        self._pool.append(audio.copy())
        del self._pool[:-self.config.babble_pool]


def _check(audio: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    audio = np.asarray(audio, dtype=np.float32)
    motion = np.asarray(motion, dtype=np.float32)
    if audio.ndim != 1 or len(audio) == 0:
        raise CorpusError(f"augment needs non-empty mono audio, got shape {audio.shape}")
    if motion.ndim != 2 or len(motion) != frame_count(len(audio)):
        raise CorpusError(f"augment needs motion of {frame_count(len(audio))} frames for "
                          f"{len(audio)} samples, got shape {motion.shape}")
    return audio, motion


# -- timing --------------------------------------------------------------------------------------


def change_speed(audio: np.ndarray, motion: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Play `factor` times faster (tempo and pitch), and stretch the motion to the new length."""
    if not factor > 0:
        raise CorpusError(f"speed factor must be positive, got {factor}")
    out = soxr.resample(audio, SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ").astype(np.float32)
    if len(out) == 0:
        out = np.zeros(1, np.float32)
    return out, stretch_motion(motion, frame_count(len(out)), factor)


def stretch_motion(motion: np.ndarray, n_frames: int, factor: float) -> np.ndarray:
    """Resample (T, C) motion so new frame k shows the old pose at time k * factor / fps."""
    old_t = np.arange(len(motion)) / FPS
    new_t = np.minimum(np.arange(n_frames) * factor / FPS, old_t[-1])
    return np.stack([np.interp(new_t, old_t, motion[:, c]) for c in range(motion.shape[1])], axis=1)


def shift_pitch(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Raise pitch by `semitones` keeping the length: resample, then WSOLA back to the duration."""
    ratio = 2.0 ** (semitones / 12.0)
    shifted = soxr.resample(audio, SAMPLE_RATE * ratio, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return time_stretch(shifted, len(audio))


def time_stretch(audio: np.ndarray, n_out: int, win: int = 480, tolerance: int = 160) -> np.ndarray:
    """WSOLA: `n_out` samples with the local waveform of `audio` (pitch kept, tempo changed).

    Output frames of `win` samples at hop win/2 are taken from the input near the matching
    time, shifted by up to `tolerance` samples to continue the previous frame's waveform best.
    """
    hop = win // 2
    window = np.hanning(win).astype(np.float32)
    src = np.concatenate([np.zeros(tolerance, np.float32), audio, np.zeros(win + 2 * tolerance, np.float32)])
    out = np.zeros(n_out + win, np.float32)
    norm = np.zeros(n_out + win, np.float32)
    rate = len(audio) / max(n_out, 1)
    prev = tolerance  # where the natural continuation of the last frame starts in `src`
    for k in range(0, n_out, hop):
        centre = tolerance + int(round(k * rate))
        lo, hi = max(centre - tolerance, 0), min(centre + tolerance, len(src) - win - hop)
        if k and hi > lo:
            want = src[prev + hop: prev + hop + win]
            region = src[lo: hi + win]
            score = np.correlate(region, want, mode="valid")
            best = lo + int(np.argmax(score))
        else:
            best = centre
        out[k:k + win] += src[best:best + win] * window
        norm[k:k + win] += window
        prev = best
    return (out[:n_out] / np.maximum(norm[:n_out], 1e-3)).astype(np.float32)


# -- level and noise -----------------------------------------------------------------------------


def gain(audio: np.ndarray, db: float) -> np.ndarray:
    """Scale by `db`; if that would clip, scale down to a 0.99 peak (a limiter, not distortion)."""
    out = audio * np.float32(10.0 ** (db / 20.0))
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    return out * np.float32(0.99 / peak) if peak > 0.99 else out


def power(audio: np.ndarray) -> float:
    return float(np.mean(np.square(audio, dtype=np.float64))) if len(audio) else 0.0


def add_noise(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix `noise` (cut or tiled to length) so that power(audio) / power(noise) = `snr_db` dB."""
    noise = _fit_length(np.asarray(noise, np.float32), len(audio))
    p_speech, p_noise = power(audio), power(noise)
    if p_speech == 0.0 or p_noise == 0.0:
        return audio.copy()
    scale = np.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (audio + scale * noise).astype(np.float32)


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(n, np.float32)
    return np.tile(x, -(-n // len(x)))[:n]


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise: white noise shaped by 1/sqrt(f) in the frequency domain (DC removed)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n).astype(np.float32)


def babble(pool: list[np.ndarray], n: int, rng: np.random.Generator, talkers: int = 4) -> np.ndarray:
    """A crowd: several other utterances at random offsets, each normalised, summed."""
    out = np.zeros(n, np.float32)
    for i in rng.choice(len(pool), size=min(talkers, len(pool)), replace=False):
        clip = _fit_length(pool[i], n + len(pool[i]))
        start = int(rng.integers(len(pool[i])))
        piece = clip[start:start + n]
        out += piece / np.float32(np.sqrt(power(piece)) + 1e-8)
    return out


# -- rooms and channels --------------------------------------------------------------------------


def synthetic_rir(rt60: float, rng: np.random.Generator, direct: float = 1.0) -> np.ndarray:
    """Room impulse response: a direct path, then noise decaying by 60 dB over `rt60` seconds.

    The direct path stays at sample 0, so reverberated speech is not delayed against the motion.
    """
    n = max(int(rt60 * SAMPLE_RATE), 16)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000): 60 dB in amplitude
    tail[: int(0.002 * SAMPLE_RATE)] = 0.0                      # first reflections arrive after ~2 ms
    rir = tail / (np.sqrt(np.sum(tail ** 2)) + 1e-12) * 0.7
    rir[0] = direct
    return rir.astype(np.float32)


def reverb(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with `rir`, keep the original length and loudness (RMS)."""
    from scipy import signal  # imported when used: scipy.signal alone takes a second to load
    wet = signal.fftconvolve(audio, rir)[: len(audio)]
    return (wet * np.sqrt(power(audio) / max(power(wet), 1e-12))).astype(np.float32)


def bandpass(audio: np.ndarray, low: float | None, high: float | None, order: int = 6) -> np.ndarray:
    """Butterworth high-, low- or band-pass (zero-phase, so no delay against the motion)."""
    from scipy import signal
    if low and high:
        sos = signal.butter(order, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    elif high:
        sos = signal.butter(order, high, btype="lowpass", fs=SAMPLE_RATE, output="sos")
    elif low:
        sos = signal.butter(order, low, btype="highpass", fs=SAMPLE_RATE, output="sos")
    else:
        return audio.copy()
    if len(audio) <= 3 * (2 * len(sos) + 1):
        return audio.copy()
    return signal.sosfiltfilt(sos, audio).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """The classic 300-3400 Hz telephone band."""
    return bandpass(audio, 300.0, 3400.0)


def lowpass(audio: np.ndarray, cutoff: float) -> np.ndarray:
    return bandpass(audio, None, min(cutoff, 0.45 * SAMPLE_RATE))


def mu_law(audio: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """G.711-style companding: compress, quantise to 2**bits levels, expand."""
    peak = float(np.max(np.abs(audio))) or 1.0
    x = np.clip(audio / peak, -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    levels = 2 ** (bits - 1)
    y = np.round(y * levels) / levels
    x = np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu
    return (x * peak).astype(np.float32)


def low_bitrate(audio: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float] = (15.0, 30.0)) -> np.ndarray:
    """A cheap voice codec: 8 kHz round trip (4 kHz bandwidth) plus quantisation-like noise."""
    narrow = soxr.resample(soxr.resample(audio, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)
    narrow = _fit_length(narrow.astype(np.float32), len(audio))
    noise = bandpass(white_noise(len(audio), rng), None, 3800.0)
    return add_noise(narrow, noise, rng.uniform(*snr_db))
