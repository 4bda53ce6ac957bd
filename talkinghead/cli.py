"""`talkinghead` command line: speak, motion, render, export, eval, voices.

Every expected failure is a TalkingHeadError; `main` prints it as one line on stderr and exits
with status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from .errors import TalkingHeadError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make faces talk: text or audio -> facial motion -> video.")

MODEL_HELP = ("motion model: phonetic (built in), acoustic (no phone recognition: any language, "
              "low latency), lstm-arkit, ar-arkit-small (shipped), dhlive-lstm or artalk (with --checkpoint)")
AVATAR_HELP = "play the motion on a real face: 'photo' (built-in) or a folder from `talkinghead prepare`"


@contextmanager
def _progress(total: int, what: str) -> Iterator:
    from tqdm import tqdm
    bar = tqdm(total=total, desc=what, unit="frame", leave=False, file=sys.stderr,
               disable=not sys.stderr.isatty())
    try:
        yield bar.update
    finally:
        bar.close()


def _output(path: Path) -> Path:
    """Fail before the expensive work if the output cannot be written where asked."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise TalkingHeadError(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise TalkingHeadError(f"cannot write {path}: it is a folder")
    return path


def _video_output(path: Path) -> Path:
    from .sinks.mp4 import check_video_path
    return check_video_path(_output(path))


def _motion_output(path: Path) -> Path:
    from .motion import check_motion_path
    return check_motion_path(_output(path))


def _flame(path: Optional[Path]):
    from .pipeline import load_flame
    return load_flame(path) if path is not None else None


def _model(name: str, checkpoint: Optional[Path], style: Optional[Path], **options):
    from .models import load_model
    if style is not None:
        options["style"] = style
    return load_model(name, path=checkpoint, **options)


@app.command()
def speak(text: Optional[str] = typer.Argument(None, help="what to say (offline TTS)"),
          out: Path = typer.Option(Path("out.mp4"), "-o", "--out", help="output mp4"),
          audio: Optional[Path] = typer.Option(None, "--audio", help="animate this audio file instead of TTS"),
          voice: Optional[str] = typer.Option(None, help="TTS voice, e.g. en-us (default), en-gb, de, cmn, en-us+f3"),
          rate: int = typer.Option(175, help="TTS speaking rate in words per minute"),
          engine: str = typer.Option("espeak", help="TTS engine: espeak (built in), flite or festival if installed"),
          model: str = typer.Option("phonetic", help=MODEL_HELP),
          checkpoint: Optional[Path] = typer.Option(None, help="model checkpoint on your disk"),
          flame: Optional[Path] = typer.Option(None, help="FLAME model file (generic_model.pkl or FLAME_with_eye.pt)"),
          style: Optional[Path] = typer.Option(None, help="ARTalk style motion file"),
          save_motion: Optional[Path] = typer.Option(None, "--save-motion", help="also save the motion (.npz)"),
          avatar: Optional[str] = typer.Option(None, help=AVATAR_HELP),
          size: int = typer.Option(512, help="video width and height in pixels (3D head)"),
          backend: str = typer.Option("auto", help="renderer backend: auto, egl or numpy")) -> None:
    """Text (or --audio) in, talking-head video out."""
    from . import pipeline
    if audio is None and not text:
        raise TalkingHeadError("give TEXT to say or --audio FILE")
    _video_output(out)
    if save_motion is not None:
        _motion_output(save_motion)
    if audio is not None:
        speech = pipeline.speech_from_file(audio, text)
    else:
        speech = pipeline.speech_from_text(text, voice=voice, rate=rate, engine=engine)
    flame_rig = _flame(flame)
    motion = pipeline.predict_motion(speech, _model(model, checkpoint, style), flame_rig)
    if save_motion is not None:
        motion.save(save_motion)
    with _progress(len(motion), "render") as tick:
        pipeline.render_video(motion, out, speech.audio, size=size, backend=backend, flame=flame_rig,
                              avatar=avatar, progress=tick)
    typer.echo(f"wrote {out} ({motion.duration:.2f} s, {len(motion)} frames)")


