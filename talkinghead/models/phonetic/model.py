"""`PhoneticModel`: audio (and optionally text or phones) -> ARKit motion, with no training.

Phones come from the caller (a TTS engine knows them exactly), from forced alignment when the
text is known, or from phone recognition otherwise (any language, see align.py). They become
viseme targets blended by dominance functions (coarticulation.py), sampled at 25 fps a little
ahead of the sound (`lead`: lips move before the sound they make), plus blinks and head motion
(idle.py).

With audio at hand, the jaw also follows an acoustic cue (`opening_cue`): the first formant,
tracked by LPC (features/formants.py) and z-scored by the speaker's own running statistics (F1
rises as the jaw opens), weighted by a syllable-nucleus envelope (sonorant level relative to the
surrounding 360 ms), gated by loudness so that silence stays closed; the mouth curves are then
smoothed by a small Gaussian. The speaker statistics are causal (frame k uses the voiced frames
before it, plus a prior), so batch and stream compute the same numbers; the stream carries them
in `PhoneticStream.norm`.

Streaming (`stream()`): audio is cut at pauses, or every `max_segment` seconds (2 s by default)
when nobody pauses, and each piece is recognised as soon as it is complete. A frame is final
once every phone that can reach it is known: `SUPPORT` (0.3 s) plus the smoothing pad (0.2 s)
plus `lead` (its phones are sampled that far ahead) before the end of the last decoded piece.
Latency is therefore at most max_segment + 0.5 s of audio with the defaults (about 2.5 s),
plus decoding time, and less whenever the speaker pauses. Documented difference to `predict`: a forced cut (no pause within
max_segment) decodes the two sides separately (with 0.5 s of left context), so phones near it
may differ. With cuts only at pauses, or with `stream(max_segment=MAX_SEGMENT)`, stream and
batch agree exactly. The stream always recognises (text alignment needs the whole clip).

Without recognition (`recognize=False`, the model named "acoustic"): no phones unless the caller
gives them, so the mouth follows the acoustic cue alone (jaw only: no lip rounding or p/b/m
closures). It works for any language, costs about 20 ms per second of audio instead of the
recogniser's ~0.8 s, and streams with ACOUSTIC_LATENCY (0.37 s) of latency; stream and batch agree
exactly. On the dev set it scores about as well as the recognising model did before its F1 cue.
"""

from __future__ import annotations

import numpy as np

from ...audio.io import check_chunk, check_rate
from ...errors import AlignmentError, AudioError
from ...motion import ARKIT52_CHANNELS, Motion
from ...features.formants import F1Norm, VOICED, band_level, frame_f1, periodicity
from ..base import FPS, SAMPLE_RATE, frame_count
from . import align as aligner
from .coarticulation import SUPPORT, Target, blend, closure_share, frame_times, targets
from .idle import HeadMotion, blink_curve, loudness
from .phones import Phone

LEAD = 0.04           # seconds the mouth runs ahead of the audio
STREAM_SEGMENT = 2.0   # longest piece the stream waits for before decoding
MAX_HOLD = 0.45        # seconds: a "phone" held longer is a steady noise, not speech; rest after it
SMOOTH = 1.5           # frames: Gaussian smoothing of the mouth curves (muscles are not instant)
FORMANT_GAIN = 0.8     # jawOpen added per 4 units of the opening cue (see `opening_cue`)
CUE = "f1"             # "f1": LPC first formant x syllable envelope; "centroid": the older cue
NUCLEUS_BAND = (300.0, 1200.0)   # Hz: sonorant energy of the F1 region (nasal murmur lies below)
NUCLEUS_SPAN = 3       # frames each side of the local mean level (~a syllable; 4 scored the same, 40 ms later)
NUCLEUS_DB = 10.0      # dB above the local mean that doubles the cue (typical syllable depth)
JAW_SCALE = 0.75       # conversational speech opens the jaw well short of ARKit's maximum (1.0)
_PAD = 4               # frames each side the smoothing reads (2.7 sigma; 5 scored the same, 40 ms later)
# Audio a frame's acoustic cue reads beyond its own time: the syllable window, plus the widest
# analysis window (40 ms of periodicity, centred) and the F1 subframes (+15 ms, 30 ms windows).
ACOUSTIC_SUPPORT = NUCLEUS_SPAN / FPS + 0.05
ACOUSTIC_LATENCY = ACOUSTIC_SUPPORT + _PAD / FPS + LEAD   # frame time -> audio it waits for
_KERNEL = np.exp(-0.5 * (np.arange(-_PAD, _PAD + 1) / SMOOTH) ** 2)
_KERNEL /= _KERNEL.sum()


