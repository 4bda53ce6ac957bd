"""Strict checkpoint matching shared by every loader (ARTalk, wav2vec2, DH_live LSTM, DINet).

`load_state_dict(strict=True)` already refuses a wrong checkpoint, but with a multi-line torch
message. Users holding an original file need one line that names what does not fit.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import CheckpointError

SHOWN = 8  # keys listed per kind of mismatch; the count tells how many more there are


def check_state_dict(expected: Mapping, state: Mapping, source: str) -> None:
    """Raise CheckpointError unless `state` has exactly the keys and shapes of `expected`."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)}!={tuple(v.shape)}" for k, v in expected.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = [f"{what} {len(keys)} {keys[:SHOWN]}" for what, keys in
             (("missing", missing), ("unexpected", unexpected), ("wrong shapes", wrong)) if keys]
    if parts:
        raise CheckpointError(f"{source} does not fit the model: " + ", ".join(parts))
