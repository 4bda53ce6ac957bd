"""talkinghead.sinks.mp4: frames and audio written in any interleaving come back as an H.264 + AAC
file whose streams start at 0, have equal length, and decode to what was written."""

from __future__ import annotations

import numpy as np
import pytest

from talkinghead.audio.io import load_audio
from talkinghead.errors import RenderError
from talkinghead.sinks.mp4 import Mp4Writer, VideoInfo, inspect_video, read_frames

SR = 16000
FPS = 25


def square_frame(i: int, width: int = 128, height: int = 96) -> np.ndarray:
    """A grey background with an orange square moving right by 3 px a frame."""
    img = np.full((height, width, 3), 60, np.uint8)
    x = (3 * i) % (width - 24)
    img[30:54, x:x + 24] = (230, 120, 40)
    return img


def tone(seconds: float, onset: float = 0.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return (0.4 * np.sin(2 * np.pi * hz * t) * (t >= onset)).astype(np.float32)


def write(path, n_frames: int, audio: np.ndarray | None, audio_chunk: int = 700,
          audio_first: bool = False, **kwargs) -> None:
    """Interleave frames and audio chunks the way a streaming renderer would."""
    chunks = [] if audio is None else [audio[i:i + audio_chunk] for i in range(0, len(audio), audio_chunk)]
    with Mp4Writer(path, fps=FPS, **kwargs) as writer:
        if audio_first:
            for chunk in chunks:
                writer.write_audio(chunk)
            chunks = []
        for i in range(n_frames):
            writer.write_frame(square_frame(i))
            if chunks and i % 2:
                writer.write_audio(chunks.pop(0))
        for chunk in chunks:
            writer.write_audio(chunk)


def test_streams_codecs_and_timing(tmp_path):
    path = tmp_path / "out.mp4"
    write(path, 60, tone(2.4), size=(128, 96))
    info = inspect_video(path)
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height, info.fps, info.n_frames) == (128, 96, 25.0, 60)
    assert (info.video_codec, info.audio_codec, info.audio_sample_rate) == ("h264", "aac", SR)
    assert info.first_video_pts == 0.0 and info.first_audio_pts == 0.0
    assert info.video_duration == pytest.approx(60 / FPS, abs=1e-6)
    assert abs(info.video_duration - info.audio_duration) <= 1 / FPS


def test_decoded_frames_resemble_written(tmp_path):
    path = tmp_path / "out.mp4"
    write(path, 30, None)
    frames = list(read_frames(path))
    assert len(frames) == 30
    for i in (0, 7, 29):
        assert frames[i].shape == (96, 128, 3) and frames[i].dtype == np.uint8
        error = np.abs(frames[i].astype(int) - square_frame(i)).mean()
        assert error < 3.0, f"frame {i} differs by {error:.1f} on average"
    moved = np.abs(frames[0].astype(int) - square_frame(7)).mean()
    assert moved > 5 * np.abs(frames[0].astype(int) - square_frame(0)).mean()  # order is kept


@pytest.mark.parametrize("seconds", [1.0, 2.4, 3.7])
def test_audio_is_cut_or_padded_to_video_length(tmp_path, seconds):
    path = tmp_path / "fit.mp4"
    write(path, 60, tone(seconds), audio_chunk=333)
    info = inspect_video(path)
    assert info.audio_duration == pytest.approx(60 / FPS, abs=1 / FPS)
    audio = load_audio(path)
    assert len(audio) == 60 * SR // FPS
    if seconds < 2.4:  # the missing tail is silence
        assert np.abs(audio[int(seconds * SR) + 800:]).max() < 0.01


def test_audio_written_before_frames_stays_in_sync(tmp_path):
    """A 1 kHz tone that starts together with a white flash at frame 10 (0.4 s)."""
    path = tmp_path / "sync.mp4"
    audio = tone(2.0, onset=0.4, hz=1000)
    with Mp4Writer(path, fps=FPS) as writer:
        writer.write_audio(audio)  # all audio first, in one piece
        for i in range(50):
            frame = square_frame(i)
            if i >= 10:
                frame[:] = 255
            writer.write_frame(frame)
    decoded = load_audio(path)
    onset = np.argmax(np.abs(decoded) > 0.1) / SR
    flash = next(i for i, f in enumerate(read_frames(path)) if f.mean() > 200) / FPS
    assert onset == pytest.approx(0.4, abs=0.005)
    assert flash == pytest.approx(0.4)


def test_video_only(tmp_path):
    for kwargs in ({}, {"sample_rate": None}):
        path = tmp_path / f"mute{len(kwargs)}.mp4"
        write(path, 20, None, **kwargs)
        info = inspect_video(path)
        assert info.n_frames == 20 and info.audio_codec is None and info.audio_duration is None
        assert info.first_video_pts == 0.0
        assert info.video_duration == pytest.approx(20 / FPS, abs=1e-6)


