"""Lip sync on real people: predict the dev-set clips and hand them to its scorer.

The dev set (four real talking-face clips with MediaPipe-measured mouth opening, and
`lipsync_metrics.py`) is not shipped with talkinghead; it is found through `--eval-dir`,
$TALKINGHEAD_EVAL, or a `shared/eval` folder beside or above the working directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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


@dataclass
class Scores:
    """The dev-set scorer's results: `table` (markdown, as it prints it) and `data` (its JSON:
    per-clip metrics and their means)."""

    table: str
    data: dict


def score(pred_dir: str | Path, eval_dir: str | Path | None = None,
          model: MotionModel | str | None = None) -> Scores:
    """Score `<clip>.npz` predictions in `pred_dir` with the dev set's own `lipsync_metrics.py`
    (run as a separate process, exactly as its README says); with `model`, predict them first.
    The CLI's `eval` is this function."""
    from .models import load_model
    root = find_eval_dir(Path(eval_dir) if eval_dir is not None else None)
    pred_dir = Path(pred_dir)
    if model is not None:
        predict_clips(root, pred_dir, load_model(model) if isinstance(model, str) else model)
    elif not pred_dir.is_dir():
        raise TalkingHeadError(f"prediction folder not found: {pred_dir}")
    with tempfile.TemporaryDirectory(prefix="talkinghead-eval-") as tmp:
        out = Path(tmp) / "scores.json"
        done = subprocess.run([sys.executable, str(root / "lipsync_metrics.py"), str(pred_dir),
                               "--gt-dir", str(root / "clips"), "--markdown", "--json", str(out)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr.strip() or "lipsync_metrics failed").splitlines()
            raise TalkingHeadError(lines[-1])
        return Scores(done.stdout, json.loads(out.read_text()))