class PhoneticModel:
    """Rule-based motion model on the arkit52 rig (see the module docstring)."""

    rig = "arkit52"
    channels = ARKIT52_CHANNELS

    def __init__(self, lead: float = LEAD, seed: int = 0, idle: bool = True,
                 recognize: bool = True) -> None:
        self.lead = float(lead)
        self.seed = int(seed)
        self.idle = bool(idle)
        self.recognize = bool(recognize)   # False: no phones from audio alone (see module doc)
        self._mouth = tuple(c for c in ARKIT52_CHANNELS if c.startswith(("jaw", "mouth", "tongue", "cheek")))
        self._mouth_cols = [ARKIT52_CHANNELS.index(c) for c in self._mouth]

    # -- batch -----------------------------------------------------------------------------

    def predict(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, text: str | None = None,
                phones: list[Phone] | None = None) -> Motion:
        """Motion covering exactly frame_count(len(audio at 16 kHz)) frames.

        Phones given -> used as they are; text given -> forced alignment; neither -> recognition
        (or, with recognize=False, no phones: the acoustic cue alone).
        """
        audio = prepare_audio(audio, sample_rate)
        if phones is None:
            if text:
                phones = aligner.align(audio, text)
            else:
                phones = aligner.recognize(audio) if self.recognize else []
        return self.from_phones(phones, frame_count(len(audio)), audio)

    def from_phones(self, phones: list[Phone], n_frames: int, audio: np.ndarray | None = None) -> Motion:
        """Motion of `n_frames` frames from timed phones.

        `audio` (16 kHz, optional) refines vowel opening by its spectrum and drives the nods.
        """
        phones = check_phones(phones)
        if not isinstance(n_frames, (int, np.integer)) or n_frames < 0:
            raise AlignmentError(f"n_frames must be a non-negative integer, got {n_frames!r}")
        if audio is not None:
            audio = prepare_audio(audio, SAMPLE_RATE)
        values = self._frames(targets(cap_held(phones)), 0, int(n_frames), HeadMotion(self.seed),
                              audio, phones)
        return Motion(values, self.channels, self.rig, FPS)

    def _frames(self, tgs: list[Target], start: int, n: int, head: HeadMotion,
                audio: np.ndarray | None, phones: list[Phone] | None = None,
                audio_offset: int = 0, norm: "F1Norm | None" = None) -> np.ndarray:
        """Frames start..start+n-1: mouth from targets (+ audio), eyes and head from idle."""
        values = np.zeros((n, len(self.channels)), np.float32)
        if n == 0:
            return values
        first = start - round(audio_offset * FPS / SAMPLE_RATE)   # frame index within `audio`
        values[:, self._mouth_cols] = self._mouth_curves(tgs, start, n, audio, first, norm)
        if self.idle:
            blink = blink_curve(n, self.seed, FPS, start)
            values[:, self.channels.index("eyeBlinkLeft")] = blink
            values[:, self.channels.index("eyeBlinkRight")] = blink
            loud = loudness(audio, n, first) if audio is not None else speech_activity(phones or [], n, start)
            rot = head(loud)
            for j, name in enumerate(("headPitch", "headYaw", "headRoll")):
                values[:, self.channels.index(name)] = rot[:, j]
        return values

    def _mouth_curves(self, tgs: list[Target], start: int, n: int, audio: np.ndarray | None,
                      first: int, norm: "F1Norm | None" = None) -> np.ndarray:
        """Blend targets on frames widened by the smoothing pad, add the formant term, smooth.

        `norm` holds the speaker statistics of frames before start - _PAD (a stream's state);
        None = a fresh one, right for a batch call from frame 0.
        """
        raw = blend(tgs, frame_times(n + 2 * _PAD, FPS, self.lead, start - _PAD), self._mouth)
        if audio is not None and FORMANT_GAIN:
            # Gated by loudness, not by phones: it also opens the mouth where the recogniser
            # missed a vowel, and keeps it shut in real silence.
            wide = n + 2 * _PAD
            voiced = np.clip((loudness(audio, wide, first - _PAD) - 0.2) / 0.2, 0.0, 1.0)
            if norm is None:
                norm = F1Norm(start - _PAD)
            cue = (opening_cue(audio, wide, first - _PAD, self.lead, norm, n) + 2.0) / 4.0
            raw[:, self._mouth.index("jawOpen")] += FORMANT_GAIN * voiced * cue
        smooth = np.stack([np.convolve(raw[:, c], _KERNEL, mode="valid") for c in range(raw.shape[1])], 1)
        # Smoothing must not fill in a p/b/m: where closures dominate, keep the sharp curve.
        keep = np.clip(1.5 * closure_share(tgs, frame_times(n, FPS, self.lead, start)), 0.0, 1.0)
        mixed = keep[:, None] * raw[_PAD:_PAD + n] + (1.0 - keep[:, None]) * smooth
        mixed[:, self._mouth.index("jawOpen")] *= JAW_SCALE
        return np.clip(mixed, 0.0, 1.0)

    # -- streaming -------------------------------------------------------------------------

    def stream(self, max_segment: float = STREAM_SEGMENT) -> "PhoneticStream":
        """A fresh streaming state (recognition only; text alignment needs the whole clip)."""
        return PhoneticStream(self, max_segment)


