"""DH_live's log-mel filterbank front end: 80 bins, 50 ms windows every 20 ms.

Two rates exist because DH_live has two generations of its audio model: v1 (and our own models)
read 16 kHz audio directly; the mini 2.0 checkpoint was trained on audio FFT-resampled to 8 kHz.
Both use kaldi-native-fbank's `OnlineFbank` with the options of spec-dhlive §2.3 and, like the
original, never flush the extractor: a frame exists only once its whole window is inside the
signal. Feeding the same samples in any chunking yields the same frames, so the offline call is
simply the stream run once.
"""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np
import scipy.fft
import soxr

from ..errors import AudioError

NUM_BINS = 80
FRAME_LENGTH_MS = 50.0
FRAME_SHIFT_MS = 20.0
SUPPORTED_RATES = (16000, 8000)


def fbank_options(sample_rate: int) -> knf.FbankOptions:
    """kaldi-native-fbank options of spec §2.3 (the library defaults cover the rest: Povey window,
    pre-emphasis 0.97, DC removal, power spectrum, 20 Hz..Nyquist, log floor FLT_EPSILON)."""
    if sample_rate not in SUPPORTED_RATES:
        raise AudioError(f"fbank supports {SUPPORTED_RATES} Hz, got {sample_rate}")
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = float(sample_rate)
    opts.frame_opts.frame_length_ms = FRAME_LENGTH_MS
    opts.frame_opts.frame_shift_ms = FRAME_SHIFT_MS
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = False
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.window_type = "povey"
    opts.mel_opts.num_bins = NUM_BINS
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 0.0
    opts.use_energy = False
    return opts


def check_samples(samples: np.ndarray) -> np.ndarray:
    """1-D finite float32 audio, or an AudioError naming what is wrong."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise AudioError(f"audio must be 1-D mono samples, got shape {samples.shape}")
    if not np.issubdtype(samples.dtype, np.floating):
        raise AudioError(f"audio must be float samples in [-1, 1], got dtype {samples.dtype}")
    samples = samples.astype(np.float32, copy=False)
    if not np.isfinite(np.sum(samples, dtype=np.float64)):  # one pass; NaN/inf survive a sum
        raise AudioError("audio contains NaN or infinity")
    return samples


class FbankStream:
    """Feed audio chunks at `sample_rate`, get the filterbank frames that became ready."""

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self._fbank = knf.OnlineFbank(fbank_options(sample_rate))
        self.frames_out = 0  # frames returned so far (= index of the next frame)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Append samples; return the (n, 80) float32 frames now complete."""
        return self.push(check_samples(samples))

    def push(self, samples: np.ndarray) -> np.ndarray:
        """`feed` for samples already through `check_samples` (saves a pass in hot loops)."""
        if samples.size:
            # a list converts ~10x faster than an ndarray through the binding's Sequence[float]
            self._fbank.accept_waveform(self.sample_rate, samples.tolist())
        return self._collect()

    def flush(self) -> np.ndarray:
        """Declare the end (reflecting the last samples) and return the final frames.

        The original never does this; it exists for callers that want every frame."""
        self._fbank.input_finished()
        return self._collect()

    def _collect(self) -> np.ndarray:
        ready = self._fbank.num_frames_ready
        first = self.frames_out
        out = np.empty((ready - first, NUM_BINS), np.float32)
        for i in range(first, ready):
            out[i - first] = self._fbank.get_frame(i)
        if ready > first:
            self._fbank.pop(ready - first)  # keep memory flat in long streams
        self.frames_out = ready
        return out


def fbank(samples: np.ndarray, sample_rate: int = 16000, flush: bool = False) -> np.ndarray:
    """All filterbank frames of a clip (F, 80) float32; without `flush` exactly the frames the
    original's never-flushed extractor has ready (149 for 3 s at either rate)."""
    stream = FbankStream(sample_rate)
    frames = stream.feed(samples)
    return np.concatenate([frames, stream.flush()]) if flush else frames


# -- the mini 2.0 8 kHz path ----------------------------------------------------------------

