"""The pipeline as three plain functions: speech -> motion -> video, and `speak` chaining them.

    speech source          motion model              renderer           sink
    text -> TTS  ─┐
    audio file   ─┴─> 16 kHz ─> Motion (25 fps) ──> mesh3d frames ──> mp4 (H.264 + AAC)

Rendering streams: landmarks, frames and encoded packets are produced a chunk of frames at a
time, so memory stays bounded whatever the length of the audio.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .audio.io import check_chunk
from .errors import MotionFileError, TalkingHeadError
from .models import SAMPLE_RATE, MotionModel, frame_count, load_model
from .models.base import FPS
from .models.phonetic.phones import Phone
from .motion import Motion

RENDER_CHUNK = 50  # frames rendered and encoded per step (2 s at 25 fps)


@dataclass
class SpeechInput:
    """Audio to animate, with what is known about its words (text, phone timings)."""

    audio: np.ndarray
    text: str | None = None
    phones: list[Phone] | None = None


def speech_from_text(text: str, voice: str | None = None, rate: int = 175,
                     engine: str = "espeak") -> SpeechInput:
    """Offline TTS; keeps the synthesiser's own phone timings when it has them."""
    from .audio.tts import synthesize
    speech = synthesize(text, voice=voice, rate=rate, engine=engine)
    return SpeechInput(speech.audio, text, speech.phones or None)


def speech_from_file(path: str | Path, text: str | None = None) -> SpeechInput:
    from .audio.io import load_audio
    return SpeechInput(load_audio(path, SAMPLE_RATE), text)


def predict_motion(speech: SpeechInput, model: MotionModel | str = "phonetic",
                   flame=None) -> Motion:
    """Run a motion model; text and phones go to models that accept them. Adds rig landmarks
    (for flame motions only when the user's FLAME rig is given)."""
    if isinstance(model, str):
        model = load_model(model)
    accepted = inspect.signature(model.predict).parameters
    extra = {k: v for k, v in (("text", speech.text), ("phones", speech.phones))
             if k in accepted and v is not None}
    motion = model.predict(speech.audio, SAMPLE_RATE, **extra)
    return with_landmarks(motion, flame)


def with_landmarks(motion: Motion, flame=None) -> Motion:
    """Attach arkit52 landmarks (T x 468 x 3) and `jawOpen`, for scoring and 2D warping.

    A flame motion is first converted to arkit52 (when the user's FLAME model is known), so
    every 3D motion file carries landmarks in one topology.
    """
    from .rigs import load_rig
    arkit = motion
    if motion.rig == "flame" and flame is not None:
        from .rigs.flame import flame_to_arkit52
        arkit = flame_to_arkit52(flame, motion)
    if arkit.rig != "arkit52":
        return motion
    rig = load_rig("arkit52")
    # float32 filled in place, a chunk of float64 work at a time: an hour of motion is 0.5 GB of
    # landmarks, and building it by concatenating float64 chunks would need three times that
    landmarks = np.empty((len(arkit), len(rig.neutral), 3), np.float32)
    for i in range(0, len(arkit), 500):
        landmarks[i:i + 500] = rig.landmarks(arkit.values[i:i + 500])
    motion.extras["landmarks"] = landmarks
    motion.extras["jawOpen"] = arkit.channel("jawOpen").copy()
    return motion


def mesh_frames(motion: Motion, size: int = 512, backend: str = "auto",
                flame=None) -> Iterator[np.ndarray]:
    """Rendered RGB frames of the motion's rig, one per motion frame, made a chunk at a time."""
    vertices_of, renderer = _mesh_setup(motion, size, backend, flame)
    for start in range(0, len(motion), RENDER_CHUNK):
        for vertices in vertices_of(motion.values[start:start + RENDER_CHUNK]):
            yield renderer.render(vertices)


def _mesh_setup(motion: Motion, size: int, backend: str, flame):
    from .render.camera import Camera
    from .render.mesh3d import MeshRenderer
    if motion.rig == "arkit52":
        from .render.face import FaceView
        from .rigs import load_rig
        view = FaceView(load_rig("arkit52"))
        camera = Camera.fit(view.rig.neutral, size, margin=0.12)
        renderer = MeshRenderer(view.triangles, size=size, camera=camera, backend=backend,
                                colors=view.colors, n_vertices=view.n_vertices)
        return (lambda values: view.vertices(view.rig.landmarks(values))), renderer
    if motion.rig == "flame":
        if flame is None:
            raise MotionFileError("rendering a flame motion needs your FLAME model: pass --flame PATH")
        renderer = MeshRenderer(flame.triangles, size=size, camera=Camera.artalk(size), backend=backend,
                                n_vertices=flame.num_vertices)
        return flame.vertices, renderer
    raise MotionFileError(f"no mesh renderer for rig {motion.rig!r} (use arkit52 or flame)")


def load_flame(path: str | Path):
    """The user's FLAME model (generic_model.pkl or FLAME_with_eye.pt), for flame motions."""
    from .rigs import load_rig
    return load_rig("flame", str(path))