class PhoneticStream:
    """Feed 16 kHz audio chunks, get final (n, C) frames; see the module docstring for latency."""

    def __init__(self, model: PhoneticModel, max_segment: float) -> None:
        if not 0.5 <= max_segment <= aligner.MAX_SEGMENT:
            raise AudioError(f"max_segment must be within 0.5..{aligner.MAX_SEGMENT} s, got {max_segment}")
        self.model = model
        self.segmenter = aligner.Segmenter(max_segment=max_segment)
        self.head = HeadMotion(model.seed)
        self.norm = F1Norm(-_PAD)   # speaker statistics of the frames already passed
        self.buffer = np.zeros(0, np.float32)   # audio from sample `offset` on
        self.offset = 0
        self.total = 0            # samples received
        self.decoded = 0          # samples whose phones are known
        self.forced = False       # does the next piece start at a forced cut?
        self.targets: list[Target] = []
        self.emitted = 0          # frames returned so far
        self.closed = False

    def feed(self, audio: np.ndarray) -> np.ndarray:
        if self.closed:
            raise AudioError("stream already flushed; start a new one with model.stream()")
        chunk = prepare_audio(audio, SAMPLE_RATE)
        self.buffer = np.concatenate([self.buffer, chunk])
        self.total += len(chunk)
        if not self.model.recognize:   # nothing to decode: frames wait for their audio only
            self.decoded = self.total
            final = (self.decoded / SAMPLE_RATE - ACOUSTIC_SUPPORT - self.model.lead) * FPS - _PAD
            return self._emit(min(int(np.floor(final)), frame_count(self.total)))
        for cut, forced in self.segmenter.feed(chunk):
            if cut > self.decoded:
                self._decode(cut)
                self.forced = forced
        final = (self.decoded / SAMPLE_RATE - SUPPORT - self.model.lead) * FPS - _PAD
        return self._emit(min(int(np.ceil(final)), frame_count(self.total)))

    def flush(self) -> np.ndarray:
        if self.closed:
            raise AudioError("stream already flushed; start a new one with model.stream()")
        if self.total > self.decoded and self.model.recognize:
            self._decode(self.total)
        self.closed = True
        return self._emit(frame_count(self.total))

    def _decode(self, end: int) -> None:
        context = round(aligner.CONTEXT * SAMPLE_RATE) if self.forced else 0
        phones = aligner.recognize_words(self.buffer, self.decoded - self.offset,
                                         end - self.offset, context)
        shift = self.offset / SAMPLE_RATE
        phones = [Phone(p.symbol, p.start + shift, p.end + shift, p.alphabet) for p in phones]
        self.targets += targets(cap_held(phones))
        self.decoded = end

    def _emit(self, upto: int) -> np.ndarray:
        n = max(0, upto - self.emitted)
        values = self.model._frames(self.targets, self.emitted, n, self.head, self.buffer,
                                    audio_offset=self.offset, norm=self.norm)
        self.emitted += n
        self._trim()
        return values

    def _trim(self) -> None:
        """Forget audio and targets that no future frame can use."""
        t_next = (self.emitted - _PAD) / FPS + self.model.lead
        self.targets = [t for t in self.targets if t.centre + t.hold + SUPPORT >= t_next]
        keep_from = min(self.decoded - round(aligner.CONTEXT * SAMPLE_RATE),
                        round(((self.emitted - _PAD - NUCLEUS_SPAN) / FPS - 0.1) * SAMPLE_RATE))
        drop = max(0, keep_from - self.offset)
        drop -= drop % SAMPLE_RATE   # whole seconds, so frame centres stay on the sample grid
        if drop > 0:
            self.buffer = self.buffer[drop:]
            self.offset += drop


# -- helpers --------------------------------------------------------------------------------


