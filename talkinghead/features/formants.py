"""First-formant (F1) tracking by linear prediction, for mouth-opening cues.

F1 is the resonance of the cavity behind the narrowest constriction; it rises as the jaw and
lips open (about 300 Hz for "ee"/"oo", 700-900 Hz for "ah"), whatever the speaker's pitch. Here
it is estimated the textbook way: pre-emphasis, a Hamming window, the autocorrelation method of
LPC, the roots of the predictor polynomial, and F1 = the lowest sharp resonance above the voice
bar. A frame only counts as voiced where its waveform is periodic at a speech pitch, since
noise and fricatives have no formants to follow.

Every estimate depends only on the samples around its own time (absolute times in, no state),
so a stream that hands in the audio around each frame gets the same numbers as a batch run.
"""

from __future__ import annotations

from functools import wraps
from typing import Callable

import numpy as np

SAMPLE_RATE = 16000
ORDER = 18            # LPC order at 16 kHz: 2 poles per kHz (8 formants) + 2 for the source
WINDOW = 0.03         # seconds of the LPC window (a few pitch periods)
F1_RANGE = (200.0, 1200.0)   # Hz: below is the voice bar / nasal murmur, above is F2 land
MAX_BANDWIDTH = 500.0        # Hz: wider poles are spectral tilt, not resonances
PITCH_RANGE = (60.0, 400.0)  # Hz: lags searched for periodicity
VOICING_WINDOW = 0.04        # seconds: two and a half periods at 60 Hz
VOICED = 0.45                # periodicity above which a frame counts as voiced (as in Praat)
SUBFRAMES = (-0.015, -0.005, 0.005, 0.015)   # seconds: F1 positions within one 40 ms video frame
BLOCK = 1024          # times analysed per batch of windows: bounds memory on long inputs