def render_video(motion: Motion, out: str | Path, audio: np.ndarray | None = None,
                 size: int = 512, backend: str = "auto", flame=None, avatar=None,
                 progress: Callable[[int], None] | None = None) -> Path:
    """Encode the rendered motion (and the audio, if given) to an mp4, streaming frames.

    `avatar` ("photo", a prepared avatar folder, or an Avatar) plays an arkit52 motion on a real
    face; without it the rig is rendered as a shaded 3D mesh of `size` x `size` pixels.
    """
    from .sinks.mp4 import Mp4Writer
    out = Path(out)
    if audio is not None:
        audio = check_chunk(audio)  # 16 kHz mono float32, as `speech_from_file` returns it
        expected = frame_count(len(audio))
        if abs(expected - len(motion)) > 1:
            raise MotionFileError(f"motion has {len(motion)} frames but the audio needs {expected}"
                                  f" ({len(audio) / SAMPLE_RATE:.2f} s at {motion.fps:g} fps)")
    frames, frame_size = _frame_source(motion, size, backend, flame, avatar)
    frames = prefetched(frames)
    samples_per_frame = SAMPLE_RATE / motion.fps
    with Mp4Writer(out, fps=motion.fps, size=frame_size, sample_rate=SAMPLE_RATE) as writer:
        for i, frame in enumerate(frames):
            writer.write_frame(frame)
            if audio is not None:
                writer.write_audio(audio[int(i * samples_per_frame):int((i + 1) * samples_per_frame)])
            if progress:
                progress(1)
    return out


def prefetched(items: Iterator, depth: int = 8) -> Iterator:
    """`items`, produced by a worker thread at most `depth` ahead of the consumer.

    Rendering (GL or numpy, which release the GIL while they rasterise) then overlaps the H.264
    encoder, which releases it too. The generator runs entirely in the worker, so a GL context
    it creates is current in the thread that uses it. An exception in the producer is re-raised
    here; a consumer that stops early releases the worker.
    """
    import queue
    import threading
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()

    def offer(entry: tuple) -> bool:
        """Put `entry` unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((done, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            offer((done, exc))

    worker = threading.Thread(target=produce, name="talkinghead-frames", daemon=True)
    worker.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _frame_source(motion: Motion, size: int, backend: str, flame, avatar):
    """(frames iterator, (width, height)) for the mesh renderer or a photo/video avatar."""
    if avatar is None:
        return mesh_frames(motion, size, backend, flame), (size, size)
    if motion.rig != "arkit52":
        raise MotionFileError(f"avatars play arkit52 motion, not {motion.rig!r}")
    from .avatar.photo import resolve_avatar
    from .render.photo2d.avatar_renderer import AvatarRenderer
    avatar = resolve_avatar(avatar)
    return AvatarRenderer(avatar).frames(motion), (avatar.width, avatar.height)


def speak(text: str | None = None, *, audio: str | Path | np.ndarray | None = None,
          out: str | Path = "out.mp4", voice: str | None = None, rate: int = 175, engine: str = "espeak",
          model: MotionModel | str = "phonetic", save_motion: str | Path | None = None,
          size: int = 512, backend: str = "auto", flame: str | Path | None = None,
          avatar=None, progress: Callable[[int], None] | None = None) -> Motion:
    """Text or audio in, talking-head mp4 out. Returns the motion that was rendered."""
    if audio is None and not text:
        raise TalkingHeadError("nothing to say: give text or an audio file")
    if audio is None:
        speech = speech_from_text(text, voice=voice, rate=rate, engine=engine)
    elif isinstance(audio, np.ndarray):
        from .audio.io import check_audio
        speech = SpeechInput(check_audio(audio, SAMPLE_RATE), text)
    else:
        speech = speech_from_file(audio, text)
    flame_rig = load_flame(flame) if flame is not None else None
    motion = predict_motion(speech, model, flame_rig)
    if save_motion is not None:
        motion.save(save_motion)
    render_video(motion, out, speech.audio, size=size, backend=backend, flame=flame_rig,
                 avatar=avatar, progress=progress)
    return motion


def live(chunks: Iterable[np.ndarray], model: MotionModel | str = "acoustic",
         sinks: Sequence[Callable[[int, np.ndarray, float | None], None]] = (),
         timed: bool = True, clock: Callable[[], float] | None = None) -> int:
    """Stream `chunks` (16 kHz audio as it arrives: `audio.live.microphone()` or a paced file)
    through `model` and hand every final frame to each sink as `sink(index, values, latency_ms)`
    (`sinks.frames.JsonFrames`, `sinks.livelink.LiveLinkFrames`, or your own).

    The default model is `acoustic`, whose frames trail the sound by ~0.4 s; `phonetic` waits
    for its recogniser's segments and their decoding (~2.8 s; benchmarks/bench_live.py). With `timed`, latency_ms says how long after
    its sound arrived a frame was handed over (else None). Returns the number of frames.
    """
    import time
    if isinstance(model, str):
        model = load_model(model)
    clock = clock or time.monotonic
    stream, start, sent, heard = model.stream(), clock(), 0, 0.0

    def emit(rows: np.ndarray) -> None:
        nonlocal sent
        for row in rows:
            # the frame's sound is complete at its end, or at the end of the audio if sooner
            latency = 1000.0 * (clock() - start - min((sent + 1) / FPS, heard)) if timed else None
            for sink in sinks:
                sink(sent, row, latency)
            sent += 1

    for chunk in chunks:
        heard += len(chunk) / SAMPLE_RATE
        emit(stream.feed(chunk))
    emit(stream.flush())
    return sent
