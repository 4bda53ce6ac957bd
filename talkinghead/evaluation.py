"""Lip sync on real people: predict the dev-set clips and hand them to its scorer.

The dev set (four real talking-face clips with MediaPipe-measured mouth opening, and
`lipsync_metrics.py`) is not shipped with talkinghead; it is found through `--eval-dir`,
$TALKINGHEAD_EVAL, or a `shared/eval` folder beside or above the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TalkingHeadError
from .models import MotionModel


def find_eval_dir(explicit: Path | None = None) -> Path:
    candidates = [explicit] if explicit is not None else [
        Path(p) for p in (os.environ.get("TALKINGHEAD_EVAL"),) if p] + [
        Path.cwd() / "shared" / "eval", Path.cwd().parent / "shared" / "eval"]
    for path in candidates:
        if (path / "lipsync_metrics.py").is_file() and (path / "audio").is_dir():
            return path
    where = explicit if explicit is not None else "$TALKINGHEAD_EVAL or ../shared/eval"
    raise TalkingHeadError(f"lip-sync dev set not found at {where} (needs lipsync_metrics.py and audio/)")


def predict_clips(eval_dir: Path, pred_dir: Path, model: MotionModel) -> list[Path]:
    """Write `<clip>.npz` (motion + rig landmarks + jawOpen) for every wav of the dev set."""
    from .pipeline import predict_motion, speech_from_file
    pred_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for wav in sorted((eval_dir / "audio").glob("*.wav")):
        motion = predict_motion(speech_from_file(wav), model)
        target = pred_dir / f"{wav.stem}.npz"
        motion.save(target)
        written.append(target)
    if not written:
        raise TalkingHeadError(f"no .wav files in {eval_dir / 'audio'}")
    return written