def prepare_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Float32 mono 16 kHz audio, or a one-line AudioError saying what is wrong (the same rules
    as every model: `check_chunk`)."""
    audio = check_chunk(audio)
    sample_rate = check_rate(sample_rate)
    if sample_rate != SAMPLE_RATE and len(audio):
        import soxr
        audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
    return audio


def check_phones(phones: list[Phone]) -> list[Phone]:
    """Validated phones sorted by start time."""
    if not isinstance(phones, (list, tuple)) or not all(isinstance(p, Phone) for p in phones):
        raise AlignmentError("phones must be a list of Phone(symbol, start, end, alphabet)")
    for p in phones:
        if not (np.isfinite(p.start) and np.isfinite(p.end) and 0 <= p.start <= p.end):
            raise AlignmentError(f"phone {p.symbol!r} has bad times {p.start}..{p.end}")
        if p.alphabet not in ("arpabet", "espeak"):
            raise AlignmentError(f"phone {p.symbol!r} has unknown alphabet {p.alphabet!r}")
    return sorted(phones, key=lambda p: p.start)


def speech_activity(phones: list[Phone], n_frames: int, start: int = 0) -> np.ndarray:
    """1 where a non-silent phone covers a frame, else 0 (nods when no audio is at hand)."""
    from .visemes import viseme_of
    t = (start + np.arange(n_frames)) / FPS
    out = np.zeros(n_frames)
    for p in phones:
        if viseme_of(p.symbol, p.alphabet) not in (None, "sil"):
            out[(t >= p.start) & (t < p.end)] = 1.0
    return out


def cap_held(phones: list[Phone], max_hold: float = MAX_HOLD) -> list[Phone]:
    """Cut non-silent phones longer than `max_hold`: the rest of them becomes silence.

    Nobody holds a speech sound for half a second; a recogniser that reports one has matched a
    steady noise (hum, music, breath), during which real mouths rest.
    """
    from .visemes import viseme_of
    out = []
    for p in phones:
        if p.duration > max_hold and viseme_of(p.symbol, p.alphabet) not in (None, "sil"):
            out += [Phone(p.symbol, p.start, p.start + max_hold, p.alphabet),
                    Phone("SIL", p.start + max_hold, p.end)]
        else:
            out.append(p)
    return out


def formant_opening(audio: np.ndarray, n_frames: int, start: int = 0, lead: float = 0.0) -> np.ndarray:
    """Per-frame opening cue from the spectrum: the centroid of 200-1200 Hz, in standard units.

    That band holds the first formant, and F1 rises with jaw opening (about 300 Hz for "ee",
    700+ Hz for "ah"), so the centroid says how open a vowel really is, stressed or reduced,
    where the phone label only gives its category. (c - 480 Hz) / 150 Hz, clipped to +-2; the
    two constants are typical values of speech, checked on the dev set.
    """
    win, nfft = 400, 512
    freqs = np.fft.rfftfreq(nfft, 1 / SAMPLE_RATE)
    band = (freqs >= 200) & (freqs < 1200)
    centres = np.round(((start + np.arange(n_frames)) / FPS + lead) * SAMPLE_RATE).astype(int)
    idx = centres[:, None] + np.arange(-win // 2, win // 2)[None]
    valid = (idx >= 0) & (idx < len(audio))
    frames = np.where(valid, audio[np.clip(idx, 0, max(len(audio) - 1, 0))] if len(audio) else 0.0, 0.0)
    power = np.abs(np.fft.rfft(frames * np.hanning(win), n=nfft, axis=1))[:, band] ** 2 + 1e-10
    centroid = (power * freqs[band]).sum(axis=1) / power.sum(axis=1)
    return np.clip((centroid - 480.0) / 150.0, -2.0, 2.0)


def opening_cue(audio: np.ndarray, n_frames: int, start: int, lead: float, norm: F1Norm,
                commit: int | None = None) -> np.ndarray:
    """Per-frame jaw-opening cue from the sound, about -2..2 (see `CUE`); frames start.. of `audio`.

    "f1": the speaker-normalised first formant (F1 rises as the jaw opens), weighted by how far
    the frame stands above the local sonorant level: syllable nuclei, where the vowel's opening
    is reached, count double; consonant dips and weak reduced vowels count little. Loudness
    alone is a poor cue (nasals are loud with closed lips), but relative to its neighbourhood it
    says where the vowels are. `norm` is advanced by the first `commit` frames (all by default).
    """
    if CUE == "centroid":
        return formant_opening(audio, n_frames, start, lead)
    times = (start + np.arange(n_frames)) / FPS + lead
    f1 = frame_f1(audio, times)
    voiced = periodicity(audio, times) > VOICED
    z = norm.zscore(f1, voiced, n_frames if commit is None else commit)
    z = np.where(np.isfinite(z), np.clip(z, -2.0, 2.0), 0.0)
    span = np.arange(start - NUCLEUS_SPAN, start + n_frames + NUCLEUS_SPAN) / FPS + lead
    level = band_level(audio, span, NUCLEUS_BAND)
    local = np.convolve(level, np.ones(2 * NUCLEUS_SPAN + 1) / (2 * NUCLEUS_SPAN + 1), mode="valid")
    nucleus = np.clip((level[NUCLEUS_SPAN:len(level) - NUCLEUS_SPAN] - local) / NUCLEUS_DB, -1.0, 1.0)
    return np.clip(z * (1.0 + nucleus), -2.0, 2.0)
