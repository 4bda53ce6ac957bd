"""Vertex stage of DH_live's mouth prompt (spec-dhlive §4.2, §4.4), evaluated in numpy float32.

Each wrap-mesh vertex carries (x, y, z, category, index). Mouth vertices are displaced by six
per-vertex bases stored as texels of `bs_texture_halfFace.png` (row = basis, column = vertex), posed by
the frame's canonical -> crop matrix and projected orthographically. The varying `v_bias` is the flow:
where the morphed vertex lands minus where the frame's own landmark is, in NDC.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

N_BASES = 6
N_FLOW_VERTS = 209          # wrap vertices 0..208 have a landmark in every frame
UPPER_LIP_VERT, LOWER_LIP_VERT = 4, 5   # MediaPipe 13 and 14: inner lip centres
Shader = Literal["desktop", "web"]


def decode_basis(texture_rgb: np.ndarray) -> np.ndarray:
    """Texture [rows, cols, >=3] uint8 -> displacement per unit weight `texel/255*2-1` (float64)."""
    return texture_rgb[..., :3].astype(np.float64) / 255.0 * 2.0 - 1.0


def lip_bias(weights: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Relative vertical motion of the inner lips per frame; > 0 means the lips would cross."""
    dy = basis[:N_BASES, UPPER_LIP_VERT, 1] - basis[:N_BASES, LOWER_LIP_VERT, 1]
    return np.asarray(weights, np.float64)[:, :N_BASES] @ dy


def lip_guard(weights: np.ndarray, basis: np.ndarray, lo: float = -45.0) -> np.ndarray:
    """Blend implausible frames (crossing or over-open lips) halfway towards the last valid weights.

    The original demo does this offline; the blended frame is not remembered as valid.
    """
    weights = np.asarray(weights, np.float32)
    y_bias = lip_bias(weights, basis)
    out = np.empty_like(weights)
    last = np.zeros(weights.shape[1], np.float32)
    for i, w in enumerate(weights):
        if y_bias[i] > 0 or y_bias[i] < lo:
            out[i] = 0.5 * w + 0.5 * last
        else:
            out[i] = last = w
    return out


def world_from_memory16(memory16: np.ndarray) -> np.ndarray:
    """16 floats as handed to GL (column-major) -> 4x4 row-major matrix."""
    return np.asarray(memory16, np.float64).reshape(4, 4).T


def morph(verts5: np.ndarray, weights: np.ndarray, texture_rgb: np.ndarray, shader: Shader) -> np.ndarray:
    """Displace vertices by the bases (lips, skin) and shift the lower teeth with the jaw weights."""
    pos = verts5[:, :3].astype(np.float32).copy()
    cat = verts5[:, 3].astype(np.float32)
    idx = verts5[:, 4].astype(np.int64)
    w = np.zeros(N_BASES, np.float32)
    w[: len(weights[:N_BASES])] = weights[:N_BASES]
    basis = texture_rgb[:N_BASES, :, :3].astype(np.float32) / np.float32(255.0) * 2 - 1
    cols = np.clip(idx, 0, basis.shape[1] - 1)
    disp = np.einsum("r,rvc->vc", w, basis[:, cols]).astype(np.float32)
    disp[idx >= basis.shape[1]] = -w.sum()   # outside the texture: texel 0 decodes to -1
    # Desktop morphs every category < 3 (border and back wall included); web only 0 <= c < 3.
    moved = cat < 3 if shader == "desktop" else (cat >= 0) & (cat < 3)
    pos[moved] += disp[moved]
    jaw = w[0] + w[1]
    lower_teeth = cat == 4
    pos[lower_teeth, 1] += jaw / np.float32(3.0) + np.float32(4.0 if shader == "desktop" else 6.0)
    pos[lower_teeth, 2] += max(jaw / np.float32(3.9), np.float32(0.0))
    return pos


def vertex_stage(
    verts5: np.ndarray,
    world: np.ndarray,
    vert_buffer: np.ndarray,
    weights: np.ndarray,
    texture_rgb: np.ndarray,
    size: int = 368,
    shader: Shader = "desktop",
) -> tuple[np.ndarray, np.ndarray]:
    """Return NDC positions [V,3] and flow varyings `v_bias` [V,2] (float32).

    `world` maps canonical space to the render target (2*M at 368 for desktop, M at 184 for web);
    `vert_buffer` holds the frame's landmark positions 0..208 in NDC (desktop) or crop pixels (web).
    """
    pos = morph(verts5, np.asarray(weights, np.float32), texture_rgb, shader)
    world = np.asarray(world, np.float32)
    q = pos @ world[:3, :3].T + world[:3, 3]
    ndc = np.stack([2 * q[:, 0] / np.float32(size) - 1, 2 * q[:, 1] / np.float32(size) - 1,
                    q[:, 2] / np.float32(1000.0)], axis=1).astype(np.float32)
    ref = np.asarray(vert_buffer, np.float32)
    if shader == "web":
        ref = ref / np.float32(184.0) * 2 - 1
    cat = verts5[:, 3]
    idx = verts5[:, 4].astype(np.int64)
    bias = np.zeros((len(pos), 2), np.float32)
    flow = (cat != -1) & (idx < N_FLOW_VERTS)
    bias[flow] = ndc[flow, :2] - ref[idx[flow]]
    return ndc, bias