def in_blocks(analysis: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Run a per-time analysis `f(audio, times, ...)` on BLOCK times at a time.

    Each estimate depends only on the samples around its own time, so blocks give the same
    numbers as one call, while the (times x window) matrices stay a few MB instead of growing
    with the input (a 10-minute file has 60,000 F1 positions).
    """
    @wraps(analysis)
    def blocked(audio: np.ndarray, times: np.ndarray, *args, **kwargs) -> np.ndarray:
        times = np.asarray(times, np.float64)
        if len(times) <= BLOCK:
            return analysis(audio, times, *args, **kwargs)
        return np.concatenate([analysis(audio, times[i:i + BLOCK], *args, **kwargs)
                               for i in range(0, len(times), BLOCK)])
    return blocked


def windows_at(audio: np.ndarray, times: np.ndarray, length: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(len(times), length) samples centred on each time; zeros outside the signal."""
    centres = np.round(np.asarray(times) * sr).astype(int)
    idx = centres[:, None] + np.arange(-(length // 2), length - length // 2)[None]
    inside = (idx >= 0) & (idx < len(audio))
    if not len(audio):
        return np.zeros(idx.shape)
    return np.where(inside, audio[np.clip(idx, 0, len(audio) - 1)].astype(np.float64), 0.0)


def lpc_predictors(frames: np.ndarray, order: int = ORDER) -> tuple[np.ndarray, np.ndarray]:
    """Predictor coefficients (n, order) of pre-emphasised, windowed frames (n, length) by the
    autocorrelation method, and which frames had energy to analyse (n,) bool.

    Levinson-Durbin runs on all frames at once (order steps of array arithmetic), which solves
    the same Toeplitz normal equations as a per-frame solver at a small fraction of the cost.
    """
    length = frames.shape[1]
    r = np.stack([np.einsum("ij,ij->i", frames[:, :length - k], frames[:, k:])
                  for k in range(order + 1)], axis=1)
    ok = r[:, 0] > 1e-9
    r = r[ok]
    r[:, 0] *= 1.0 + 1e-4                   # a little white noise: keeps the system well posed
    a = np.zeros((len(r), order))
    err = r[:, 0].copy()
    for i in range(order):
        k = (r[:, i + 1] - np.einsum("nj,nj->n", a[:, :i], r[:, i:0:-1])) / err
        a[:, :i] -= k[:, None] * a[:, i - 1::-1] if i else 0.0
        a[:, i] = k
        err *= 1.0 - k * k
    return a, ok


def lpc_resonances(a: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, bandwidths) in Hz, (n, order) each, of the poles of predictors a (n, order),
    sorted by frequency; NaN for real poles and the lower half-plane twins."""
    n, order = a.shape
    companion = np.zeros((n, order, order))
    companion[:, 0] = a
    companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    roots = np.linalg.eigvals(companion)          # the roots of z^p - a1 z^(p-1) - ... - ap
    upper = np.imag(roots) > 1e-9
    freqs = np.where(upper, np.angle(roots) * sr / (2 * np.pi), np.nan)
    bws = np.where(upper, -np.log(np.maximum(np.abs(roots), 1e-9)) * sr / np.pi, np.nan)
    order_ = np.argsort(freqs, axis=1)             # NaN sorts last
    return np.take_along_axis(freqs, order_, 1), np.take_along_axis(bws, order_, 1)


@in_blocks
def first_formant(audio: np.ndarray, times: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """F1 in Hz at each time: the lowest sharp LPC resonance in F1_RANGE (NaN where none is)."""
    length = round(WINDOW * sr)
    frames = windows_at(audio, times, length + 1, sr)
    frames = (frames[:, 1:] - 0.97 * frames[:, :-1]) * np.hamming(length)
    out = np.full(len(times), np.nan)
    a, analysed = lpc_predictors(frames, ORDER)
    if not len(a):
        return out
    freqs, bws = lpc_resonances(a, sr)
    with np.errstate(invalid="ignore"):
        ok = (freqs > F1_RANGE[0]) & (freqs < F1_RANGE[1]) & (bws < MAX_BANDWIDTH)
    first = np.argmax(ok, axis=1)
    found = ok[np.arange(len(ok)), first]
    rows = np.flatnonzero(analysed)
    out[rows[found]] = freqs[found, first[found]]
    return out


@in_blocks
def periodicity(audio: np.ndarray, times: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Peak normalised autocorrelation over speech pitch lags, 0..1 (voiced speech ~0.5-0.95)."""
    length = round(VOICING_WINDOW * sr)
    frames = windows_at(audio, times, length, sr)
    frames = frames - frames.mean(axis=1, keepdims=True)
    lo, hi = int(sr / PITCH_RANGE[1]), int(sr / PITCH_RANGE[0])
    nfft = 1 << int(np.ceil(np.log2(2 * length)))
    spec = np.fft.rfft(frames, nfft, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=1)[:, :hi + 1]
    # Unbiased: divide by the overlap so long lags are not penalised by the window.
    ac = ac / (length - np.arange(hi + 1))[None]
    energy = ac[:, :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(energy > 1e-12, ac[:, lo:] / energy, 0.0)
    return np.clip(norm.max(axis=1), 0.0, 1.0)


def frame_f1(audio: np.ndarray, times: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """F1 of each video frame: the median over four positions 10 ms apart (NaN if none has one).

    One 40 ms video frame spans several glottal cycles and often a formant transition; the
    median of four short analyses is steadier than one long one, and ignores a single frame
    where the lowest pole is a nasal or tracheal resonance.
    """
    times = np.asarray(times, np.float64)
    sub = (times[:, None] + np.asarray(SUBFRAMES)[None]).ravel()
    f1 = first_formant(audio, sub, sr).reshape(len(times), len(SUBFRAMES))
    out = np.full(len(times), np.nan)
    some = np.isfinite(f1).any(axis=1)
    out[some] = np.nanmedian(f1[some], axis=1)
    return out


@in_blocks
def band_level(audio: np.ndarray, times: np.ndarray, band: tuple[float, float],
               sr: int = SAMPLE_RATE, floor_db: float = -70.0) -> np.ndarray:
    """Energy in `band` (Hz) of the 25 ms around each time, in dB re full scale (>= floor_db)."""
    win, nfft = round(0.025 * sr), 512
    freqs = np.fft.rfftfreq(nfft, 1 / sr)
    keep = (freqs >= band[0]) & (freqs < band[1])
    frames = windows_at(audio, times, win, sr) * np.hanning(win)
    power = (np.abs(np.fft.rfft(frames, nfft, axis=1))[:, keep] ** 2).sum(axis=1)
    power *= 2.0 / (nfft * (np.hanning(win) ** 2).sum())   # Parseval: mean square of the band
    return np.maximum(10 * np.log10(power + 1e-12), floor_db)


class F1Norm:
    """Running speaker normalisation of F1 (Lobanov z-score), causal so a stream can use it.

    Speakers differ: a typical female F1 is 15-20 % above a male one, and a tracker's bias
    depends on the voice. The z-score of frame k uses the voiced frames before k plus a prior
    of `PRIOR_FRAMES` frames at a typical mean and spread, so the first second of speech is
    normalised sensibly and later frames by the speaker's own statistics.
    """

    PRIOR_MEAN = 500.0     # Hz: mid F1 of adult speech
    PRIOR_SD = 150.0       # Hz: its spread over vowels
    PRIOR_FRAMES = 50.0    # weight of the prior, in frames (2 s at 25 fps)
    MIN_SD = 50.0

    def __init__(self, frame: int = 0) -> None:
        self.frame = int(frame)   # the next frame index to be added
        self.count = self.PRIOR_FRAMES
        self.total = self.PRIOR_FRAMES * self.PRIOR_MEAN
        self.squares = self.PRIOR_FRAMES * (self.PRIOR_MEAN ** 2 + self.PRIOR_SD ** 2)

    def zscore(self, f1: np.ndarray, voiced: np.ndarray, commit: int) -> np.ndarray:
        """z of consecutive frames self.frame.. (NaN stays NaN); the first `commit` are then added.

        Each frame is scored with the statistics of the frames before it only.
        """
        use = voiced & np.isfinite(f1)
        x = np.where(use, f1, 0.0)
        before = lambda v: np.concatenate([[0.0], np.cumsum(v)[:-1]])   # noqa: E731
        n = self.count + before(use.astype(np.float64))
        mean = (self.total + before(x)) / n
        var = (self.squares + before(x ** 2)) / n - mean ** 2
        z = (f1 - mean) / np.sqrt(np.maximum(var, self.MIN_SD ** 2))
        commit = int(np.clip(commit, 0, len(f1)))
        self.count += float(use[:commit].sum())
        self.total += float(x[:commit].sum())
        self.squares += float((x[:commit] ** 2).sum())
        self.frame += commit
        return z