def test_other_fps_and_rates(tmp_path):
    path = tmp_path / "30fps.mp4"
    audio = np.sin(np.arange(48000) * 0.05).astype(np.float32) * 0.3
    with Mp4Writer(path, fps=30, sample_rate=48000) as writer:
        writer.write_audio(audio)
        for i in range(31):
            writer.write_frame(square_frame(i))
    info = inspect_video(path)
    assert (info.fps, info.n_frames, info.audio_sample_rate) == (30.0, 31, 48000)
    assert abs(info.audio_duration - 31 / 30) <= 1 / 30


def test_odd_size_is_rejected(tmp_path):
    with pytest.raises(RenderError, match="odd"):
        Mp4Writer(tmp_path / "odd.mp4", size=(127, 96))
    writer = Mp4Writer(tmp_path / "odd2.mp4")
    with pytest.raises(RenderError, match="odd"):
        writer.write_frame(np.zeros((96, 127, 3), np.uint8))


def test_bad_frames_and_audio(tmp_path):
    with Mp4Writer(tmp_path / "bad.mp4", size=(128, 96)) as writer:
        writer.write_frame(square_frame(0))
        with pytest.raises(RenderError, match="is 64x64, the video is 128x96"):
            writer.write_frame(np.zeros((64, 64, 3), np.uint8))
        with pytest.raises(RenderError, match="uint8"):
            writer.write_frame(square_frame(1).astype(np.float32))
        with pytest.raises(RenderError, match="H x W x 3"):
            writer.write_frame(np.zeros((96, 128, 4), np.uint8))
        with pytest.raises(RenderError, match="1-D float"):
            writer.write_audio(np.zeros((100, 2), np.float32))
        with pytest.raises(RenderError, match="NaN"):
            writer.write_audio(np.full(100, np.nan, np.float32))
    assert inspect_video(tmp_path / "bad.mp4").n_frames == 1


def test_writing_after_close(tmp_path):
    writer = Mp4Writer(tmp_path / "closed.mp4")
    writer.write_frame(square_frame(0))
    writer.close()
    writer.close()  # closing twice is harmless
    with pytest.raises(RenderError, match="closed"):
        writer.write_frame(square_frame(1))
    with pytest.raises(RenderError, match="closed"):
        writer.write_audio(tone(0.1))


def test_setup_errors(tmp_path):
    with pytest.raises(RenderError, match="does not exist"):
        Mp4Writer(tmp_path / "nowhere" / "x.mp4")
    with pytest.raises(RenderError, match="directory"):
        Mp4Writer(tmp_path)
    with pytest.raises(RenderError, match="too large"):
        Mp4Writer(tmp_path / "x.mp4", size=(8192, 8192))
    with pytest.raises(RenderError, match="unsupported video type '.webm'"):
        Mp4Writer(tmp_path / "x.webm")
    with pytest.raises(RenderError, match="AAC cannot encode"):
        Mp4Writer(tmp_path / "x.mp4", sample_rate=12345)
    with pytest.raises(RenderError, match="fps"):
        Mp4Writer(tmp_path / "x.mp4", fps=0)
    with pytest.raises(RenderError, match="without audio"):
        Mp4Writer(tmp_path / "y.mp4", sample_rate=None).write_audio(tone(0.1))
    empty = tmp_path / "empty.mp4"
    with pytest.raises(RenderError, match="no video frames"):
        with Mp4Writer(empty) as writer:
            writer.write_audio(tone(0.5))
    assert not empty.exists()


def test_reading_bad_files(tmp_path):
    with pytest.raises(RenderError, match="not found"):
        inspect_video(tmp_path / "none.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video\n" * 20)
    with pytest.raises(RenderError, match="not a readable video"):
        list(read_frames(junk))


# -- frames rendered ahead of the encoder (pipeline.prefetched) ---------------------------------

def test_prefetched_keeps_order_and_runs_in_one_worker_thread():
    import threading
    from talkinghead.pipeline import prefetched
    threads = set()

    def frames():
        for i in range(50):
            threads.add(threading.get_ident())
            yield i

    assert list(prefetched(frames(), depth=3)) == list(range(50))
    assert len(threads) == 1 and threading.get_ident() not in threads  # GL context stays put


def test_prefetched_reraises_the_producers_error():
    from talkinghead.pipeline import prefetched

    def frames():
        yield 1
        raise RenderError("renderer lost its context")

    out = []
    with pytest.raises(RenderError, match="lost its context"):
        for item in prefetched(frames()):
            out.append(item)
    assert out == [1]


def test_prefetched_consumer_stopping_early_releases_the_worker():
    import threading
    from talkinghead.pipeline import prefetched
    before = threading.active_count()
    gen = prefetched(iter(range(10_000)), depth=2)   # the worker blocks on a full queue
    assert next(gen) == 0
    gen.close()                                      # must not hang
    assert threading.active_count() == before
