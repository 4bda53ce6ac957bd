"""Coarticulation: timed phone targets -> smooth blendshape curves (Cohen-Massaro dominance).

Each phone pulls every channel toward its target with a dominance that is flat over the core of
the phone and falls off exponentially outside it:

    D_i(t) = strength_i * exp(-decay_i * max(0, |t - c_i| - hold_i))

and a channel's value is the dominance-weighted average of the targets, sum D_i T_i / sum D_i.
Strong, fast-decaying visemes (p/b/m, f/v) win over their neighbours and always reach their
target; weak ones (t, d, k) let the surrounding vowels show through, as real lips do. Because
the dominance is cut off at `SUPPORT` (where it is negligible), a frame only depends on phones
within that distance, which is what lets the streaming model emit frames before the clip ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .phones import Phone
from .visemes import DOMINANCE, pose_of, viseme_of

SUPPORT = 0.3   # seconds beyond a phone's core after which its dominance is ignored


@dataclass(frozen=True)
class Target:
    """One phone as the blender sees it: where, how strongly, and toward what pose."""

    centre: float
    hold: float
    strength: float
    decay: float
    pose: dict[str, float]
    closure: bool = False   # lips meet (p/b/m): must survive any later smoothing


def targets(phones: list[Phone], gain: dict[int, float] | None = None) -> list[Target]:
    """Phones -> blending targets; symbols without a visual target (tones) are dropped.

    `gain` optionally scales the mouth opening (jawOpen and its helpers) of phone i, e.g. by
    loudness, so stressed vowels open wider than reduced ones.
    """
    out = []
    for i, p in enumerate(phones):
        pose = pose_of(p.symbol, p.alphabet)
        if pose is None or p.end <= p.start:
            continue
        strength, decay, hold = DOMINANCE[viseme_of(p.symbol, p.alphabet)]
        if gain and i in gain:
            pose = {k: (v * gain[i] if k.startswith(("jaw", "mouthLowerDown")) else v)
                    for k, v in pose.items()}
        closure = viseme_of(p.symbol, p.alphabet) == "PP"
        out.append(Target((p.start + p.end) / 2, hold * p.duration / 2, strength, decay, pose, closure))
    return out


def blend(targets_: list[Target], times: np.ndarray, channels: tuple[str, ...],
          rest: float = 1e-3) -> np.ndarray:
    """(len(times), len(channels)) curves: dominance-weighted average of the targets.

    A tiny `rest` dominance toward the neutral pose keeps frames far from every phone defined
    (and closed) instead of dividing by zero.
    """
    index = {c: j for j, c in enumerate(channels)}
    num = np.zeros((len(times), len(channels)))
    den = np.full(len(times), rest)
    for tg in targets_:
        reach = tg.hold + SUPPORT
        lo, hi = np.searchsorted(times, [tg.centre - reach, tg.centre + reach])
        if hi <= lo:
            continue
        dist = np.maximum(0.0, np.abs(times[lo:hi] - tg.centre) - tg.hold)
        dom = tg.strength * np.exp(-tg.decay * dist)
        den[lo:hi] += dom
        for name, w in tg.pose.items():
            num[lo:hi, index[name]] += dom * w
    return num / den[:, None]


def frame_times(n_frames: int, fps: float = 25.0, shift: float = 0.0, start: int = 0) -> np.ndarray:
    """Times at which frames start..start+n_frames-1 sample the phones (+shift = look ahead)."""
    return (start + np.arange(n_frames)) / fps + shift


def closure_share(targets_: list[Target], times: np.ndarray) -> np.ndarray:
    """Share of the total dominance held by lip closures (p/b/m) at each time, 0..1."""
    marked = [Target(t.centre, t.hold, t.strength, t.decay, {"jawOpen": float(t.closure)})
              for t in targets_]
    return blend(marked, times, ("jawOpen",))[:, 0]
