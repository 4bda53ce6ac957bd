// talkinghead in the browser: DH_live's Audio2Feature (LSTM) run on the microphone, no server.
//
// The same computation as talkinghead/models/lstm.py's LSTMStream for v1 (16 kHz) checkpoints:
// kaldi's log-mel filterbank (80 bins, 50 ms windows every 20 ms, Povey window, pre-emphasis
// 0.97, DC removal, snip_edges false), pairs of frames -> downsample -> 2-layer LSTM -> fc head,
// the training delay dropped, arkit52 shapes clipped to [0, 1]. Weights come from model.json +
// model.bin written by `talkinghead web` (BatchNorm already folded into the linear layers).
// tests/test_webpage.py runs this file under node against the Python model.
(function (root) {
  "use strict";

  const RATE = 16000, SHIFT = 320, LENGTH = 800, NFFT = 1024, BINS = 80, HIDDEN = 192;
  const FLT_EPSILON = 1.1920928955078125e-7;   // kaldi's log floor

  // -- the filterbank --------------------------------------------------------------------------

  function melBands() {
    const mel = function (f) { return 1127 * Math.log(1 + f / 700); };
    const low = mel(20), high = mel(RATE / 2), delta = (high - low) / (BINS + 1), bands = [];
    for (let m = 0; m < BINS; m++) {
      const left = low + m * delta, centre = left + delta, right = centre + delta, band = { bins: [], weights: [] };
      for (let k = 0; k < NFFT / 2; k++) {
        const x = mel((k * RATE) / NFFT);
        if (x > left && x < right) {
          band.bins.push(k);
          band.weights.push(x <= centre ? (x - left) / (centre - left) : (right - x) / (right - centre));
        }
      }
      bands.push(band);
    }
    return bands;
  }

  const BANDS = melBands();
  const WINDOW = Float64Array.from({ length: LENGTH }, function (_, n) {
    return Math.pow(0.5 - 0.5 * Math.cos((2 * Math.PI * n) / (LENGTH - 1)), 0.85);
  });

  // In-place radix-2 complex FFT of length NFFT.
  const BITREV = (function () {
    const out = new Uint32Array(NFFT), bits = Math.log2(NFFT);
    for (let i = 0; i < NFFT; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      out[i] = r;
    }
    return out;
  })();

  function fft(re, im) {
    for (let i = 0; i < NFFT; i++) {
      const j = BITREV[i];
      if (j > i) { let t = re[i]; re[i] = re[j]; re[j] = t; t = im[i]; im[i] = im[j]; im[j] = t; }
    }
    for (let size = 2; size <= NFFT; size *= 2) {
      const half = size / 2, step = (-2 * Math.PI) / size;
      for (let start = 0; start < NFFT; start += size) {
        for (let k = 0; k < half; k++) {
          const wr = Math.cos(step * k), wi = Math.sin(step * k), a = start + k, b = a + half;
          const xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - xr; im[b] = im[a] - xi; re[a] += xr; im[a] += xi;
        }
      }
    }
  }

  // One window of samples (LENGTH) -> 80 log-mel energies, kaldi's recipe step by step.
  function logMel(samples) {
    const re = new Float64Array(NFFT), im = new Float64Array(NFFT);
    let mean = 0;
    for (let i = 0; i < LENGTH; i++) mean += samples[i];
    mean /= LENGTH;
    for (let i = 0; i < LENGTH; i++) re[i] = samples[i] - mean;
    for (let i = LENGTH - 1; i > 0; i--) re[i] -= 0.97 * re[i - 1];
    re[0] *= 1 - 0.97;
    for (let i = 0; i < LENGTH; i++) re[i] *= WINDOW[i];
    fft(re, im);
    const out = new Float32Array(BINS);
    BANDS.forEach(function (band, m) {
      let energy = 0;
      for (let j = 0; j < band.bins.length; j++) {
        const k = band.bins[j];
        energy += band.weights[j] * (re[k] * re[k] + im[k] * im[k]);
      }
      out[m] = Math.log(Math.max(energy, FLT_EPSILON));
    });
    return out;
  }

  // Streaming filterbank: frame i's window starts at i*SHIFT + SHIFT/2 - LENGTH/2 (the first
  // ones reach before the signal and reflect: sample -s-1); a frame is ready once its window
  // is complete. Memory stays bounded: samples no future frame reads are dropped.
  class Fbank {
    constructor() {
      this.buffer = new Float64Array(8 * LENGTH);
      this.base = 0;       // absolute index of buffer[0]
      this.length = 0;     // valid samples in the buffer
      this.received = 0;
      this.framesOut = 0;
      this.offset = SHIFT / 2 - LENGTH / 2;
    }

    push(samples) {
      this.append(samples);
      const ready = Math.max(0, Math.floor((this.received - this.offset - LENGTH) / SHIFT) + 1);
      const frames = [], window = new Float64Array(LENGTH);
      for (; this.framesOut < ready; this.framesOut++) {
        const start = this.framesOut * SHIFT + this.offset;
        for (let j = 0; j < LENGTH; j++) {
          const s = start + j;
          window[j] = this.buffer[(s < 0 ? -s - 1 : s) - this.base];
        }
        frames.push(logMel(window));
      }
      this.compact();
      return frames;
    }

    append(samples) {
      if (this.length + samples.length > this.buffer.length) {
        const grown = new Float64Array(2 * (this.length + samples.length));
        grown.set(this.buffer.subarray(0, this.length));
        this.buffer = grown;
      }
      this.buffer.set(samples, this.length);
      this.length += samples.length;
      this.received += samples.length;
    }

    compact() {
      // the first frames reflect samples from 0 on; later ones need only their own window
      const keep = this.framesOut * SHIFT + this.offset;
      if (keep <= 2 * LENGTH || keep - this.base < LENGTH) return;
      const drop = keep - this.base;
      this.buffer.copyWithin(0, drop, this.length);
      this.length -= drop;
      this.base += drop;
    }
  }

  // -- the network -----------------------------------------------------------------------------

  // out = W x + b for W (rows x cols) row-major.
  function affine(w, b, x, rows, cols, out) {
    for (let r = 0; r < rows; r++) {
      let sum = b[r];
      const offset = r * cols;
      for (let c = 0; c < cols; c++) sum += w[offset + c] * x[c];
      out[r] = sum;
    }
    return out;
  }

  function leaky(x) {
    for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] *= 0.2;
    return x;
  }

  const sigmoid = function (x) { return 1 / (1 + Math.exp(-x)); };

  // One LSTM cell (PyTorch gate order i, f, g, o); updates h and c in place.
  function cell(gates, h, c) {
    for (let j = 0; j < HIDDEN; j++) {
      const i = sigmoid(gates[j]), f = sigmoid(gates[HIDDEN + j]);
      const g = Math.tanh(gates[2 * HIDDEN + j]), o = sigmoid(gates[3 * HIDDEN + j]);
      c[j] = f * c[j] + i * g;
      h[j] = o * Math.tanh(c[j]);
    }
  }

  class Audio2Feature {
    // `weights`: name -> Float32Array, `manifest`: model.json (shapes, head, delay, channels)
    constructor(manifest, weights) {
      this.manifest = manifest;
      this.w = weights;
      this.outDim = manifest.out_dim;
      this.h = [new Float64Array(HIDDEN), new Float64Array(HIDDEN)];
      this.c = [new Float64Array(HIDDEN), new Float64Array(HIDDEN)];
    }

    // One 40 ms step: pair (160) -> raw outputs (out_dim).
    step(pair) {
      const w = this.w, H4 = 4 * HIDDEN;
      const y = leaky(affine(w["down.0.weight"], w["down.0.bias"], pair, 80, 160, new Float64Array(80)));
      const z = affine(w["down.3.weight"], w["down.3.bias"], y, 80, 80, new Float64Array(80));
      let input = z, size = 80;
      for (let layer = 0; layer < 2; layer++) {
        const gates = affine(w["lstm." + layer + ".weight_ih"], w["lstm." + layer + ".bias"], input, H4, size, new Float64Array(H4));
        const recurrent = affine(w["lstm." + layer + ".weight_hh"], new Float64Array(H4), this.h[layer], H4, HIDDEN, new Float64Array(H4));
        for (let j = 0; j < H4; j++) gates[j] += recurrent[j];
        cell(gates, this.h[layer], this.c[layer]);
        input = this.h[layer];
        size = HIDDEN;
      }
      const f0 = leaky(affine(w["fc.0.weight"], w["fc.0.bias"], input, 256, HIDDEN, new Float64Array(256)));
      const f1 = leaky(affine(w["fc.3.weight"], w["fc.3.bias"], f0, 256, 256, new Float64Array(256)));
      return affine(w["fc.6.weight"], w["fc.6.bias"], f1, this.outDim, 256, new Float64Array(this.outDim));
    }
  }

  // 16 kHz samples in any chunking -> rows of rig values, frame k once step k + delay has run.
  class LSTMStream {
    constructor(manifest, weights) {
      this.net = new Audio2Feature(manifest, weights);
      this.fbank = new Fbank();
      this.pending = [];
      this.delay = manifest.delay_steps;
      this.clip = manifest.head === "arkit52" ? manifest.shapes : 0;
      this.scale = manifest.scale;
      this.steps = 0;
    }

    feed(samples) {
      const rows = [];
      for (const frame of this.fbank.push(samples)) {
        this.pending.push(frame);
        if (this.pending.length < 2) continue;
        const pair = new Float64Array(2 * BINS);
        pair.set(this.pending[0]);
        pair.set(this.pending[1], BINS);
        this.pending = [];
        const out = this.net.step(pair);
        if (++this.steps <= this.delay) continue;
        for (let i = 0; i < out.length; i++) {
          out[i] *= this.scale;
          if (i < this.clip) out[i] = Math.min(1, Math.max(0, out[i]));
        }
        rows.push(out);
      }
      return rows;
    }
  }

  // Streaming resampler (any rate -> 16 kHz): a Hann-windowed sinc, cut off below the lower
  // Nyquist, evaluated at each output instant; the browser's microphone runs at 44.1/48 kHz.
  // The kernel is tabulated (256 points per input sample, linear interpolation: ~1e-5 of its
  // peak), which makes it ~3x faster than evaluating sin and cos per tap.
  const KERNEL_STEPS = 256;

  class Resampler {
    constructor(rateIn, rateOut, halfWidth) {
      this.ratio = rateIn / rateOut;
      this.cutoff = 0.95 * Math.min(1, rateOut / rateIn);
      this.half = halfWidth || 24;
      this.table = Float64Array.from({ length: this.half * KERNEL_STEPS + 2 }, (_, i) => this.exact(i / KERNEL_STEPS));
      this.history = new Float64Array(0);   // input samples from `start` on
      this.start = 0;                       // absolute index of history[0]
      this.next = 0;                        // next output sample, in output samples
    }

    exact(t) {
      if (Math.abs(t) >= this.half) return 0;
      const x = this.cutoff * t, sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      return this.cutoff * sinc * (0.5 + 0.5 * Math.cos((Math.PI * t) / this.half));
    }

    kernel(t) {
      const u = Math.abs(t) * KERNEL_STEPS, i = Math.floor(u), f = u - i;
      return i >= this.half * KERNEL_STEPS ? 0 : this.table[i] + f * (this.table[i + 1] - this.table[i]);
    }

    push(samples) {
      const joined = new Float64Array(this.history.length + samples.length);
      joined.set(this.history);
      joined.set(samples, this.history.length);
      const end = this.start + joined.length, out = [];
      for (;;) {
        const p = this.next * this.ratio, first = Math.floor(p) - this.half + 1, last = Math.floor(p) + this.half;
        if (last >= end) break;
        let sum = 0;
        for (let k = Math.max(first, 0); k <= last; k++) sum += joined[k - this.start] * this.kernel(p - k);
        out.push(sum);
        this.next++;
      }
      const keepFrom = Math.max(this.start, Math.floor(this.next * this.ratio) - this.half);
      this.history = joined.slice(keepFrom - this.start);
      this.start = keepFrom;
      return Float32Array.from(out);
    }
  }

  // model.json + model.bin -> weights by name (float32, little-endian, as listed).
  function weightsFrom(manifest, buffer) {
    const weights = {};
    for (const entry of manifest.tensors) {
      weights[entry.name] = new Float32Array(buffer, entry.offset, entry.size);
    }
    return weights;
  }

  const api = { logMel: logMel, Fbank: Fbank, Audio2Feature: Audio2Feature, LSTMStream: LSTMStream,
                Resampler: Resampler, weightsFrom: weightsFrom, RATE: RATE };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.TalkingHeadLSTM = api;
})(this);