@app.command()
def motion(audio: Path = typer.Argument(..., help="audio file (wav, flac, ogg, mp3, or a video's audio track)"),
           out: Path = typer.Option(..., "-o", "--out", help="output motion (.npz)"),
           text: Optional[str] = typer.Option(None, help="the words spoken, if known (better alignment)"),
           model: str = typer.Option("phonetic", help=MODEL_HELP),
           checkpoint: Optional[Path] = typer.Option(None, help="model checkpoint on your disk"),
           flame: Optional[Path] = typer.Option(None, help="FLAME model file"),
           style: Optional[Path] = typer.Option(None, help="ARTalk style motion file")) -> None:
    """Audio in, motion file out (values, channels, fps, rig, landmarks, jawOpen)."""
    from . import pipeline
    _motion_output(out)
    result = pipeline.predict_motion(pipeline.speech_from_file(audio, text),
                                     _model(model, checkpoint, style), _flame(flame))
    result.save(out)
    typer.echo(f"wrote {out} ({len(result)} frames, rig {result.rig})")


@app.command()
def render(motion_file: Path = typer.Argument(..., metavar="MOTION", help="motion file (.npz)"),
           out: Path = typer.Option(..., "-o", "--out", help="output mp4"),
           audio: Optional[Path] = typer.Option(None, "--audio", help="audio track to mux"),
           flame: Optional[Path] = typer.Option(None, help="FLAME model file, for flame motions"),
           avatar: Optional[str] = typer.Option(None, help=AVATAR_HELP),
           size: int = typer.Option(512, help="video width and height in pixels (3D head)"),
           backend: str = typer.Option("auto", help="renderer backend: auto, egl or numpy")) -> None:
    """Motion file (+ audio) in, video out."""
    from . import pipeline
    from .motion import Motion
    _video_output(out)
    moving = Motion.load(motion_file)
    sound = pipeline.speech_from_file(audio).audio if audio is not None else None
    with _progress(len(moving), "render") as tick:
        pipeline.render_video(moving, out, sound, size=size, backend=backend, flame=_flame(flame),
                              avatar=avatar, progress=tick)
    typer.echo(f"wrote {out}")


@app.command()
def prepare(source: Path = typer.Argument(..., metavar="INPUT", help="a photo or a 5-30 s video of one person"),
            out: Path = typer.Option(..., "-o", "--out", help="avatar folder to write")) -> None:
    """Photo or short video of a face in, avatar folder out (for --avatar)."""
    from .avatar.photo import prepare_avatar
    avatar = prepare_avatar(source, out)
    typer.echo(f"wrote avatar {out} ({avatar.kind}, {avatar.width}x{avatar.height})")


@app.command()
def export(motion_file: Path = typer.Argument(..., metavar="MOTION", help="motion file (.npz)"),
           out: Path = typer.Option(..., "-o", "--out", help="output: .csv (ARKit / Live Link Face), .json or .glb (animated glTF head)"),
           flame: Optional[Path] = typer.Option(None, help="FLAME model file: converts a flame motion to ARKit for .csv/.glb")) -> None:
    """Convert a motion file to ARKit CSV (Live Link Face layout), JSON or an animated glTF head."""
    from .motion import Motion
    writers = {".csv": Motion.to_arkit_csv, ".json": Motion.to_json, ".glb": Motion.to_glb}
    suffix = out.suffix.lower()
    if suffix not in writers:
        raise TalkingHeadError(f"unknown export format {suffix!r}: use .csv, .json or .glb")
    _output(out)
    moving = Motion.load(motion_file)
    if moving.rig == "flame" and suffix != ".json":  # ARKit formats: fit FLAME onto arkit52 first
        if flame is None:
            raise TalkingHeadError(f"{motion_file} is a flame motion: pass --flame FILE to convert it to ARKit")
        from .rigs.flame import flame_to_arkit52
        moving = flame_to_arkit52(_flame(flame), moving)
    writers[suffix](moving, out)
    typer.echo(f"wrote {out}")


