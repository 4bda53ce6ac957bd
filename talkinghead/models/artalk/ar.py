"""BitwiseARModel: ARTalk's multi-scale bitwise autoregressive generator (the whole checkpoint).

One 4-second window is 181 tokens over 5 scales (1, 5, 25, 50, 100). Decoding is greedy, one
scale per step: the input of scale s+1 is built from the bits of scales 0..s (next-scale
features), and every token sees all tokens of its own and coarser scales (block-causal mask).

Conditioning, per token:
* audio: wav2vec2 features of the window area-pooled to the token's scale, through AdaLN;
* style: one token at position 0, 1.1*s - 0.1*null (guidance in embedding space);
* previous window: 181 extra key/value tokens [style ; embedded next-scale features of the
  previous window's bits], the same raw tokens for every block (never propagated).

Between windows, the decoded motion is re-encoded by the VAE to give the next window's
previous bits. The first window's "previous" motion is raw zeros.

`use_cache=True` keeps each block's keys/values across the 5 steps instead of recomputing the
whole prefix; tokens never attend to finer scales, so it is the same function (same bits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bsq import area
from .config import ARTalkConfig
from .style import StyleEncoder
from .vae import BitwiseVAE

STYLE_GUIDANCE = 1.1  # style_tok = 1.1 * s - 0.1 * null


# -- attention with a per-window key/value cache ------------------------------------------


@dataclass
class LayerCache:
    """One block's keys/values for a window: [previous-window tokens ; current tokens so far].

    The buffers hold `capacity` tokens (all of them) from the first append on, so each scale
    writes its own keys in place and attention reads a view: no copy of the past per scale.
    """

    capacity: int
    keys: Tensor | None = None
    values: Tensor | None = None
    length: int = 0

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add (B, H, n, d) keys/values; return views of everything cached so far."""
        if self.keys is None:
            B, H, _, d = k.shape
            self.keys = k.new_empty(B, H, self.capacity, d)
            self.values = v.new_empty(B, H, self.capacity, d)
        end = self.length + k.shape[2]
        self.keys[:, :, self.length:end] = k
        self.values[:, :, self.length:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


class ModifiedSelfAttention(nn.Module):
    """q/k L2-normalised per head, learnable per-head logit scale (clamped at ln 100), scale 1.

    The key projection has no bias. Keys/values are [previous tokens (raw) ; current (modulated)].
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale_mul_1H11 = nn.Parameter(torch.full((1, heads, 1, 1), math.log(4.0)))
        self.max_scale_mul = math.log(100.0)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        B, L, D = x.shape
        return x.view(B, L, self.heads, D // self.heads).transpose(1, 2)

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return F.normalize(self._split(self.key(x)), dim=-1), self._split(self.value(x))

    def forward(self, h: Tensor, prev: Tensor, mask: Tensor | None,
                cache: LayerCache | None = None) -> Tensor:
        scale = self.scale_mul_1H11.clamp(max=self.max_scale_mul).exp()
        q = F.normalize(self._split(self.query(h)), dim=-1) * scale
        k, v = self.keys_values(h)
        if cache is None:
            pk, pv = self.keys_values(prev)
            k, v = torch.cat([pk, k], 2), torch.cat([pv, v], 2)
        else:
            if cache.length == 0:
                cache.append(*self.keys_values(prev))
            k, v = cache.append(k, v)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
        B, _, L, _ = o.shape
        return self.proj(o.transpose(1, 2).reshape(B, L, -1))


class AdaLNSelfAttnBlock(nn.Module):
    """Pre-LN (no affine) block whose scale/shift/gate come from the per-token audio condition."""

    def __init__(self, dim: int, heads: int, cond_dim: int) -> None:
        super().__init__()
        self.attn = ModifiedSelfAttention(dim, heads)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * dim, dim))
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))
        self.ln = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)

    def forward(self, x: Tensor, cond: Tensor, prev: Tensor, mask: Tensor | None,
                cache: LayerCache | None = None, mod: Tensor | None = None) -> Tensor:
        """`mod` = self.ada_lin(cond) when the caller has it already (see `decode_bits`)."""
        B, L, D = x.shape
        mod = self.ada_lin(cond) if mod is None else mod
        gamma1, gamma2, scale1, scale2, shift1, shift2 = mod.view(B, L, 6, D).unbind(2)
        x = x + self.attn(self.ln(x) * (1 + scale1) + shift1, prev, mask, cache) * gamma1
        return x + self.ffn(self.ln(x) * (1 + scale2) + shift2) * gamma2


class AdaLNBeforeHead(nn.Module):
    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim))
        self.ln = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)

    def forward(self, x: Tensor, cond: Tensor, mod: Tensor | None = None) -> Tensor:
        B, L, D = x.shape
        mod = self.ada_lin(cond) if mod is None else mod
        scale, shift = mod.view(B, L, 2, D).unbind(2)
        return self.ln(x) * (1 + scale) + shift


# -- masks and level indices --------------------------------------------------------------


def level_index(patch_nums: tuple[int, ...]) -> Tensor:
    """(1, L) int64: the scale of every token."""
    return torch.cat([torch.full((pn,), s, dtype=torch.long)
                      for s, pn in enumerate(patch_nums)]).unsqueeze(0)


def block_causal_bias(patch_nums: tuple[int, ...], prev_ratio: int) -> Tensor:
    """(1, 1, L, L*r + L): prev columns open; current column j open iff level(j) <= level(i)."""
    lvl = level_index(patch_nums)[0]
    L = lvl.numel()
    cur = torch.where(lvl[None, :] <= lvl[:, None], 0.0, float("-inf"))
    return torch.cat([torch.zeros(L, L * prev_ratio), cur], dim=1).view(1, 1, L, -1)


def greedy_bits(logits: Tensor) -> Tensor:
    """(B, L, 2C) -> (B, L, C) uint8: bit c is 1 iff logit[2c+1] > logit[2c] (tie -> 0)."""
    return (logits[..., 1::2] > logits[..., 0::2]).to(torch.uint8)


# -- the model -----------------------------------------------------------------------------


@dataclass
class WindowState:
    """What carries from one window to the next: style token, previous bits and tokens."""

    style_tok: Tensor  # (B, 1, E)
    prev_bits: Tensor  # (B, L, C) uint8
    prev_tokens: Tensor  # (B, L*r, E), without positional embeddings
    trace: list[dict[str, Tensor]] = field(default_factory=list)


class BitwiseARModel(nn.Module):
    """All of ARTalk_wav2vec.pt: generator, codec (`basic_vae`), style and audio encoders."""

    def __init__(self, cfg: ARTalkConfig, pe_quirk: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        E, L, S = cfg.ar_width, cfg.num_tokens, len(cfg.patch_nums)
        self.null_style_cond = nn.Parameter(torch.randn(1, 1, E) * 0.5)
        self.pos_embed = nn.Parameter(torch.empty(1, L, E))
        self.prev_pos_embed = nn.Parameter(torch.empty(1, L * cfg.prev_ratio, E))
        self.register_buffer("attn_bias_for_masking", block_causal_bias(cfg.patch_nums, cfg.prev_ratio))
        self.register_buffer("lvl_idx", level_index(cfg.patch_nums))
        self.basic_vae = BitwiseVAE(cfg)
        self.audio_encoder = None
        if cfg.audio_encoder is not None:
            from .wav2vec2 import build_wav2vec2
            self.audio_encoder = build_wav2vec2(cfg.audio_encoder)
        self.vqfeat_embed = nn.Linear(cfg.code_dim, E)
        self.style_encoder = StyleEncoder(cfg, pe_quirk=pe_quirk)
        self.style_cond_embed = nn.Linear(cfg.style_dim, E)
        self.attn_blocks = nn.ModuleList(
            AdaLNSelfAttnBlock(E, cfg.ar_heads, cfg.audio_dim) for _ in range(cfg.ar_depth))
        self.cond_logits_head = AdaLNBeforeHead(E, cfg.audio_dim)
        self.logits_head = nn.Linear(E, 2 * cfg.code_dim)
        self.lvl_embed = nn.Embedding(S, E)
        for p in (self.pos_embed, self.prev_pos_embed, self.lvl_embed.weight):
            nn.init.trunc_normal_(p, std=math.sqrt(1 / (3 * E)))

    # -- conditioning ----------------------------------------------------------------------

    def style_token(self, style_motion: Tensor | list | None, batch: int = 1) -> Tensor:
        """(B, 1, E): guided style embedding, or the null token when there is no style.

        `style_motion` is None, a raw motion (B, Ts, 106) / (Ts, 106), or a per-clip list
        whose entries may be None.
        """
        null = self.null_style_cond
        if style_motion is None:
            return null.expand(batch, -1, -1)
        if isinstance(style_motion, (list, tuple)):
            return torch.cat([self.style_token(m, 1) for m in style_motion], dim=0)
        if style_motion.dim() == 2:
            style_motion = style_motion.unsqueeze(0)
        s = self.style_cond_embed(self.style_encoder(style_motion)).unsqueeze(1)
        return STYLE_GUIDANCE * s - (STYLE_GUIDANCE - 1) * null

    def embed_prev(self, style_tok: Tensor, prev_bits: Tensor) -> Tensor:
        """(B, L, E): [style ; embedded next-scale features of all previous bits]."""
        feats = self.basic_vae.quantize.next_scale_features(prev_bits)
        return torch.cat([style_tok, self.vqfeat_embed(feats)], dim=1)

    def audio_condition(self, features: Tensor) -> Tensor:
        """(B, frames, A) window features -> (B, L, A): area-pooled to every scale."""
        return torch.cat([area(features, pn) for pn in self.cfg.patch_nums], dim=1)

    def lvl_pos(self) -> Tensor:
        return self.lvl_embed(self.lvl_idx) + self.pos_embed

    def prev_lvl_pos(self) -> Tensor:
        return self.lvl_embed(self.lvl_idx).repeat(1, self.cfg.prev_ratio, 1) + self.prev_pos_embed

    # -- transformer -----------------------------------------------------------------------

    def token_inputs(self, style_tok: Tensor, bits: Tensor | None, step: int) -> Tensor:
        """Input tokens of step `step` (before positional embeddings): (B, O_step + pn_step, E)."""
        if step == 0:
            return style_tok
        feats = self.basic_vae.quantize.next_scale_features(bits, upto=step - 1)
        return torch.cat([style_tok, self.vqfeat_embed(feats)], dim=1)

    def logits(self, x: Tensor, cond: Tensor, prev: Tensor, mask: Tensor | None,
               caches: list[LayerCache] | None = None, trace: list | None = None,
               mods: list[Tensor] | None = None) -> Tensor:
        """Tokens (B, n, E) with positions added -> logits (B, n, 2C).

        `mods`: the AdaLN modulations of these tokens, one per block and one for the head
        (`modulations`), when computed once for the whole window."""
        mods = mods or [None] * (len(self.attn_blocks) + 1)
        for i, block in enumerate(self.attn_blocks):
            x = block(x, cond, prev, mask, None if caches is None else caches[i], mods[i])
            if trace is not None:
                trace.append(x)
        return self.logits_head(self.cond_logits_head(x, cond, mods[-1]))

    def modulations(self, cond: Tensor) -> list[Tensor]:
        """Every block's and the head's AdaLN modulation (B, L, k E) of a window's condition.

        They depend on the audio alone, not on the bits being decoded, and their weights
        (audio_dim x 6 E per block) are the largest of the transformer: decoding scale by
        scale, computing them once per window instead of once per scale saves reading ~40% of
        the weights at every later scale, which is what small-token steps are bound by."""
        return [b.ada_lin(cond) for b in self.attn_blocks] + [self.cond_logits_head.ada_lin(cond)]

    def teacher_forced(self, audio_features: Tensor, style_tok: Tensor, prev_bits: Tensor,
                       target_bits: Tensor, trace: list | None = None) -> Tensor:
        """Logits of all tokens given the true bits: the function of the last decoding step."""
        L = self.cfg.num_tokens
        prev = self.embed_prev(style_tok, prev_bits).repeat(1, self.cfg.prev_ratio, 1)
        x = self.token_inputs(style_tok, target_bits, len(self.cfg.patch_nums) - 1) + self.lvl_pos()
        if trace is not None:
            trace.append(x)
        return self.logits(x, self.audio_condition(audio_features)[:, :L],
                           prev + self.prev_lvl_pos(), self.attn_bias_for_masking, trace=trace)

    def decode_bits(self, style_tok: Tensor, prev: Tensor, cond: Tensor,
                    use_cache: bool = True) -> tuple[Tensor, Tensor]:
        """Greedy bits (B, L, C) and final logits (B, L, 2C) of one window.

        `prev` is the previous-window token sequence with its positional embeddings.
        """
        offsets, pns = self.cfg.offsets, self.cfg.patch_nums
        lvl_pos, n_prev = self.lvl_pos(), prev.shape[1]
        if not use_cache:  # the original: recompute the whole prefix at every step
            bits = logits = None
            for step, pn in enumerate(pns):
                n = offsets[step] + pn
                x = self.token_inputs(style_tok, bits, step) + lvl_pos[:, :n]
                mask = self.attn_bias_for_masking[:, :, :n, :n_prev + n]
                logits = self.logits(x, cond[:, :n], prev, mask)
                bits = greedy_bits(logits)
            return bits, logits
        caches = [LayerCache(n_prev + offsets[-1] + pns[-1]) for _ in self.attn_blocks]
        mods = self.modulations(cond[:, :offsets[-1] + pns[-1]])
        bits_parts, logit_parts = [], []
        for step, pn in enumerate(pns):
            span = slice(offsets[step], offsets[step] + pn)
            bits = torch.cat(bits_parts, dim=1) if bits_parts else None
            x = self.token_inputs(style_tok, bits, step)[:, span] + lvl_pos[:, span]
            logit_parts.append(self.logits(x, cond[:, span], prev, None, caches,
                                           mods=[m[:, span] for m in mods]))
            bits_parts.append(greedy_bits(logit_parts[-1]))
        return torch.cat(bits_parts, dim=1), torch.cat(logit_parts, dim=1)

    # -- windows ---------------------------------------------------------------------------

    def start(self, style_motion: Tensor | list | None, batch: int = 1) -> WindowState:
        """State before the first window: previous motion = raw zeros."""
        style_tok = self.style_token(style_motion, batch)
        batch = style_tok.shape[0]
        zeros = torch.zeros(batch, self.cfg.window_frames, self.cfg.motion_dim,
                            device=style_tok.device, dtype=style_tok.dtype)
        prev_bits = self.basic_vae.encode(zeros)
        prev_tokens = self.embed_prev(style_tok, prev_bits).repeat(1, self.cfg.prev_ratio, 1)
        return WindowState(style_tok, prev_bits, prev_tokens)

    def step(self, state: WindowState, features: Tensor, use_cache: bool = True,
             keep_trace: bool = False) -> Tensor:
        """One window: audio features (B, frames, A) -> raw motion (B, T, 106); hands off."""
        cond = self.audio_condition(features)
        prev = state.prev_tokens + self.prev_lvl_pos()
        bits, logits = self.decode_bits(state.style_tok, prev, cond, use_cache)
        decoded_prev, motion = self.basic_vae.decode(state.prev_bits, bits)
        if keep_trace:
            state.trace.append(dict(prev_bits_in=state.prev_bits, bits=bits, final_logits=logits,
                                    decoded_motion=motion, decoded_prev_motion=decoded_prev))
        state.prev_bits = self.basic_vae.encode(motion)  # re-encode the decoded motion
        new = self.embed_prev(state.style_tok, state.prev_bits)
        state.prev_tokens = torch.cat([state.prev_tokens[:, new.shape[1]:], new], dim=1)
        return motion

    def window_features(self, windows: Tensor) -> Tensor:
        """(B, window_samples) audio -> (B, frames, A) wav2vec2 features."""
        if self.audio_encoder is None:
            raise RuntimeError("this ARTalk model has no audio encoder; pass features instead")
        return self.audio_encoder.features(windows)