def resample_8k(wav: np.ndarray) -> np.ndarray:
    """16 kHz -> 8 kHz exactly as `scipy.signal.resample(wav, len(wav) // 2)` (spec §2.2).

    FFT method, no window, float64: keep bins 0..m/2 of the input spectrum (doubling bin m/2
    when m is even), scale by m/n, inverse real FFT of length m. Works on int16 values or floats.
    """
    x = np.asarray(wav, dtype=np.float64)
    if x.ndim != 1:
        raise AudioError(f"audio must be 1-D mono samples, got shape {x.shape}")
    n, m = x.size, x.size // 2
    if m == 0:
        return np.zeros(0, np.float64)
    spectrum = scipy.fft.rfft(x)[: m // 2 + 1].copy()  # scipy's FFT: bit-equal to the original
    if m % 2 == 0:
        spectrum[m // 2] *= 2.0
    return scipy.fft.irfft(spectrum * (m / n), n=m)


def mini_samples(wav_int16: np.ndarray) -> np.ndarray:
    """What DH_live mini 2.0 hands to its 8 kHz filterbank: float32(resample(int16)) / 32768."""
    wav_int16 = np.asarray(wav_int16)
    if wav_int16.dtype != np.int16:
        raise AudioError(f"the mini 8 kHz path reads 16-bit PCM, got dtype {wav_int16.dtype}")
    return resample_8k(wav_int16).astype(np.float32) / np.float32(32768.0)


def mini_fbank(wav_int16: np.ndarray) -> np.ndarray:
    """The mini 2.0 offline front end: 16 kHz int16 -> FFT resample -> 8 kHz fbank (F, 80)."""
    return fbank(mini_samples(wav_int16), 8000)


def from_int16(wav_int16: np.ndarray) -> np.ndarray:
    """16-bit PCM -> float32 in [-1, 1) as DH_live reads WAVs: int16 / 32768 (spec §2.1)."""
    wav_int16 = np.asarray(wav_int16)
    if wav_int16.dtype != np.int16:
        raise AudioError(f"expected 16-bit PCM samples, got dtype {wav_int16.dtype}")
    return wav_int16.astype(np.float32) / np.float32(32768.0)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float [-1, 1) -> int16 as a 16-bit WAV writer would store it (round, clip)."""
    scaled = np.round(check_samples(samples).astype(np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


class Resample8kStream:
    """Streaming 16 -> 8 kHz for the mini path (soxr, high quality).

    The original's FFT resampler needs the whole clip, so a stream cannot reproduce it bit for
    bit. soxr (delay compensated) differs almost only in the top mel bin (~3.8-4 kHz), where
    its anti-alias filter rolls off: on the fixture clip bins 0-78 move by ~0.005 on average,
    bin 79 by ~3, and the mini LSTM outputs by < 1e-3. Output is float32 on the [-1, 1] scale.
    """

    def __init__(self) -> None:
        self._soxr = soxr.ResampleStream(16000, 8000, 1, dtype="float64", quality="HQ")

    def feed(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        return self.push(check_samples(samples), last)

    def push(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """`feed` for checked float32 samples."""
        return self._soxr.resample_chunk(samples.astype(np.float64), last=last).astype(np.float32)


class DHLiveFbankStream:
    """16 kHz audio in, the filterbank frames of one DH_live variant out (16 kHz or mini 8 kHz)."""

    def __init__(self, sample_rate: int = 16000) -> None:
        self._resampler = Resample8kStream() if sample_rate == 8000 else None
        self._fbank = FbankStream(sample_rate)

    def feed(self, samples_16k: np.ndarray, last: bool = False) -> np.ndarray:
        """Feed 16 kHz audio; `last` drains the resampler (the filterbank itself stays unflushed)."""
        return self.push(check_samples(samples_16k), last)

    def push(self, samples_16k: np.ndarray, last: bool = False) -> np.ndarray:
        """`feed` for checked float32 samples."""
        if self._resampler is not None:
            samples_16k = self._resampler.push(samples_16k, last)
        return self._fbank.push(samples_16k)
