"""Live audio for the streaming models: the microphone, or a file played at its own pace.

Both yield 16 kHz mono float32 chunks as they become available, so `talkinghead live` and any
caller of `model.stream()` see the same thing whether the sound is real or replayed. The
microphone opens at the device's own rate (many cannot capture 16 kHz) and is resampled as it
streams. It needs the optional `sounddevice` package and PortAudio (on Debian: libportaudio2);
without them the error says so in one line.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import AudioError
from .io import SAMPLE_RATE, stream_audio

CHUNK_S = 0.04  # one video frame of audio: the finest step any model emits at


def microphone(chunk_s: float = CHUNK_S, device: int | str | None = None) -> Iterator[np.ndarray]:
    """Chunks of `chunk_s` seconds from an input device (the default one unless `device`)."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there, PortAudio is not
        raise AudioError("microphone input needs the sounddevice package and PortAudio "
                         f"(pip install sounddevice; on Debian apt-get install libportaudio2): {exc}") from None
    import soxr
    try:
        info = sounddevice.query_devices(device, "input")
        rate = int(info["default_samplerate"])
        block = max(1, round(chunk_s * rate))
        stream = sounddevice.InputStream(samplerate=rate, channels=1, dtype="float32",
                                         blocksize=block, device=device)
    except Exception as exc:  # PortAudioError, ValueError for an unknown device
        raise AudioError(f"cannot open the microphone: {exc}") from None
    resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
    with stream:
        while True:
            samples, _overflowed = stream.read(block)
            yield resampler.resample_chunk(samples[:, 0])


def file_chunks(path, chunk_s: float = CHUNK_S) -> Iterator[np.ndarray]:
    """A file's audio (decoded lazily, bounded memory) in chunks of `chunk_s` seconds."""
    return stream_audio(path, SAMPLE_RATE, chunk_seconds=chunk_s)


def paced(chunks: Iterable[np.ndarray], clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[np.ndarray]:
    """`chunks` released no earlier than they would arrive live: chunk i once the audio
    before its end has had time to play (so a replayed file behaves like a microphone)."""
    start, played = clock(), 0
    for chunk in chunks:
        played += len(chunk)
        wait = start + played / SAMPLE_RATE - clock()
        if wait > 0:
            sleep(wait)
        yield chunk
