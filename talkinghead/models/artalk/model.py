"""ARTalkModel: the toolkit's MotionModel around BitwiseARModel (rig "flame", 106 channels).

Audio is cut into windows of `window_samples` (64000 = 4 s for the released model), the last
zero-padded; each window goes through wav2vec2, greedy bitwise AR decoding and the VAE decoder,
and hands its decoded motion to the next window. The raw motion is cropped to
ceil(n / 16000 * 25.0) frames (the original's double-precision count) and post-processed as the
original runtime does (Savitzky-Golay, jaw y/z zeroed), except that no 30-s crop is applied
unless `clip_length` asks for it.

`predict` is `stream()` run to the end: both call `_run_windows` one window at a time and feed
the same smoother, so they agree bit for bit. Several clips decode together with
`predict_batch` (each clip padded to its own window count first, so the result equals the
single runs).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...audio.io import check_audio, check_chunk
from ...errors import AudioError, MotionFileError
from ...motion import Motion
from ...rigs.flame import FLAME_CHANNELS
from ..base import SAMPLE_RATE
from .ar import BitwiseARModel, WindowState
from .postprocess import StreamingSmoother, artalk_frame_count

RIG = "flame"  # channels: exp0..99, globalX..Z, jawX..Z (axis-angle, radians)


def as_style(style_motion, motion_dim: int = 106) -> Tensor | None:
    """None, a Motion on the flame rig, or an array (Ts, 106) -> float32 tensor (Ts, 106)."""
    if style_motion is None:
        return None
    if isinstance(style_motion, Motion):
        if style_motion.rig != RIG:
            raise MotionFileError(f"ARTalk style motion must be on the flame rig, got {style_motion.rig!r}")
        style_motion = style_motion.values
    x = torch.as_tensor(np.asarray(style_motion, dtype=np.float32))
    if x.dim() == 3 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2 or x.shape[1] != motion_dim:
        raise MotionFileError(f"ARTalk style motion must be (frames, {motion_dim}), got {tuple(x.shape)}")
    return x


class ARTalkModel:
    """MotionModel: 16 kHz audio -> FLAME motion (100 expression, 3 global, 3 jaw; radians)."""

    rig = RIG
    channels = FLAME_CHANNELS

    def __init__(self, net: BitwiseARModel, style_motion=None, use_cache: bool = True,
                 postprocess: bool = True, fix_pose: bool = False,
                 clip_length: int | None = None, device: str | torch.device = "cpu") -> None:
        if net.audio_encoder is None:
            raise ValueError("ARTalkModel needs a BitwiseARModel with an audio encoder")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.style_motion = as_style(style_motion, net.cfg.motion_dim)
        self.use_cache = use_cache
        self.postprocess = postprocess
        self.fix_pose = fix_pose
        self.clip_length = clip_length

    @property
    def window_samples(self) -> int:
        return self.net.cfg.window_samples

    # -- batch -----------------------------------------------------------------------------

    def predict(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, style_motion=None) -> Motion:
        """Whole clip -> Motion of ceil(n/16000*25) frames (or `clip_length`)."""
        return self.predict_batch([audio], sample_rate, style_motion=[style_motion])[0]

    def predict_batch(self, clips: list[np.ndarray], sample_rate: int = SAMPLE_RATE,
                      style_motion: list | None = None) -> list[Motion]:
        """Several clips decoded as one batch; `style_motion` is None or one entry per clip."""
        clips = [check_audio(c, sample_rate) for c in clips]
        styles = style_motion if style_motion is not None else [None] * len(clips)
        if len(styles) != len(clips):
            raise MotionFileError(f"got {len(styles)} style motions for {len(clips)} clips")
        raw = self.predict_raw(clips, styles)
        return [self._motion(r, c.shape[0]) for r, c in zip(raw, clips)]

    def predict_raw(self, clips: list[np.ndarray], styles: list) -> list[np.ndarray]:
        """Raw (un-smoothed) motion per clip, (frames, 106) each."""
        W = self.window_samples
        n_windows = [-(-c.shape[0] // W) for c in clips]
        audio = np.zeros((len(clips), max(n_windows) * W), np.float32)
        for i, c in enumerate(clips):
            audio[i, :c.shape[0]] = c
        state = self._start(styles)
        frames = [self._run_window(state, audio[:, k * W:(k + 1) * W]) for k in range(max(n_windows))]
        motion = np.concatenate(frames, axis=1)
        return [motion[i, :artalk_frame_count(c.shape[0])] for i, c in enumerate(clips)]

    def _motion(self, raw: np.ndarray, num_samples: int) -> Motion:
        smoother = self._smoother()
        if smoother is None:
            values = raw if self.clip_length is None else raw[:self.clip_length]
        else:
            values = np.concatenate([smoother.push(raw), smoother.flush()])
        return Motion(values, self.channels, self.rig)

    # -- streaming -------------------------------------------------------------------------

    def stream(self, style_motion=None) -> "ARTalkStream":
        return ARTalkStream(self, style_motion)

    # -- shared pieces ---------------------------------------------------------------------

    def _start(self, styles: list) -> WindowState:
        styles = [as_style(s, self.net.cfg.motion_dim) for s in styles]
        styles = [self.style_motion if s is None else s for s in styles]
        with torch.no_grad():
            if all(s is None for s in styles):
                return self.net.start(None, batch=len(styles))
            return self.net.start([None if s is None else s.to(self.device) for s in styles])

    def _run_window(self, state: WindowState, windows: np.ndarray) -> np.ndarray:
        """(B, window_samples) audio -> (B, T, 106) raw motion; advances `state`."""
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device)
            motion = self.net.step(state, self.net.window_features(x), self.use_cache)
        return motion.float().cpu().numpy()

    def _smoother(self) -> StreamingSmoother | None:
        if not self.postprocess:
            return None
        return StreamingSmoother(self.clip_length, self.fix_pose)


class ARTalkStream:
    """Feed 16 kHz chunks of any size; a window is decoded as soon as 4 s have arrived.

    Post-processed frames come out 4 frames behind the decoded ones (the smoothing window).
    `flush` zero-pads the last partial window and crops to ceil(n/16000*25) frames in total.
    """

    def __init__(self, model: ARTalkModel, style_motion=None) -> None:
        self.model = model
        self.state = model._start([style_motion])
        self.smoother = model._smoother()
        self.pending = np.zeros(0, np.float32)
        self.total = 0
        self.decoded = 0
        self.returned = 0
        self.done = False

    def feed(self, audio: np.ndarray) -> np.ndarray:
        if self.done:
            raise AudioError("ARTalk stream already flushed; start a new one")
        audio = check_chunk(audio)
        self.pending = np.concatenate([self.pending, audio])
        self.total += audio.size
        W = self.model.window_samples
        out = []
        while self.pending.size >= W:
            out.append(self._emit(self._decode(self.pending[:W])))
            self.pending = self.pending[W:]
        return np.concatenate(out) if out else np.zeros((0, 106), np.float32)

    def flush(self) -> np.ndarray:
        if self.done:
            return np.zeros((0, 106), np.float32)
        self.done = True
        if self.total == 0:
            raise AudioError("ARTalk stream got no audio")
        out = []
        if self.pending.size:
            window = np.zeros(self.model.window_samples, np.float32)
            window[:self.pending.size] = self.pending
            keep = artalk_frame_count(self.total) - self.decoded
            out.append(self._emit(self._decode(window)[:keep]))
        if self.smoother is not None:
            out.append(self.smoother.flush())
        return np.concatenate(out) if out else np.zeros((0, 106), np.float32)

    def _decode(self, window: np.ndarray) -> np.ndarray:
        """One window of audio -> its raw frames (the state hands off to the next window)."""
        raw = self.model._run_window(self.state, window[None])[0]
        self.decoded += raw.shape[0]
        return raw

    def _emit(self, raw: np.ndarray) -> np.ndarray:
        """Raw frames -> the frames now final (smoothed 4 frames late, or cut at clip_length)."""
        if self.smoother is not None:
            return self.smoother.push(raw)
        if self.model.clip_length is not None:
            raw = raw[:max(0, self.model.clip_length - self.returned)]
        self.returned += raw.shape[0]
        return raw
