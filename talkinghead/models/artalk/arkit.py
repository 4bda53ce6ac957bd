"""ARArkitModel: ARTalk's generator trained on the arkit52 rig (55 channels), as a MotionModel.

The math is the faithful one (`BitwiseARModel.start` / `.step`: greedy multi-scale bitwise
decoding, VAE decode, re-encode of the decoded motion as the next window's previous bits); only
the rig differs. The net comes from `talkinghead train ar` (fbank `FbankEncoder`, a 55-channel
`BitwiseVAE` with the corpus's statistics) and is loaded by `training.export.load_ar_arkit`.

Audio is cut into windows of `cfg.window_samples` (2 s for (1, 5, 10, 25, 50)); the last is
zero-padded and the motion cropped to ceil(seconds * 25) frames. No Savitzky-Golay smoothing
(the flame post-processing's dims mean nothing here): blendshapes are clipped to [0, 1], which is
per frame, so a window's frames are final the moment it is decoded.

`predict` is `stream()` fed the whole clip and flushed, so the two agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...audio.io import check_audio, check_chunk
from ...errors import AudioError, MotionFileError
from ...motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES, Motion
from ..base import SAMPLE_RATE, frame_count
from .ar import BitwiseARModel, WindowState

RIG = "arkit52"
NUM_SHAPES = len(ARKIT_BLENDSHAPES)  # the first 52 channels are weights in [0, 1]


def as_arkit_style(style_motion, motion_dim: int = len(ARKIT52_CHANNELS)) -> Tensor | None:
    """None, a Motion on the arkit52 rig, or an array (Ts, 55) -> float32 tensor (Ts, 55)."""
    if style_motion is None:
        return None
    if isinstance(style_motion, Motion):
        if style_motion.rig != RIG or tuple(style_motion.channels) != ARKIT52_CHANNELS:
            raise MotionFileError(f"style motion must be on the arkit52 rig, got {style_motion.rig!r}")
        style_motion = style_motion.values
    x = torch.as_tensor(np.asarray(style_motion, dtype=np.float32))
    if x.dim() == 3 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2 or x.shape[1] != motion_dim or x.shape[0] < 1:
        raise MotionFileError(f"style motion must be (frames, {motion_dim}), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise MotionFileError("style motion contains NaN or infinity")
    return x


def finish(raw: np.ndarray) -> np.ndarray:
    """Per-frame clean-up of decoded motion: blendshape weights clipped to [0, 1]."""
    out = np.asarray(raw, np.float32).copy()
    out[:, :NUM_SHAPES] = np.clip(out[:, :NUM_SHAPES], 0.0, 1.0)
    return out


class ARArkitModel:
    """MotionModel: 16 kHz audio -> arkit52 motion (52 ARKit weights + head pitch/yaw/roll)."""

    rig = RIG
    channels = ARKIT52_CHANNELS

    def __init__(self, net: BitwiseARModel, style_motion=None, use_cache: bool = True,
                 device: str | torch.device = "cpu") -> None:
        if net.audio_encoder is None:
            raise ValueError("ARArkitModel needs a BitwiseARModel with an audio encoder")
        if net.cfg.motion_dim != len(ARKIT52_CHANNELS):
            raise ValueError(f"ARArkitModel needs a {len(ARKIT52_CHANNELS)}-channel net, "
                             f"got motion_dim {net.cfg.motion_dim}")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.style_motion = as_arkit_style(style_motion, net.cfg.motion_dim)
        self.use_cache = use_cache

    @property
    def window_samples(self) -> int:
        return self.net.cfg.window_samples

    @property
    def latency_s(self) -> float:
        """Audio that must arrive before a window's frames come out (one window)."""
        return self.window_samples / SAMPLE_RATE

    def predict(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, style_motion=None) -> Motion:
        """Whole clip -> Motion of ceil(seconds * 25) frames; the stream run to the end."""
        audio = check_audio(audio, sample_rate)
        s = self.stream(style_motion)
        values = np.concatenate([s.feed(audio), s.flush()])
        return Motion(values, self.channels, self.rig)

    def stream(self, style_motion=None) -> "ARArkitStream":
        """A fresh stream; `style_motion` (or the model's default style) conditions every window."""
        return ARArkitStream(self, style_motion)

    # -- pieces the stream uses ------------------------------------------------------------

    def start(self, style_motion=None) -> WindowState:
        style = as_arkit_style(style_motion, self.net.cfg.motion_dim)
        style = self.style_motion if style is None else style
        with torch.no_grad():
            return self.net.start(None if style is None else style.to(self.device))

    def run_window(self, state: WindowState, window: np.ndarray) -> np.ndarray:
        """One window of audio (window_samples,) -> its (T, 55) frames; advances `state`."""
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(window, np.float32))[None].to(self.device)
            motion = self.net.step(state, self.net.window_features(x), self.use_cache)
        return finish(motion[0].float().cpu().numpy())


class ARArkitStream:
    """Feed 16 kHz chunks of any size; each full window is decoded as soon as it has arrived.

    `flush` zero-pads the last partial window and crops the total to ceil(seconds * 25) frames.
    """

    def __init__(self, model: ARArkitModel, style_motion=None) -> None:
        self.model = model
        self.state = model.start(style_motion)
        self.pending = np.zeros(0, np.float32)
        self.total = 0
        self.emitted = 0
        self.done = False

    def feed(self, audio: np.ndarray) -> np.ndarray:
        if self.done:
            raise AudioError("stream already flushed; start a new one")
        audio = check_chunk(audio)
        self.pending = np.concatenate([self.pending, audio])
        self.total += audio.size
        W, out = self.model.window_samples, []
        while self.pending.size >= W:
            out.append(self._decode(self.pending[:W]))
            self.pending = self.pending[W:]
        return self._join(out)

    def flush(self) -> np.ndarray:
        if self.done:
            return self._join([])
        self.done = True
        if self.total == 0:
            raise AudioError("stream got no audio")
        if not self.pending.size:
            return self._join([])
        keep = frame_count(self.total) - self.emitted  # the padded window's frames that have audio
        window = np.zeros(self.model.window_samples, np.float32)
        window[:self.pending.size] = self.pending
        return self._decode(window)[:keep]

    def _decode(self, window: np.ndarray) -> np.ndarray:
        frames = self.model.run_window(self.state, window)
        self.emitted += len(frames)
        return frames

    def _join(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.zeros((0, len(self.model.channels)), np.float32)
        return np.concatenate(parts)
