"""Phones -> visemes -> target ARKit poses.

A viseme is a class of phones that look alike on the face. Each has a target pose (ARKit
blendshape weights) and a coarticulation profile: how strongly and how far it pulls the mouth
toward its target (`DOMINANCE`). Poses are written so that `jawOpen` alone carries the mouth
opening and the other shapes only shape it: closure (mouthClose, mouthPress) on bilabials,
rounding (mouthFunnel, mouthPucker) on rounded vowels, lower lip to teeth (mouthRollLower) on
f/v. mouthFunnel flares the lips apart (on the arkit52 rig it opens the inner-lip gap by about a
third of jawOpen's), so it is strong only on the open rounded vowel (O); the narrow rounded
sounds (oo, w, r, sh) get their rounding from mouthPucker, which purses without opening. Silence is the closed mouth at rest (every weight zero).

Phones come in ARPAbet (pocketsphinx, cmudict) or as espeak-ng mnemonics (TTS). Espeak symbols
are first reduced to an ARPAbet look-alike (stress, length, tone and secondary marks dropped),
so both alphabets and every language espeak speaks share one table; a symbol nothing matches
becomes a light, half-open consonant rather than an error.
"""

from __future__ import annotations

import re

from ...motion import ARKIT_BLENDSHAPES


def _pose(**weights: float) -> dict[str, float]:
    """A pose by channel; "mouthPress" etc. without a side expand to Left and Right."""
    out: dict[str, float] = {}
    for name, w in weights.items():
        names = [name] if name in ARKIT_BLENDSHAPES else [name + "Left", name + "Right"]
        for n in names:
            if n not in ARKIT_BLENDSHAPES:
                raise KeyError(f"not an ARKit blendshape: {n}")
            out[n] = float(w)
    return out


# Target poses. jawOpen values are the mouth opening of each class; vowels refine it per phone.
VISEME_POSES: dict[str, dict[str, float]] = {
    "sil": _pose(),
    "PP": _pose(jawOpen=0.04, mouthClose=0.04, mouthPress=0.35, mouthRollLower=0.1, mouthRollUpper=0.1),
    "FF": _pose(jawOpen=0.08, mouthRollLower=0.55, mouthUpperUp=0.25, mouthClose=0.02),
    "TH": _pose(jawOpen=0.14, tongueOut=0.35),
    "DD": _pose(jawOpen=0.14, mouthStretch=0.05),
    "kk": _pose(jawOpen=0.18),
    "CH": _pose(jawOpen=0.1, mouthFunnel=0.2, mouthPucker=0.15, mouthShrugUpper=0.1),
    "SS": _pose(jawOpen=0.06, mouthStretch=0.2, mouthSmile=0.1),
    "RR": _pose(jawOpen=0.14, mouthPucker=0.3, mouthFunnel=0.1),
    "aa": _pose(jawOpen=0.6, mouthLowerDown=0.2, mouthUpperUp=0.05),
    "E": _pose(jawOpen=0.4, mouthStretch=0.2, mouthLowerDown=0.1),
    "I": _pose(jawOpen=0.22, mouthStretch=0.3, mouthSmile=0.15),
    "O": _pose(jawOpen=0.38, mouthFunnel=0.5, mouthPucker=0.3),
    "U": _pose(jawOpen=0.14, mouthPucker=0.6, mouthFunnel=0.1),
}

# ARPAbet phone -> (viseme, jawOpen override for vowels or None).
ARPABET: dict[str, tuple[str, float | None]] = {
    "SIL": ("sil", None),
    "P": ("PP", None), "B": ("PP", None), "M": ("PP", None),
    "F": ("FF", None), "V": ("FF", None),
    "TH": ("TH", None), "DH": ("TH", None),
    "T": ("DD", None), "D": ("DD", None), "N": ("DD", None), "L": ("DD", None),
    "K": ("kk", None), "G": ("kk", None), "NG": ("kk", None), "HH": ("kk", None), "Y": ("I", 0.16),
    "CH": ("CH", None), "JH": ("CH", None), "SH": ("CH", None), "ZH": ("CH", None),
    "S": ("SS", None), "Z": ("SS", None),
    "R": ("RR", None), "ER": ("RR", 0.22),
    "AA": ("aa", 0.7), "AE": ("aa", 0.58), "AH": ("aa", 0.5), "AO": ("aa", 0.62),
    "AW": ("aa", 0.6), "AY": ("aa", 0.6),
    "EH": ("E", 0.42), "EY": ("E", 0.36),
    "IH": ("I", 0.26), "IY": ("I", 0.2),
    "OW": ("O", 0.4), "OY": ("O", 0.42),
    "UH": ("U", 0.2), "UW": ("U", 0.14), "W": ("U", 0.1),
}

