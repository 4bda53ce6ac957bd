"""Phone timings from audio: forced alignment when the words are known, phone recognition otherwise.

Both use pocketsphinx 5 with the en-us acoustic model, cmudict and phone LM that ship inside the
wheel, so nothing is downloaded. Settings verified on these machines:

* recognition: the `allphone` search over the bundled phone LM with a wide beam. Plain defaults
  prune far too hard for phone loops and drop most of the vowels.
* alignment: no LM, no best-path pass, `set_align_text`, then a second pass for phone timings;
  with default settings pocketsphinx gives up ("Alignment failed in frame ..."), and with the
  default beams a sentence pause loses the only path, so the beams are widened.

Long audio is cut at pauses (a causal energy detector, see `Segmenter`) into pieces of at most
`max_segment` seconds; each piece is decoded on its own and its timings are offset, so memory
and beam behaviour do not depend on the clip length.

Failure policy: alignment never crashes on ordinary input. Words missing from cmudict get a
letter-to-sound guess; if the alignment itself fails the audio is recognised instead.
`AlignmentError` is raised only when recognition fails too (or the input is unusable).

Non-English audio: the acoustic model is English, so recognition still returns English phones.
They are wrong as phonemes, but they follow the mouth-relevant events of any language fairly
well: pauses come out as SIL, stop and nasal closures as P/B/M/T/K/N, open vowels as AA/AE/AH.
That is what the phonetic motion model needs, so it is used as is for every language.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...errors import AlignmentError, AudioError
from ..base import SAMPLE_RATE
from .phones import Phone

# Recognition settings (env-notes.md). lw and pip were re-checked on the dev set (see the report
# of bench_lipsync); the beams are as wide as pocketsphinx allows at this speed.
RECOGNITION = {"lw": 2.0, "pip": 0.3, "beam": 1e-200, "pbeam": 1e-20}
MAX_SEGMENT = 20.0        # seconds: longest piece handed to pocketsphinx at once
HOP = SAMPLE_RATE // 100  # 10 ms energy frames, the decoder's own frame rate
_FRATE = 100.0


def _model_dir() -> str:
    from pocketsphinx import get_model_path
    return get_model_path()


@lru_cache(maxsize=8)
def _decoder(kind: str, settings: tuple[tuple[str, float], ...] = ()):
    """A cached pocketsphinx decoder; loading the acoustic model is the slow part."""
    from pocketsphinx import Decoder
    if kind == "recognize":
        phone_lm = os.path.join(_model_dir(), "en-us", "en-us-phone.lm.bin")
        return Decoder(allphone=phone_lm, loglevel="FATAL", **dict(settings))
    if kind == "words":
        return Decoder(loglevel="FATAL")
    # Wide beams: with the defaults a pause between sentences already loses the only path.
    return Decoder(lm=None, bestpath=False, beam=1e-120, wbeam=1e-100, pbeam=1e-120, loglevel="FATAL")


def _decode(decoder, pcm: bytes) -> None:
    """One whole utterance, from fresh front-end state.

    A pocketsphinx decoder keeps its feature state (noise estimate, cepstral mean) from one
    utterance to the next, so without the reset a clip's phones would depend on whatever audio
    the cached decoder heard before (another file, another user's stream).
    """
    decoder.reinit_feat()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _check_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise AudioError(f"expected mono 16 kHz audio as a 1-D array, got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise AudioError("audio contains NaN or infinity")
    return audio


def _symbol(name: str) -> str:
    """pocketsphinx names -> ARPAbet; fillers (+NSN+, <sil>, ...) are silence for the mouth."""
    return "SIL" if not name or name[0] in "+<" or name.upper() == "SIL" else name.upper()


# -- segmentation -----------------------------------------------------------------------------


@dataclass
class Segmenter:
    """Causal energy pause detector that cuts audio into decodable pieces.

    A cut is placed in the middle of the first `min_pause` seconds of every pause (10 ms frames
    below `rel_db` under the loudest frame seen so far, and below an absolute floor), or, when no
    pause comes, at the quietest frame of the last `search` seconds once a piece reaches
    `max_segment`. Every decision uses only audio already seen, so running it over a whole clip
    or over streamed chunks gives the same cuts.
    """

    max_segment: float = MAX_SEGMENT
    min_pause: float = 0.25
    rel_db: float = -35.0
    floor_db: float = -60.0
    search: float = 0.5

    def __post_init__(self) -> None:
        self._peak_db = -120.0
        self._quiet_run = 0
        self._frames: list[float] = []   # dB of every 10 ms frame since the last cut
        self._start = 0                  # frame index of the current piece's start
        self._tail = np.zeros(0, np.float32)
        self._n = 0                      # frames seen

    def feed(self, audio: np.ndarray) -> list[tuple[int, bool]]:
        """Consume audio; return the new cuts as (sample index, forced) pairs."""
        audio = np.concatenate([self._tail, np.asarray(audio, np.float32)])
        whole = len(audio) // HOP
        self._tail = audio[whole * HOP:]
        frames = audio[:whole * HOP].reshape(whole, HOP).astype(np.float64)
        db = 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
        cuts = []
        for level in db:
            cut = self._step(float(level))
            if cut is not None:
                cuts.append(cut)
        return cuts

    def _step(self, level: float) -> tuple[int, bool] | None:
        self._peak_db = max(self._peak_db, level)
        quiet = level < max(self.floor_db, self._peak_db + self.rel_db)
        self._quiet_run = self._quiet_run + 1 if quiet else 0
        self._frames.append(level)
        self._n += 1
        pause = round(self.min_pause * _FRATE)
        if self._quiet_run == pause and self._n - pause > self._start:
            return self._cut(self._n - pause // 2, forced=False)
        if len(self._frames) >= round(self.max_segment * _FRATE):
            window = self._frames[-round(self.search * _FRATE):]
            quietest = self._n - len(window) + int(np.argmin(window))
            return self._cut(max(quietest, self._start + 1), forced=True)
        return None

    def _cut(self, frame: int, forced: bool) -> tuple[int, bool]:
        self._frames = self._frames[frame - self._start:]
        self._start = frame
        return frame * HOP, forced


def segments(audio: np.ndarray, max_segment: float = MAX_SEGMENT) -> list[tuple[int, int, bool]]:
    """(start, end, starts_at_forced_cut) sample ranges covering `audio`, cut at pauses."""
    cuts = Segmenter(max_segment=max_segment).feed(audio)
    bounds = [(0, False)] + [c for c in cuts if 0 < c[0] < len(audio)] + [(len(audio), False)]
    return [(a, b, forced) for (a, forced), (b, _) in zip(bounds, bounds[1:]) if b > a]


# -- recognition ------------------------------------------------------------------------------

CONTEXT = 0.5  # seconds of audio decoded before a forced cut, so the first phone is not guessed blind


def recognize_segment(audio: np.ndarray, start: int, end: int, context: int = 0,
                      **settings: float) -> list[Phone]:
    """Recognise audio[start:end] (decoding `context` samples before it) with absolute timings."""
    begin = max(0, start - context)
    piece = audio[begin:end]
    if len(piece) < HOP * 3:
        return [Phone("SIL", start / SAMPLE_RATE, end / SAMPLE_RATE)]
    decoder = _decoder("recognize", tuple(sorted({**RECOGNITION, **settings}.items())))
    try:
        _decode(decoder, _pcm16(piece))
        segs = [(_symbol(s.word), s.start_frame, s.end_frame + 1) for s in decoder.seg()]
    except RuntimeError as exc:
        raise AlignmentError(f"phone recognition failed: {exc}") from None
    t0, t_start, t_end = begin / SAMPLE_RATE, start / SAMPLE_RATE, end / SAMPLE_RATE
    phones = []
    for name, a, b in segs:
        s, e = t0 + a / _FRATE, min(t0 + b / _FRATE, t_end)
        if (s + e) / 2 < t_start or e <= s:
            continue   # belongs to the context, already decoded by the previous piece
        phones.append(Phone(name, max(s, t_start), e))
    return quiet_to_silence(_fill_gaps(phones, t_start, t_end), audio)


def _fill_gaps(phones: list[Phone], start: float, end: float) -> list[Phone]:
    """Cover [start, end] exactly: gaps become SIL, so motion never has undefined stretches."""
    out, t = [], start
    for p in phones:
        if p.start > t + 1e-6:
            out.append(Phone("SIL", t, p.start))
        out.append(p)
        t = p.end
    if end > t + 1e-6:
        out.append(Phone("SIL", t, end))
    return out


def recognize(audio16k: np.ndarray, max_segment: float = MAX_SEGMENT, mode: str = "words",
              **settings: float) -> list[Phone]:
    """ARPAbet phones (with SIL) of 16 kHz mono audio, for any language (see module docstring).

    mode "words" (default) decodes words with the bundled English LM and force-aligns them:
    the LM rules out impossible phone strings, which makes the phones markedly better on real
    speech (mouth-opening r 0.20 vs 0.14 on the dev set) at 3-5x the time. mode "phones" is
    the plain phone loop, faster. Pieces where word decoding fails use the phone loop.
    """
    audio = _check_audio(audio16k)
    if mode not in ("words", "phones"):
        raise AlignmentError(f"unknown recognition mode {mode!r} (expected 'words' or 'phones')")
    if len(audio) == 0:
        return []
    context = round(CONTEXT * SAMPLE_RATE)
    phones: list[Phone] = []
    for start, end, forced in segments(audio, max_segment):
        ctx = context if forced else 0
        phones += (recognize_words(audio, start, end, ctx) if mode == "words"
                   else recognize_segment(audio, start, end, ctx, **settings))
    return phones


def recognize_words(audio: np.ndarray, start: int, end: int, context: int = 0) -> list[Phone]:
    """Phones of audio[start:end] via word decoding + forced alignment (phone loop on failure)."""
    begin = max(0, start - context)
    words = decode_words(audio[begin:end])
    try:
        phones = align_segment(audio[begin:end], words, begin / SAMPLE_RATE)
    except AlignmentError:
        return recognize_segment(audio, start, end, context)
    t_start = start / SAMPLE_RATE
    kept = [Phone(p.symbol, max(p.start, t_start), p.end) for p in phones
            if (p.start + p.end) / 2 >= t_start and p.end > t_start]
    return quiet_to_silence(_fill_gaps(kept, t_start, end / SAMPLE_RATE), audio)


QUIET_DB = -55.0   # dBFS: below this no phone is speech, whatever the decoder hallucinated


def quiet_to_silence(phones: list[Phone], audio: np.ndarray) -> list[Phone]:
    """Relabel recognised phones spanning near-digital silence as SIL (decoders invent words there)."""
    out = []
    for p in phones:
        piece = audio[int(p.start * SAMPLE_RATE):int(np.ceil(p.end * SAMPLE_RATE))].astype(np.float64)
        level = 10 * np.log10(np.mean(piece ** 2) + 1e-12) if len(piece) else -120.0
        out.append(Phone("SIL", p.start, p.end) if level < QUIET_DB else p)
    return out


def decode_words(audio: np.ndarray) -> list[str]:
    """Best word string of `audio` under the bundled English LM ([] for silence or failure)."""
    if len(audio) < HOP * 3:
        return []
    decoder = _decoder("words")
    try:
        _decode(decoder, _pcm16(audio))
        hyp = decoder.hyp()
    except RuntimeError:
        return []
    return words_of(hyp.hypstr) if hyp is not None else []


# -- forced alignment -------------------------------------------------------------------------

_LETTERS = [  # crude English letter-to-sound rules, longest match first; only for unknown words
    ("tch", "CH"), ("sch", "S K"), ("igh", "AY"), ("ough", "AO"), ("tion", "SH AH N"),
    ("th", "TH"), ("sh", "SH"), ("ch", "CH"), ("ph", "F"), ("wh", "W"), ("ng", "NG"), ("ck", "K"),
    ("qu", "K W"), ("ee", "IY"), ("ea", "IY"), ("oo", "UW"), ("ou", "AW"), ("ow", "OW"),
    ("ai", "EY"), ("ay", "EY"), ("oi", "OY"), ("oy", "OY"), ("au", "AO"), ("aw", "AO"),
    ("a", "AE"), ("b", "B"), ("c", "K"), ("d", "D"), ("e", "EH"), ("f", "F"), ("g", "G"),
    ("h", "HH"), ("i", "IH"), ("j", "JH"), ("k", "K"), ("l", "L"), ("m", "M"), ("n", "N"),
    ("o", "AA"), ("p", "P"), ("q", "K"), ("r", "R"), ("s", "S"), ("t", "T"), ("u", "AH"),
    ("v", "V"), ("w", "W"), ("x", "K S"), ("y", "Y"), ("z", "Z"),
]
_DIGITS = "zero one two three four five six seven eight nine".split()


def letter_to_sound(word: str) -> str:
    """A rough ARPAbet guess for a word cmudict lacks (good enough for mouth shapes)."""
    word, phones, i = word.lower(), [], 0
    while i < len(word):
        for letters, arpa in _LETTERS:
            if word.startswith(letters, i):
                if not (phones and phones[-1] == arpa):   # doubled letters sound once
                    phones.append(arpa)
                i += len(letters)
                break
        else:
            i += 1
    return " ".join(phones) or "AH"


def words_of(text: str) -> list[str]:
    """Lower-case words for the aligner: digits spelt out, punctuation dropped."""
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text.lower())
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text)


def _prepare_words(decoder, words: list[str]) -> None:
    for w in words:
        if decoder.lookup_word(w) is None:
            decoder.add_word(w, letter_to_sound(w), True)


def align_segment(audio: np.ndarray, words: list[str], offset: float = 0.0) -> list[Phone]:
    """Force-align `words` to the whole of `audio`; raises AlignmentError on failure."""
    if not words:
        return [Phone("SIL", offset, offset + len(audio) / SAMPLE_RATE)]
    decoder = _decoder("align")
    try:
        _prepare_words(decoder, words)
        decoder.set_align_text(" ".join(words))
        pcm = _pcm16(audio)
        for second_pass in (False, True):   # words first, then phones inside the found words
            if second_pass:
                if decoder.hyp() is None:
                    raise AlignmentError("forced alignment found no path through the text")
                decoder.set_alignment()
            _decode(decoder, pcm)
        alignment = decoder.get_alignment()
        entries = list(alignment.phones()) if alignment is not None else []
    except RuntimeError as exc:
        raise AlignmentError(f"forced alignment failed: {exc}") from None
    if not entries:
        raise AlignmentError("forced alignment produced no phones")
    phones = [Phone(_symbol(e.name), offset + e.start / _FRATE,
                    offset + (e.start + e.duration) / _FRATE) for e in entries]
    return _fill_gaps(phones, offset, offset + len(audio) / SAMPLE_RATE)


def _split_words(words: list[str], pieces: list[tuple[int, int, bool]], audio: np.ndarray) -> list[list[str]]:
    """Share words among pieces in proportion to each piece's voiced time (long audio only)."""
    voiced = []
    for a, b, _ in pieces:
        frames = audio[a:b][: (b - a) // HOP * HOP].reshape(-1, HOP)
        db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        voiced.append(float(np.sum(db > db.max() - 30)) if len(db) else 0.0)
    share = np.cumsum(voiced) / max(sum(voiced), 1e-9)
    ends = np.round(share * len(words)).astype(int)
    return [words[a:b] for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]


def align(audio16k: np.ndarray, text: str, max_segment: float = 60.0) -> list[Phone]:
    """ARPAbet phones (with SIL) of `text` spoken in `audio16k`, timed by forced alignment.

    Audio up to `max_segment` seconds is aligned in one pass. Longer audio is cut at pauses and
    the words are shared among the pieces by voiced time (approximate at piece edges). Any
    piece whose alignment fails is recognised instead.
    """
    audio = _check_audio(audio16k)
    if len(audio) == 0:
        return []
    words = words_of(text)
    if not words:
        return recognize(audio, max_segment=min(max_segment, MAX_SEGMENT))
    pieces = segments(audio, max_segment)
    shares = [words] if len(pieces) == 1 else _split_words(words, pieces, audio)
    phones: list[Phone] = []
    for (a, b, _), piece_words in zip(pieces, shares):
        try:
            phones += align_segment(audio[a:b], piece_words, a / SAMPLE_RATE)
        except AlignmentError:
            phones += recognize_words(audio, a, b)
    return phones