@app.command()
def live(audio: Optional[Path] = typer.Option(None, "--audio", help="play this file as if live (default: the microphone)"),
         model: str = typer.Option("acoustic", help="streaming model (measured behind the sound: lstm-arkit 0.2 s, acoustic 0.4 s, ar-arkit-small 0.55 s, phonetic ~2.5 s)"),
         udp: Optional[str] = typer.Option(None, help="HOST:PORT: send each frame as a JSON datagram instead of printing it"),
         livelink: Optional[str] = typer.Option(None, help="HOST[:PORT]: send Live Link Face packets to Unreal (port 11111 by default)"),
         ws: Optional[str] = typer.Option(None, help="HOST[:PORT]: serve a browser viewer and the frames over WebSocket (port 8765 by default; 127.0.0.1 keeps it to this machine)"),
         wait_viewer: bool = typer.Option(False, help="with --ws: start once a browser has connected"),
         avatar: Optional[str] = typer.Option(None, help="with --ws: show the frames on a real face ('photo' or a folder from `talkinghead prepare`)"),
         fast: bool = typer.Option(False, help="with --audio: do not wait for real time"),
         device: Optional[str] = typer.Option(None, help="microphone: input device name or number")) -> None:
    """Microphone (or a file played live) -> streaming motion -> JSON frames and/or Live Link."""
    from . import pipeline
    from .audio.live import file_chunks, microphone, paced
    from .models.base import FPS
    from .sinks.frames import JsonFrames
    from .sinks.livelink import LiveLinkFrames
    if fast and audio is None:
        raise TalkingHeadError("--fast needs --audio (a microphone cannot run ahead of time)")
    if wait_viewer and not ws:
        raise TalkingHeadError("--wait-viewer needs --ws")
    if avatar and not ws:
        raise TalkingHeadError("--avatar needs --ws (the browser shows the face)")
    chosen = _model(model, None, None)  # before the device opens: a bad name fails at once
    sinks = []
    if livelink:
        sinks.append(LiveLinkFrames(chosen.channels, chosen.rig, livelink))
    if udp or not (livelink or ws):
        sinks.append(JsonFrames(chosen.channels, chosen.rig, FPS, None if udp else sys.stdout, udp))
    if ws:
        sinks.append(_frame_server(chosen, ws, wait_viewer, avatar))
    if audio is not None:
        chunks = file_chunks(audio) if fast else paced(file_chunks(audio))
    else:
        chunks = microphone(device=int(device) if device and device.isdigit() else device)
    try:
        sent = pipeline.live(chunks, chosen, sinks, timed=not fast)
    finally:
        for sink in sinks:
            sink.close()
    typer.echo(f"sent {sent} frames", err=True)