# Coarticulation profile per viseme: (strength, decay per second, share of the phone held flat).
# Bilabials and f/v are strong and short-reaching so they always reach closure; vowels are weaker
# and blend; lingual consonants barely constrain the lips and let vowels show through them.
DOMINANCE: dict[str, tuple[float, float, float]] = {
    "sil": (2.0, 25.0, 0.8),
    "PP": (30.0, 45.0, 0.6),
    "FF": (12.0, 40.0, 0.6),
    "TH": (3.0, 35.0, 0.4),
    "DD": (1.0, 35.0, 0.3),
    "kk": (0.8, 35.0, 0.3),
    "CH": (4.0, 30.0, 0.5),
    "SS": (4.0, 35.0, 0.5),
    "RR": (2.0, 30.0, 0.4),
    "aa": (2.0, 25.0, 0.6),
    "E": (2.0, 25.0, 0.6),
    "I": (2.0, 25.0, 0.6),
    "O": (3.0, 22.0, 0.6),
    "U": (3.0, 22.0, 0.6),
}

# espeak mnemonic (after `_strip`) -> ARPAbet look-alike. Longest match is tried first.
ESPEAK: dict[str, str] = {
    # pauses
    "_": "SIL", "": "SIL",
    # consonants (en + cmn; aspiration and retroflex/palatal marks are stripped first)
    "p": "P", "b": "B", "m": "M", "f": "F", "v": "V", "w": "W", "T": "TH", "D": "DH",
    "t": "T", "d": "D", "n": "N", "l": "L", "L": "L", "r": "R", "R": "R", "k": "K", "g": "G",
    "N": "NG", "h": "HH", "x": "HH", "X": "HH", "?": "HH", "j": "Y", "s": "S", "z": "Z",
    "S": "SH", "Z": "ZH", "tS": "CH", "dZ": "JH", "ts": "CH", "dz": "JH", "C": "HH", "c": "K",
    "J": "Y", "y": "UW", "Y": "UW", "B": "V", "G": "G", "q": "K", "W": "UW", "H": "HH",
    # English vowels
    "a": "AE", "A": "AA", "aa": "AA", "aI": "AY", "aU": "AW", "@": "AH", "V": "AH", "3": "ER",
    "e": "EH", "E": "EH", "eI": "EY", "e@": "EH", "i": "IY", "I": "IH", "i@": "IY", "0": "AA",
    "O": "AO", "OI": "OY", "o": "OW", "oU": "OW", "u": "UW", "U": "UH", "U@": "UH", "A@": "AA",
    "O@": "AO", "aI@": "AY", "aU@": "AW", "@L": "AH", "@r": "ER", "3r": "ER",
    # Mandarin finals (espeak cmn): the nucleus decides the shape
    "ai": "AY", "au": "AW", "Au": "AW", "ei": "EY", "ou": "OW", "iou": "OW", "iE": "EH",
    "ie": "EH", "ia": "AA", "iau": "AW", "ua": "AA", "uo": "OW", "u@": "UH", "ong": "UH",
    "iong": "UH", "ye": "EH", "y@": "UW", "ui": "UW",
}
_MARKS = re.compile(r"[',%=!.;#\[\]\-^:~|0-9]")
_ASPIRATED = re.compile(r"^(p|t|k|ts|tS|c)h$")


def _strip(symbol: str) -> str:
    """Drop stress, length, tone digits and secondary marks from an espeak mnemonic.

    A leading "0" or "3" is kept: in espeak those are vowels (LOT, NURSE), not tones.
    """
    s = symbol.lstrip("',%=")
    if not s or s.startswith("_"):
        return "_"
    head = s[0] if s[0] in "03" else ""
    core = head + _MARKS.sub("", s[len(head):])
    return _ASPIRATED.sub(r"\1", core)


def espeak_to_arpabet(symbol: str) -> str | None:
    """ARPAbet look-alike of an espeak mnemonic; None for marks with no mouth target (tones)."""
    if symbol.isdigit() and symbol not in ("0", "3"):
        return None   # Mandarin tone phoneme: pitch only, no articulation
    core = _strip(symbol)
    if not core:
        return None
    for n in range(len(core), 0, -1):
        if core[:n] in ESPEAK:
            return ESPEAK[core[:n]]
    return "T"   # unknown consonant-ish symbol: a light lingual shape


def to_arpabet(symbol: str, alphabet: str = "arpabet") -> str | None:
    """Any supported phone symbol -> ARPAbet (stress digits dropped); None = no visual target."""
    if alphabet == "espeak":
        return espeak_to_arpabet(symbol)
    if alphabet != "arpabet":
        raise ValueError(f"unknown phone alphabet {alphabet!r} (expected 'arpabet' or 'espeak')")
    core = symbol.upper().rstrip("012")
    if core in ARPABET:
        return core
    return "SIL" if not core or core[0] in "+<_" or core == "SP" else "T"


def viseme_of(symbol: str, alphabet: str = "arpabet") -> str | None:
    """Viseme class name of a phone symbol; None for symbols with no visual target."""
    arpa = to_arpabet(symbol, alphabet)
    return None if arpa is None else ARPABET[arpa][0]


def pose_of(symbol: str, alphabet: str = "arpabet") -> dict[str, float] | None:
    """Target ARKit pose of a phone (viseme pose with the phone's own jaw opening)."""
    arpa = to_arpabet(symbol, alphabet)
    if arpa is None:
        return None
    viseme, jaw = ARPABET[arpa]
    pose = dict(VISEME_POSES[viseme])
    if jaw is not None:
        pose["jawOpen"] = jaw
    return pose
