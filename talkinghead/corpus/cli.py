"""`talkinghead corpus ...`: build training corpora from the command line.

`synth -o DIR --hours H` speaks generated texts with every installed offline voice;
`video VIDEOS... -o DIR` turns talking videos into fitted motion. Both resume when re-run on
the same folder. Errors are TalkingHeadError subclasses, which the main CLI prints as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Build training corpora (synthetic speech, real talking videos).")


@app.command()
def synth(out: Path = typer.Option(..., "-o", "--out", help="corpus folder (resumed if it exists)"),
          hours: float = typer.Option(..., "--hours", help="hours of audio to build in total"),
          workers: int = typer.Option(2, "--workers", help="processes, each building whole shards"),
          seed: int = typer.Option(0, "--seed", help="seed of texts, voices, rates and pitches"),
          shard_size: int = typer.Option(200, "--shard-size", help="utterances per shard")) -> None:
    """Synthetic corpus: offline TTS voices x generated texts -> phonetic motion."""
    from .synth import build_synth_corpus
    manifest = build_synth_corpus(out, hours, workers=workers, seed=seed, shard_size=shard_size,
                                  progress=True)
    r = manifest["report"]
    run = r["last_run"]
    typer.echo(f"{out}: {r['utterances']} utterances, {r['hours']:.2f} h in {r['shards']} shards, "
               f"{r['speakers']} voices, {r['failed']} failed {r['failures'] or ''}".rstrip())
    typer.echo(f"this run: {run['utterances']} utterances in {run['wall_seconds']:.1f} s "
               f"({run['utterances_per_second']:.1f}/s, {run['audio_hours_per_minute']:.2f} h of audio per minute)")


@app.command()
def video(videos: List[Path] = typer.Argument(..., help="talking-head videos (mp4, mov, mkv, ...)"),
          out: Path = typer.Option(..., "-o", "--out", help="corpus folder (resumed if it exists)"),
          min_seconds: float = typer.Option(1.0, help="drop runs of good frames shorter than this"),
          max_seconds: float = typer.Option(20.0, help="cut segments longer than this")) -> None:
    """Real corpus: videos -> face landmarks -> fitted arkit52 motion, with quality filters."""
    from .video import VideoOptions, build_video_corpus
    manifest = build_video_corpus(videos, out, VideoOptions(min_seconds=min_seconds, max_seconds=max_seconds),
                                  progress=True)
    r = manifest["report"]
    typer.echo(f"{out}: {r['segments']} segments, {r['hours']:.3f} h from {r['accepted']} videos; "
               f"{r['rejected']} rejected; dropped frames {r['dropped'] or 'none'}")
    for entry in r["videos"]:
        if entry["rejected"]:
            typer.echo(f"rejected {entry['video']}: {entry['rejected']}")
