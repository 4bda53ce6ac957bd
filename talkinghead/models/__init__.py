"""Motion models: audio -> Motion. `load_model` is the one place that knows them all."""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError, TalkingHeadError
from .base import FPS, SAMPLE_RATE, MotionModel, MotionStream, frame_count

MODEL_NAMES = ("phonetic", "acoustic", "lstm-arkit", "ar-arkit-small", "dhlive-lstm", "artalk")
SHIPPED = ("lstm-arkit", "ar-arkit-small")


def load_model(name: str = "phonetic", path: str | Path | None = None, **options) -> MotionModel:
    """Build a motion model by name.

    - "phonetic": rules over phone timings (no weights); the default, best on real people so far.
    - "acoustic": the phonetic model without phone recognition: the jaw follows its acoustic
      (first-formant) cue alone; any language, low latency (0.37 s), ~40x cheaper.
    - "lstm-arkit": our DH_live-architecture LSTM trained on synthetic speech (shipped weights).
    - "ar-arkit-small": ARTalk's architecture on arkit52, small config, 1-s windows (shipped weights).
    - "dhlive-lstm": DH_live's Audio2Feature from a user's checkpoint (`path`, e.g. lstm_model_epoch_325.pkl).
    - "artalk": ARTalk's BitwiseAR from a user's checkpoint (`path`, ARTalk_wav2vec.pt); options: style.
    """
    if name == "phonetic":
        from .phonetic import PhoneticModel
        return PhoneticModel(**options)
    if name == "acoustic":
        from .phonetic import PhoneticModel
        return PhoneticModel(recognize=False, **options)
    if name in SHIPPED:
        from ..training.export import load_export, load_shipped
        return load_export(path) if path is not None else load_shipped(name)
    if name in ("dhlive-lstm", "artalk") and path is None:
        raise CheckpointError(f"model {name!r} needs a checkpoint: pass path=... (--checkpoint)")
    if name == "dhlive-lstm":
        from .lstm import load_dhlive_lstm
        return load_dhlive_lstm(path, **options)
    if name == "artalk":
        from .artalk import load_artalk
        return load_artalk(path, **options)
    raise TalkingHeadError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")


__all__ = ["load_model", "MODEL_NAMES", "MotionModel", "MotionStream", "frame_count", "FPS", "SAMPLE_RATE"]