@app.command()
def serve(model: str = typer.Option("acoustic", help="streaming model for the browsers' microphones"),
          address: str = typer.Option("127.0.0.1:8765", help="HOST[:PORT] to serve on (127.0.0.1: this machine only; browsers allow microphones on localhost or https)"),
          max_speakers: int = typer.Option(4, min=1, help="microphones served at once"),
          avatar: Optional[str] = typer.Option(None, help=AVATAR_HELP)) -> None:
    """A web page where you speak into your browser's microphone and watch the head talk."""
    import time
    chosen = _model(model, None, None)
    server = _new_frame_server(chosen, address, model=chosen, max_speakers=max_speakers, avatar=avatar)
    typer.echo(f"serving: {server.url} (Ctrl-C stops)", err=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.close()


@app.command()
def web(out: Path = typer.Option(..., "-o", "--out", help="folder to write the page into"),
        model: str = typer.Option("lstm-arkit", help="an LSTM model: lstm-arkit, or dhlive-lstm with --checkpoint"),
        checkpoint: Optional[Path] = typer.Option(None, help="an Audio2Feature checkpoint (with dhlive-lstm) or one of ours (with lstm-arkit)"),
        variant: str = typer.Option("mini", help="with dhlive-lstm: how the checkpoint was trained; the page runs v1 (16 kHz) ones")) -> None:
    """A static page that runs the LSTM on the browser's microphone itself (no server)."""
    from .sinks.webpage import write_site
    chosen = _model(model, checkpoint, None, **({"variant": variant} if model == "dhlive-lstm" else {}))
    folder = write_site(out, chosen)
    typer.echo(f"wrote {folder}/ (serve it, e.g. python3 -m http.server -d {folder} 8000, "
               "and open http://localhost:8000/)")


def _new_frame_server(chosen, address: str, **options):
    """A FrameServer for the `chosen` model's rig on "HOST[:PORT]" (8765 by default)."""
    from .models.base import FPS
    from .sinks.frames import parse_address
    from .sinks.websocket import FrameServer
    return FrameServer(chosen.channels, chosen.rig, FPS, parse_address(address, 8765), **options)


def _frame_server(model, address: str, wait: bool, avatar: str | None):
    """The --ws sink, announced on stderr (and, with `wait`, once a browser has connected)."""
    server = _new_frame_server(model, address, avatar=avatar)
    typer.echo(f"viewer: {server.url}", err=True)
    if wait:
        typer.echo("waiting for a browser to connect", err=True)
        server.wait_for_client()
    return server


@app.command(name="eval")
def evaluate(pred_dir: Path = typer.Argument(..., help="folder of <clip>.npz predictions"),
             model: Optional[str] = typer.Option(None, help="first predict every clip with this model"),
             checkpoint: Optional[Path] = typer.Option(None, help="model checkpoint, with --model"),
             eval_dir: Optional[Path] = typer.Option(None, help="the lip-sync dev set (default: $TALKINGHEAD_EVAL or ../shared/eval)"),
             json_out: Optional[Path] = typer.Option(None, "--json", help="also write the scores as JSON")) -> None:
    """Score lip sync against real people (the dev set's lipsync_metrics.py)."""
    import json
    from .evaluation import score
    chosen = _model(model, checkpoint, None) if model is not None else None
    result = score(pred_dir, eval_dir, chosen)
    sys.stdout.write(result.table)
    if json_out is not None:
        _output(json_out).write_text(json.dumps(result.data, indent=1))


@app.command()
def voices(engine: str = typer.Option("espeak", help="TTS engine")) -> None:
    """List the voices of an offline TTS engine."""
    from .audio.tts import get_engine
    for name in get_engine(engine).voices():
        typer.echo(name)


def _mount_subcommands() -> None:
    """`talkinghead corpus ...` and `talkinghead train ...` live beside the code they drive."""
    from .corpus.cli import app as corpus_app
    from .training.cli import app as train_app
    app.add_typer(corpus_app, name="corpus", help="Build training corpora (synthetic speech, real videos).")
    app.add_typer(train_app, name="train", help="Train motion models (lstm, vae, ar) on corpora.")


_mount_subcommands()


# What MediaPipe's C++ side (TFLite, absl) prints on its own threads, straight to descriptor 2.
_NATIVE_NOISE = re.compile(rb"^(?:[IW]\d{4} \S+ +\d+ \S+\] |INFO: Created TensorFlow Lite"
                           rb"|WARNING: All log messages before absl::InitializeLog)")


@contextmanager
def _native_noise_filtered() -> Iterator[None]:
    """Keep native library chatter off the terminal so errors stay one line.

    Descriptor 2 goes through a pipe whose reader drops the known start-up notes and passes every
    other line on; Python's own sys.stderr keeps writing to the real stream (so progress bars and
    our messages are unaffected). Skipped when sys.stderr is not descriptor 2 (e.g. captured).
    """
    try:
        direct = sys.stderr.fileno() == 2
    except (AttributeError, OSError, io.UnsupportedOperation):
        direct = False
    if not direct:
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    python_stderr = sys.stderr
    sys.stderr = io.TextIOWrapper(io.FileIO(os.dup(real), "w"), write_through=True,
                                  encoding=python_stderr.encoding, errors="backslashreplace")

    def pump() -> None:
        with io.FileIO(read_end, "r") as source:
            for line in io.BufferedReader(source):
                if not _NATIVE_NOISE.match(line):
                    os.write(real, line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(real, 2)  # closes the pipe's last writer: the reader drains and stops
        reader.join(timeout=2)
        os.close(real)


def main(argv: list[str] | None = None) -> int:
    with _native_noise_filtered():
        return _run(argv)


def _run(argv: list[str] | None) -> int:
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:  # typer turns Ctrl-C into exit code 130 and returns it
            if code == 130:
                typer.echo("talkinghead: interrupted", err=True)
            return code
    except TalkingHeadError as exc:
        typer.echo(f"talkinghead: error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("talkinghead: interrupted", err=True)
        return 130
    except Exception as exc:
        if _is_usage_error(exc):  # unknown option, missing argument, bad value
            message, ctx = exc.format_message(), getattr(exc, "ctx", None)
            if message:  # empty after a bare `talkinghead`, which has printed the help
                hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
                typer.echo(f"talkinghead: error: {message}{hint}", err=True)
            return exc.exit_code
        if type(exc).__name__ == "Exit" and isinstance(getattr(exc, "exit_code", None), int):
            return exc.exit_code  # typer.Exit / click's Exit (e.g. after --help)
        raise
    return 0


def _is_usage_error(exc: Exception) -> bool:
    """A click usage error, from click itself or from the copy that typer >= 0.2x vendors as
    `typer._click` (different classes: checking only `click.ClickException` let unknown options
    end in a traceback)."""
    import importlib
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            base = importlib.import_module(module).ClickException
        except (ImportError, AttributeError):
            continue
        if isinstance(exc, base):
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
