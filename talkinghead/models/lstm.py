"""DH_live's Audio2Feature: pairs of fbank frames -> 2-layer LSTM -> one motion vector per 40 ms.

The network (`Audio2Feature`) keeps DH_live's layers and state_dict names, so its released
checkpoints (`lstm_model_epoch_325.pkl` for mini 2.0, `audio.pkl` for v1: bare state_dicts saved
with `torch.save`) load strictly. Around it:

* the original's offline and streaming entry points, number for number (`mini_offline`,
  `v1_offline`, `audio2mouth`, `V1FrameStream`), for conformance and for users comparing with it;
* `LSTMMotionModel`, the toolkit's MotionModel. It streams with carried LSTM state, pairs fbank
  frames as the network was trained (frames 2t, 2t+1 with no primer), drops the training delay
  (4 steps for v1, 5 for mini) so frame k is aligned with audio [40k, 40k+40) ms, and pads
  silence at the end so the motion covers the whole clip. `predict` is the stream run once, so
  the mini variant resamples with soxr there too (the original's whole-clip FFT resampler cannot
  stream; `mini_offline` keeps it): outputs differ from the original by < 1e-3 on the fixture.
  The stream's filterbank is `NumpyFbankStream` (kaldi's recipe in numpy, within ~6e-4 of
  kaldi-native-fbank and ~2x cheaper per chunk); steps run through `_FastSteps`, the net with
  BatchNorm and biases folded, as 26 preallocated calls per 40 ms step. A step reads 2.5 MB of
  float32 weights (more than a 2 MB L2), so its floor is memory bandwidth, not arithmetic
  (benchmarks/bench_lstm.py prints both).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import soxr
import torch
from torch import nn

from ..errors import AudioError, CheckpointError, reason
from ..checkpoints import check_state_dict
from ..audio.io import check_chunk, check_rate
from ..features.fbank import DHLiveFbankStream, FbankStream, fbank, mini_fbank
from ..motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES, Motion
from ..rigs.dhlive6 import DHLIVE6_CHANNELS
from .base import SAMPLE_RATE, frame_count

FBANK_DIM = 80
HIDDEN = 192
SAMPLES_PER_STEP = 640  # 40 ms at 16 kHz: one LSTM step, one video frame


class Audio2Feature(nn.Module):
    """DH_live's network (spec-dhlive §3.1); `out_dim` 6 is the original, 55 our arkit52 head."""

    def __init__(self, out_dim: int = 6) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Linear(2 * FBANK_DIM, 80), nn.BatchNorm1d(80), nn.LeakyReLU(0.2), nn.Linear(80, 80))
        self.LSTM = nn.LSTM(80, HIDDEN, num_layers=2, batch_first=True)
        self.fc = nn.Sequential(
            nn.Linear(HIDDEN, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
            nn.Linear(256, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
            nn.Linear(256, out_dim))

    @property
    def out_dim(self) -> int:
        return self.fc[6].out_features

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None,
                c0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, 80), T even -> y (B, T/2, out_dim), h_n, c_n (2, B, 192)."""
        batch, frames, _ = x.shape
        steps = frames // 2
        z = self.downsample(x.reshape(batch * steps, 2 * FBANK_DIM)).reshape(batch, steps, 80)
        if h0 is None:
            h0 = x.new_zeros(2, batch, HIDDEN)
        if c0 is None:
            c0 = x.new_zeros(2, batch, HIDDEN)
        out, (h_n, c_n) = self.LSTM(z, (h0, c0))
        y = self.fc(out.reshape(batch * steps, HIDDEN)).reshape(batch, steps, -1)
        return y, h_n, c_n


# -- checkpoints ------------------------------------------------------------------------------

def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A bare state_dict from `torch.save` (.pkl/.pt/.pth, weights only) or `.safetensors`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling/format errors come in many types
        raise CheckpointError(f"cannot read checkpoint {path}: {reason(exc)}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} is not a state_dict of tensors")
    # Some writers store BatchNorm's scalar counter as shape [1]; it carries no weights.
    return {k: v.reshape(()) if k.endswith("num_batches_tracked") and v.numel() == 1 else v
            for k, v in state.items()}


def load_strict(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """`load_state_dict(strict=True)` with a one-line CheckpointError naming every bad key."""
    check_state_dict(net.state_dict(), state, f"checkpoint {source} (Audio2Feature)")
    net.load_state_dict(state, strict=True)


# -- the original's entry points --------------------------------------------------------------

@torch.inference_mode()
def run_audio2feature(net: Audio2Feature, feats: np.ndarray, h0: np.ndarray | None = None,
                      c0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole feature sequence at once, truncated to an even frame count as the original does.
    Returns y (T/2, out_dim), h_n, c_n (2, 1, 192) as numpy."""
    feats = np.asarray(feats, np.float32)
    feats = feats[: len(feats) // 2 * 2]
    state = [None if s is None else torch.from_numpy(np.asarray(s, np.float32)) for s in (h0, c0)]
    y, h_n, c_n = net.eval()(torch.from_numpy(feats)[None], *state)
    return y[0].numpy(), h_n.numpy(), c_n.numpy()


def mini_offline(net: Audio2Feature, wav_int16: np.ndarray) -> np.ndarray:
    """DH_live mini 2.0 offline (`Audio2bs` + `demo_mini`): FFT-resample to 8 kHz, fbank, LSTM,
    drop 5 rows, x0.5. Row k drives video frame k (before the renderer's lip guard)."""
    y, _, _ = run_audio2feature(net, mini_fbank(wav_int16))
    return y[VARIANTS["mini"].delay:] * np.float32(VARIANTS["mini"].scale)


def v1_offline(net: Audio2Feature, samples_16k: np.ndarray) -> np.ndarray:
    """DH_live v1 offline (`interface_wav`): 16 kHz fbank, LSTM, drop 4 rows."""
    y, _, _ = run_audio2feature(net, fbank(samples_16k, 16000))
    return y[VARIANTS["v1"].delay:]


def audio2mouth(net: Audio2Feature, samples_16k: np.ndarray) -> np.ndarray:
    """The original's unused `Audio2mouth` helper: v1 offline, columns 0,1 / 8, column 2 -> -col/8."""
    y = v1_offline(net, samples_16k).copy()
    y[:, :2] /= np.float32(8.0)
    y[:, 2] = -y[:, 2] / np.float32(8.0)
    return y


class V1FrameStream:
    """DH_live v1 `interface_frame`: exactly 640 samples in, the raw 6-vector out, state carried.

    It primes the extractor with 320 zeros, which pairs frames half a video frame away from the
    training pairing (spec §3.5); kept for fidelity, `LSTMMotionModel` streams without it.
    """

    PRIMER = 320

    def __init__(self, net: Audio2Feature) -> None:
        self.net = net.eval()
        self._fbank = FbankStream(16000)
        self._frames = self._fbank.feed(np.zeros(self.PRIMER, np.float32))
        self.h = torch.zeros(2, 1, HIDDEN)
        self.c = torch.zeros(2, 1, HIDDEN)
        self.last_pair = np.zeros((2, FBANK_DIM), np.float32)

    @torch.inference_mode()
    def step(self, chunk: np.ndarray) -> np.ndarray:
        chunk = check_chunk(chunk)
        if chunk.size != SAMPLES_PER_STEP:
            raise AudioError(f"v1 streaming takes chunks of {SAMPLES_PER_STEP} samples, "
                             f"got {chunk.size}")
        self._frames = np.concatenate([self._frames, self._fbank.feed(chunk)])
        self.last_pair, self._frames = self._frames[:2], self._frames[2:]
        y, self.h, self.c = self.net(torch.from_numpy(self.last_pair)[None], self.h, self.c)
        return y[0, 0].numpy()


# -- fast numpy steps for streaming -----------------------------------------------------------

def _folded_linear(linear: nn.Linear, bn: nn.BatchNorm1d | None) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) in float64 with an inference-mode BatchNorm after the Linear folded in."""
    w = linear.weight.detach().double().numpy()
    b = linear.bias.detach().double().numpy()
    if bn is not None:
        s = bn.weight.detach().double().numpy() / np.sqrt(bn.running_var.detach().double().numpy()
                                                          + bn.eps)
        w = w * s[:, None]
        b = (b - bn.running_mean.detach().double().numpy()) * s + bn.bias.detach().double().numpy()
    return w, b


class _FastSteps:
    """Audio2Feature inference for a stream, one 40 ms step per call, state kept inside.

    Weights are snapshot at construction. One step is ~630k multiply-adds on 2.5 MB of weights:
    its cost is memory traffic and per-call overhead, so the step is a fixed list of
    preallocated calls (`functools.partial`, no allocation, no attribute look-ups, ufunc outputs
    passed by position: ~0.2 us less per call than `out=`) on buffers laid out so that no
    concatenation is needed:

    * BatchNorm is folded into the Linear before it, `downsample.3` into the first LSTM input
      projection, both LSTM biases into one, and every bias into its matrix as a column fed by a
      constant 1 in the input buffer, so each layer is one matrix-vector call;
    * gate rows are ordered (o, i, f, g) and the sigmoid rows scaled by 0.5, so one tanh serves
      every gate (sigmoid(x) = (tanh(x/2) + 1) / 2); the hidden state is stored doubled
      (2h = (1 + tanh) tanh(c)) and the columns that read it halved; powers of two are exact;
    * the matrix-vector products go to torch (MKL) or numpy (its BLAS), whichever is faster on
      this machine (`_pick_backend`; numpy's OpenBLAS misdetects some CPUs); the elementwise
      work is numpy on the same memory.

    It agrees with the torch module to ~1e-7. Long runs (offline use) go through torch's fused
    LSTM, faster per step than any per-step loop.
    """

    TORCH_FROM = 8  # steps per call from which torch's loop beats the per-step calls

    def __init__(self, net: Audio2Feature, backend: str | None = None) -> None:
        self.net = copy.deepcopy(net).eval()
        self.out_dim = net.out_dim
        self.backend = backend or _pick_backend()
        self._buffers(self.out_dim)
        self._ops = self._build(_stacked_weights(net))

    def _buffers(self, out_dim: int) -> None:
        """Every array a step touches, allocated once."""
        f32 = np.float32
        self.x = np.zeros(161, f32)  # [pair (160) | 1]
        # [1 | z (80) | 2 h0 (192) | 2 h1 (192) | 1]: layer 0 reads [1, z, 2h0], layer 1
        # [2h0, 2h1, 1], fc.0 [2h1, 1]
        self.v = np.zeros(2 + 80 + 2 * HIDDEN, f32)
        self.x[160] = self.v[0] = self.v[-1] = 1.0
        self.g = [np.zeros(5 * HIDDEN, f32) for _ in range(2)]  # gates (o, i, f, g) | c
        self.y0, self.y1 = np.zeros(257, f32), np.zeros(257, f32)  # [fc.0 / fc.3 out | 1]
        self.y0[256] = self.y1[256] = 1.0
        self.y = np.zeros(out_dim, f32)
        self._t384, self._t256 = np.zeros(2 * HIDDEN, f32), np.zeros(256, f32)

    def _build(self, mats: list[np.ndarray]) -> list:
        """The step as a list of zero-argument calls (26: 6 matrix-vector products, 20 numpy
        elementwise calls on preallocated buffers)."""
        H = HIDDEN
        v, (g0, g1) = self.v, self.g
        z, h0, h1 = v[1:81], v[81:81 + H], v[81 + H:81 + 2 * H]
        mv = _MatVec(self.backend).mv
        self.weights = mats  # in step order
        return [mv(mats[0], self.x, z), *_leaky(z, self._t256[:80]),
                mv(mats[1], v[:81 + H], g0[:4 * H]), *self._cell(g0, h0),
                mv(mats[2], v[81:], g1[:4 * H]), *self._cell(g1, h1),
                mv(mats[3], v[81 + H:], self.y0[:256]), *_leaky(self.y0[:256], self._t256),
                mv(mats[4], self.y0, self.y1[:256]), *_leaky(self.y1[:256], self._t256),
                mv(mats[5], self.y1, self.y)]

    def _cell(self, g: np.ndarray, h2: np.ndarray) -> list:
        """LSTM cell on gates g = [o, i, f, g | c] (pre-activations), writing 2h into h2."""
        H = HIDDEN
        gates, ifo, gc, c, t = g[:4 * H], g[:3 * H], g[3 * H:], g[4 * H:], self._t384
        return [partial(np.tanh, gates, gates),
                partial(np.add, ifo, 1.0, ifo),  # 2 sigmoid(x) = 1 + tanh(x / 2)
                partial(np.multiply, g[H:3 * H], gc, t),  # [2 i g~, 2 f c]
                partial(np.add, t[:H], t[H:], c),
                partial(np.multiply, c, 0.5, c),
                partial(np.tanh, c, t[:H]),
                partial(np.multiply, g[:H], t[:H], h2)]  # 2 o tanh(c)

    @property
    def state(self) -> np.ndarray:
        """(4, 192): h of layer 0, h of layer 1, c of layer 0, c of layer 1."""
        h = self.v[81:81 + 2 * HIDDEN].reshape(2, HIDDEN) * np.float32(0.5)
        return np.concatenate([h, self.g[0][4 * HIDDEN:][None], self.g[1][4 * HIDDEN:][None]])

    @state.setter
    def state(self, value: np.ndarray) -> None:
        value = np.asarray(value, np.float32)
        self.v[81:81 + 2 * HIDDEN] = value[:2].reshape(-1) * np.float32(2.0)
        self.g[0][4 * HIDDEN:] = value[2]
        self.g[1][4 * HIDDEN:] = value[3]

    @staticmethod
    def zero_state() -> np.ndarray:
        return np.zeros((4, HIDDEN), np.float32)

    def step(self, pair: np.ndarray) -> np.ndarray:
        """One 40 ms step for one (160,) pair of frames; returns a view of the output buffer."""
        self.x[:160] = pair
        for op in self._ops:
            op()
        return self.y

    def step_frames(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """`step` for the pair given as its two (80,) frames."""
        self.x[:FBANK_DIM] = first
        self.x[FBANK_DIM:2 * FBANK_DIM] = second
        for op in self._ops:
            op()
        return self.y

    def run(self, pairs: np.ndarray) -> np.ndarray:
        """pairs (n, 160) -> outputs (n, out_dim), state carried."""
        if len(pairs) >= self.TORCH_FROM:
            return self._run_torch(pairs)
        out = np.empty((len(pairs), self.out_dim), np.float32)
        for i, pair in enumerate(pairs):
            out[i] = self.step(pair)
        return out

    @torch.inference_mode()
    def _run_torch(self, pairs: np.ndarray) -> np.ndarray:
        s = torch.from_numpy(self.state)[:, None]
        y, h, c = self.net(torch.from_numpy(pairs).reshape(1, 2 * len(pairs), FBANK_DIM), s[:2], s[2:])
        self.state = torch.cat([h[:, 0], c[:, 0]]).numpy()
        return y[0].numpy()


def _leaky(x: np.ndarray, tmp: np.ndarray) -> list:
    """LeakyReLU(0.2) in place: max(x, 0.2 x)."""
    return [partial(np.multiply, x, 0.2, tmp), partial(np.maximum, x, tmp, x)]


def _stacked_weights(net: Audio2Feature) -> list[np.ndarray]:
    """The six matrices of a step, (out, in + 1) float32 with the bias as column 0 or last
    (matching where the constant 1 sits in the step's input buffers)."""
    H = HIDDEN
    w_in, b_in = _folded_linear(net.downsample[0], net.downsample[1])
    w3, b3 = _folded_linear(net.downsample[3], None)
    lstm = {k: v.detach().double().numpy() for k, v in net.LSTM.state_dict().items()}
    order = np.r_[3 * H:4 * H, 0:H, H:2 * H, 2 * H:3 * H]  # (i, f, g, o) -> (o, i, f, g)
    scale = np.r_[np.full(2 * H, 0.5), np.ones(H), np.full(H, 0.5)][:, None]  # i f g o: sigmoids via tanh(x/2)
    half = 0.5  # columns that read the doubled hidden state
    w0 = np.concatenate([(lstm["weight_ih_l0"] @ b3 + lstm["bias_ih_l0"] + lstm["bias_hh_l0"])[:, None],
                         lstm["weight_ih_l0"] @ w3, lstm["weight_hh_l0"] * half], axis=1)
    w1 = np.concatenate([lstm["weight_ih_l1"] * half, lstm["weight_hh_l1"] * half,
                         (lstm["bias_ih_l1"] + lstm["bias_hh_l1"])[:, None]], axis=1)
    fc = [_folded_linear(net.fc[i], net.fc[i + 1] if i < 6 else None) for i in (0, 3, 6)]
    mats = [np.concatenate([w_in, b_in[:, None]], 1), (w0 * scale)[order], (w1 * scale)[order],
            np.concatenate([fc[0][0] * half, fc[0][1][:, None]], 1)]
    mats += [np.concatenate([w, b[:, None]], 1) for w, b in fc[1:]]
    return [np.ascontiguousarray(m, np.float32) for m in mats]


class _MatVec:
    """Zero-argument calls out = W @ x for contiguous W (out, in) float32, in torch (MKL) or
    numpy (x @ W.T, one transposed copy per W)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._transposed: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def mv(self, w: np.ndarray, x: np.ndarray, out: np.ndarray):
        if self.backend == "torch":
            return partial(torch.mv, torch.from_numpy(w), torch.from_numpy(x), out=torch.from_numpy(out))
        return partial(np.matmul, x, self._t(w), out)

    def _t(self, w: np.ndarray) -> np.ndarray:
        if id(w) not in self._transposed:
            self._transposed[id(w)] = (w, np.ascontiguousarray(w.T))  # w kept: ids stay unique
        return self._transposed[id(w)][1]


_BACKEND: list[str] = []


def _pick_backend() -> str:
    """"numpy" or "torch" for the step's matrix-vector products, measured once per process
    (~2 ms): numpy only when it runs a 768x385 float32 product (the largest of a step) clearly
    faster. numpy's OpenBLAS picks its kernels by CPU model and falls back to slow generic ones
    on CPUs it does not know (OPENBLAS_CORETYPE fixes that; we do not set it for the user)."""
    if not _BACKEND:
        import time
        w = np.random.default_rng(0).standard_normal((768, 385)).astype(np.float32)
        x, out = np.ones(385, np.float32), np.zeros(768, np.float32)
        calls = {name: _MatVec(name).mv(w, x, out) for name in ("torch", "numpy")}
        best = dict.fromkeys(calls, float("inf"))
        for _ in range(8):  # interleaved rounds, fastest of each: robust to a busy machine
            for name, call in calls.items():
                start = time.perf_counter()
                for _ in range(4):
                    call()
                best[name] = min(best[name], time.perf_counter() - start)
        _BACKEND.append("numpy" if best["numpy"] < 0.8 * best["torch"] else "torch")
    return _BACKEND[0]


# -- the MotionModel --------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """How a checkpoint was trained: its front end, the output delay in steps, the output scale."""

    name: str
    sample_rate: int
    delay: int
    scale: float  # mini's unexplained x0.5 (spec §3.3), applied to the dhlive6 head only


VARIANTS = {"mini": Variant("mini", 8000, 5, 0.5), "v1": Variant("v1", 16000, 4, 1.0)}
HEADS = {"dhlive6": DHLIVE6_CHANNELS, "arkit52": ARKIT52_CHANNELS}


def _head_for(out_dim: int, source: str) -> str:
    for head, channels in HEADS.items():
        if len(channels) == out_dim:
            return head
    raise CheckpointError(f"checkpoint {source} has {out_dim} outputs; expected 6 (dhlive6) or "
                          f"{len(ARKIT52_CHANNELS)} (arkit52)")


class LSTMMotionModel:
    """Audio -> Motion with DH_live's LSTM, on the `dhlive6` or `arkit52` rig."""

    def __init__(self, net: Audio2Feature, variant: str = "v1") -> None:
        if variant not in VARIANTS:
            raise CheckpointError(f"unknown LSTM variant {variant!r}; choose from {list(VARIANTS)}")
        self.net = net.eval()
        self.variant = VARIANTS[variant]
        self.rig = _head_for(net.out_dim, "in memory")
        self.channels = HEADS[self.rig]

    @property
    def latency_ms(self) -> float:
        """Audio needed beyond a frame's own 40 ms before it is emitted (delay + window tail)."""
        return 40.0 * self.variant.delay + 15.0

    def with_head(self, head: str, seed: int = 0) -> "LSTMMotionModel":
        """The same trunk (every layer but `fc.6`) with a fresh, untrained `head` layer."""
        if head not in HEADS:
            raise CheckpointError(f"unknown head {head!r}; choose from {list(HEADS)}")
        net = _seeded_net(len(HEADS[head]), seed)
        trunk = {k: v for k, v in self.net.state_dict().items() if not k.startswith("fc.6.")}
        net.load_state_dict(trunk, strict=False)
        return LSTMMotionModel(net, self.variant.name)

    def postprocess(self, rows: np.ndarray) -> np.ndarray:
        """Aligned network rows -> rig values: mini's x0.5 on dhlive6; arkit52 shapes into [0, 1]."""
        if self.rig == "dhlive6":
            return rows * np.float32(self.variant.scale)  # a new array (rows may be a buffer view)
        out = rows.copy()
        n = len(ARKIT_BLENDSHAPES)
        out[:, :n] = np.clip(out[:, :n], 0.0, 1.0)
        return out

    def stream(self) -> "LSTMStream":
        return LSTMStream(self)

    def predict(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Motion:
        audio = check_chunk(audio)
        if check_rate(sample_rate) != SAMPLE_RATE:
            audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
        stream = self.stream()
        values = np.concatenate([stream.feed(audio), stream.flush()])
        return Motion(values, self.channels, self.rig)


class LSTMStream:
    """Feed 16 kHz chunks of any size; frame k comes out once step k + delay has run.

    The filterbank is `NumpyFbankStream` (within ~6e-4 of kaldi-native-fbank, which moves the
    outputs by ~1e-7 on the fixture) and each 40 ms step one `_FastSteps.step`; the common case,
    one 640-sample chunk in and one pair of frames out, takes a short path with no
    concatenation.
    """

    def __init__(self, model: LSTMMotionModel) -> None:
        self.model = model
        self._front = DHLiveFbankStream(model.variant.sample_rate, engine="numpy")
        self._steps = _FastSteps(model.net)
        self._pending = np.zeros((0, FBANK_DIM), np.float32)
        self._width = len(model.channels)
        self._delay = model.variant.delay
        self._rows_run = 0
        self._frames_out = 0
        self._samples_in = 0
        self._closed = False

    def feed(self, audio: np.ndarray) -> np.ndarray:
        if self._closed:
            raise AudioError("this LSTM stream was flushed; start a new one with model.stream()")
        audio = check_chunk(audio)
        self._samples_in += audio.size
        return self._advance(self._front.push(audio))

    def flush(self) -> np.ndarray:
        """Pad silence until every frame of the audio fed so far has its delayed step; return them.

        Pair t is complete once 640 t + 880 samples exist (window end of frame 2t+1), so frames
        up to `frame_count(n)` need 640 (frames + delay - 1) + 880 samples; one step of margin
        covers the resampler's rounding on the mini path.
        """
        if self._closed:
            return np.zeros((0, self._width), np.float32)
        self._closed = True
        wanted = frame_count(self._samples_in)
        if wanted <= self._frames_out:
            return np.zeros((0, self._width), np.float32)
        needed = SAMPLES_PER_STEP * (wanted + self._delay) + 880
        pad = np.zeros(max(0, needed - self._samples_in), np.float32)
        out = self._advance(self._front.push(pad, last=True))
        return out[: wanted - (self._frames_out - len(out))]

    def _advance(self, feats: np.ndarray) -> np.ndarray:
        if len(self._pending) + len(feats) in (2, 3):  # a 40 ms chunk: one step, no concatenation
            first, second = (feats[0], feats[1]) if not len(self._pending) else (self._pending[0], feats[0])
            self._pending = feats[len(feats) - (len(self._pending) + len(feats) - 2):]
            y = self._steps.step_frames(first, second)
            self._rows_run += 1
            if self._rows_run <= self._delay:
                return np.zeros((0, self._width), np.float32)
            self._frames_out += 1
            return self.model.postprocess(y[None])
        if len(self._pending):
            feats = np.concatenate([self._pending, feats])
        n = len(feats) // 2
        self._pending = feats[2 * n:]
        if n == 0:
            return np.zeros((0, self._width), np.float32)
        rows = self._steps.run(feats[: 2 * n].reshape(n, 2 * FBANK_DIM))
        skip = max(0, self._delay - self._rows_run)
        self._rows_run += n
        out = self.model.postprocess(rows[skip:])
        self._frames_out += len(out)
        return out


# -- constructors -----------------------------------------------------------------------------

def load_dhlive_lstm(path: str | Path, variant: str = "mini") -> LSTMMotionModel:
    """A DH_live Audio2Feature checkpoint (bare state_dict) as a MotionModel.

    `variant` says how it was trained: "mini" (`lstm_model_epoch_325.pkl`, 8 kHz features, delay
    5, x0.5) or "v1" (`audio.pkl`, 16 kHz, delay 4). The head (dhlive6 or arkit52) follows from the
    shape of `fc.6.weight`. Loading is strict: any missing, unexpected or misshapen key fails.
    """
    if variant not in VARIANTS:
        raise CheckpointError(f"unknown LSTM variant {variant!r}; choose from {list(VARIANTS)}")
    state = read_state_dict(path)
    head_weight = state.get("fc.6.weight")
    out_dim = head_weight.shape[0] if head_weight is not None and head_weight.ndim == 2 else 6
    _head_for(out_dim, str(path))
    net = Audio2Feature(out_dim)
    load_strict(net, state, str(path))
    return LSTMMotionModel(net, variant)


def build_lstm_model(head: str = "arkit52", variant: str = "v1", seed: int = 0) -> LSTMMotionModel:
    """A freshly initialised (untrained) model, e.g. the starting point for training."""
    if head not in HEADS:
        raise CheckpointError(f"unknown head {head!r}; choose from {list(HEADS)}")
    return LSTMMotionModel(_seeded_net(len(HEADS[head]), seed), variant)


def _seeded_net(out_dim: int, seed: int) -> Audio2Feature:
    """PyTorch's default initialisation, reproducible, without touching the global RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Audio2Feature(out_dim)
