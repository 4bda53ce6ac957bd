"""`talkinghead train renderer`: a per-avatar DINet_mini mouth, self-supervised on a talking video.

The person's own talking video (30-60 s, one face) teaches the network their lips, teeth and
mouth interior. Per frame we cut the mouth box (`neural_mouth`), black out the lips and paint
them as flat semantic colours; the network must redraw the real box from that plus a reference
stack (one random frame + two open-mouth "teeth" frames, spec-dhlive §9.3). Colour augmentation
(contrast, hue) is shared by target and references so the style path learns to carry colour.

Losses (no pretrained VGG/LPIPS offline): L1 at full and half scale (x10, as DH_live's pixel
term), 1 - SSIM (an 11-tap Gaussian structural loss standing in for the perceptual term), and a
small LSGAN patch discriminator (DH_live's 3-block design, narrower so it fits a CPU budget).
The discriminator is trained in the same backward pass: its loss sees `fake.detach()`, and the
generator's adversarial term runs the discriminator with detached parameters, so one optimiser
(the shared `loop.train`) updates both without either leaking into the other.

The last `val_fraction` of the video (a contiguous block) is held aside: validation reports PSNR
and SSIM of the blended mouth box there, for the trained net and for the procedural interior.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..avatar.prepare import AvatarError, smooth_frames
from ..render.photo2d import neural_mouth as nm
from ..render.photo2d.dinet import DINetMini
from .data import DataError

FPS = 25
MAX_SECONDS = 120.0
JITTER_ROWS = 8        # the stored box has this many spare rows above and below (vertical jitter)


@dataclass
class RendererRecipe:
    l1_weight: float = 10.0
    ssim_weight: float = 2.0
    gan_weight: float = 0.05
    gan_start: int = 300            # steps of pure reconstruction before the adversarial term
    disc_channels: tuple[int, int, int] = (32, 64, 64)
    jitter: float = 0.04            # vertical crop jitter, fraction of the crop (DH_live: 4 %)
    contrast: float = 0.2           # colour augmentation: contrast x U(1 -/+ c) ...
    hue: int = 8                    # ... and an OpenCV hue shift in [-hue, hue]
    val_fraction: float = 0.1
    min_seconds: float = 10.0
    max_frames: int | None = None   # read at most this many frames of the video
    init: str | None = None         # a DINet_mini checkpoint to fine-tune instead of a fresh net


# -- reading the video ---------------------------------------------------------------------------

def read_talking_video(path: str | Path, max_frames: int | None = None) -> list[np.ndarray]:
    """RGB frames at 25 fps (nearest earlier frame), at most 1280 px on the long side."""
    import av
    path = Path(path)
    if not path.is_file():
        raise DataError(f"talking video {path} not found")
    limit = max_frames or int(MAX_SECONDS * FPS)
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path.name} has no video stream")
            for frame in container.decode(container.streams.video[0]):
                t = float(frame.time) if frame.time is not None else len(frames) / FPS
                if t + 0.5 / FPS < len(frames) / FPS:
                    continue
                rgb = _shrink(frame.to_ndarray(format="rgb24"))
                while len(frames) / FPS <= t + 0.5 / FPS and len(frames) < limit:
                    frames.append(rgb)
                if len(frames) >= limit:
                    break
    except (av.FFmpegError, OSError) as exc:
        raise DataError(f"{path.name} is not a readable video ({exc.__class__.__name__})") from None
    return frames


def _shrink(rgb: np.ndarray, long_side: int = 1280) -> np.ndarray:
    s = long_side / max(rgb.shape[:2])
    if s >= 1.0:
        return rgb
    return cv2.resize(rgb, (int(rgb.shape[1] * s), int(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)


def track_landmarks(frames: list[np.ndarray], where: str) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks [N,478,3] px, found [N] bool) with the tracking face mesh; lost frames are
    filled from the nearest found one and marked, so they are never used as targets."""
    from ..rigs.facemesh import FaceMesh
    points, found = [], []
    with FaceMesh(static=False, max_faces=1) as mesh:
        for rgb in frames:
            p = mesh(rgb)
            found.append(p is not None)
            points.append(p)
    found_arr = np.array(found)
    if found_arr.mean() < 0.5:
        raise DataError(f"no face in {1 - found_arr.mean():.0%} of the frames of {where}; "
                        "use a video showing one face throughout")
    idx = np.nonzero(found_arr)[0]
    nearest = idx[np.abs(np.arange(len(frames))[:, None] - idx[None]).argmin(axis=1)]
    return np.stack([points[j] for j in nearest]).astype(np.float64), found_arr


def inner_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap |13-14| over the eye-corner distance, per frame."""
    gap = np.linalg.norm(landmarks[:, 13, :2] - landmarks[:, 14, :2], axis=-1)
    return gap / np.linalg.norm(landmarks[:, 33, :2] - landmarks[:, 263, :2], axis=-1)


# -- the dataset ---------------------------------------------------------------------------------

class MouthDataset:
    """Mouth boxes of one person: frames of the talking video (and the avatar's own frames,
    which anchor the closed mouth the renderer starts from), with their box-space landmarks.

    Boxes are stored with `JITTER_ROWS` spare rows above and below, uint8: 60 s of video is about
    100 MB. `train_ids` / `val_ids` index the video frames; `avatar_ids` the avatar's."""

    def __init__(self, boxes: np.ndarray, points: np.ndarray, opening: np.ndarray, train_ids: np.ndarray,
                 val_ids: np.ndarray, avatar_ids: np.ndarray, size: float, info: dict[str, Any]):
        self.boxes, self.points, self.opening = boxes, points, opening
        self.train_ids, self.val_ids, self.avatar_ids = train_ids, val_ids, avatar_ids
        self.size, self.info = size, info
        pool = self.train_ids[self.opening[self.train_ids] >= np.quantile(self.opening[self.train_ids], 1 / 3)]
        self.open_ids = pool if len(pool) else self.train_ids

    def target(self, i: int, dy: int = 0) -> np.ndarray:
        return self.boxes[i, JITTER_ROWS + dy: JITTER_ROWS + dy + nm.BOX_H]

    def box_points(self, i: int, dy: int = 0) -> np.ndarray:
        return self.points[i] - [0.0, JITTER_ROWS + dy]

    def fixed_references(self) -> tuple[int, int, int]:
        """Deterministic references for export and validation: the avatar's first frame (or the
        median-opening video frame) and two open frames (66th, 90th percentile of opening)."""
        ids = self.train_ids
        order = ids[np.argsort(self.opening[ids])]
        first = int(self.avatar_ids[0]) if len(self.avatar_ids) else int(order[len(order) // 2])
        return first, int(order[int(0.66 * (len(order) - 1))]), int(order[int(0.9 * (len(order) - 1))])

    def reference_stack(self, ids, augment=None) -> np.ndarray:
        """(80, 112, 12) uint8: frame ids[0] as is, ids[1:] as teeth references."""
        images = []
        for k, i in enumerate(ids):
            rgb = self.target(i)
            rgb = augment(rgb) if augment else rgb
            images.append(nm.reference_image(rgb, self.box_points(i), teeth=k > 0))
        return np.concatenate(images, axis=-1)

    def describe(self) -> dict[str, Any]:
        return {**self.info, "train_frames": int(len(self.train_ids)), "val_frames": int(len(self.val_ids)),
                "avatar_frames": int(len(self.avatar_ids)), "crop_size_px": round(self.size, 1)}


def build_dataset(avatar, video: str | Path, recipe: RendererRecipe) -> MouthDataset:
    """Frames, landmarks and mouth boxes from an avatar and the same person's talking video."""
    video = Path(video)
    frames = read_talking_video(video, recipe.max_frames)
    seconds = len(frames) / FPS
    if seconds < recipe.min_seconds:
        raise DataError(f"{video.name} is {seconds:.1f} s long; the renderer needs at least "
                        f"{recipe.min_seconds:.0f} s of talking (30-60 s is best)")
    landmarks, found = track_landmarks(frames, video.name)
    landmarks = smooth_frames(landmarks)
    own = avatar_frames(avatar)
    size = nm.crop_size(landmarks[found])
    boxes, points = [], []
    for rgb, lm in list(zip(frames, landmarks)) + own:
        box, pts = _stored_box(rgb, lm, size)
        boxes.append(box)
        points.append(pts)
    n = len(frames)
    n_val = max(1, int(round(recipe.val_fraction * n)))
    ids = np.arange(n)
    train_ids, val_ids = ids[: n - n_val], ids[n - n_val:]
    train_ids, val_ids = train_ids[found[train_ids]], val_ids[found[val_ids]]
    if len(val_ids) == 0 or len(train_ids) < 2:
        raise DataError(f"too few frames with a face in {video.name} to train and validate")
    all_lm = np.concatenate([landmarks, np.stack([lm for _, lm in own])]) if own else landmarks
    info = {"video": str(video), "video_frames": n, "video_seconds": round(seconds, 2),
            "frames_without_face": int((~found).sum()), "avatar": str(avatar.path) if avatar.path else None}
    return MouthDataset(np.stack(boxes), np.stack(points), inner_opening(all_lm), train_ids, val_ids,
                        n + np.arange(len(own)), size, info)


def avatar_frames(avatar, limit: int = 50) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to `limit` (frame, landmarks) pairs of the avatar itself (a photo: its one image)."""
    if avatar.kind == "photo":
        return [(avatar.image, avatar.landmarks[0].astype(np.float64))]
    from ..sinks.mp4 import read_frames
    out = []
    step = max(1, avatar.n_frames // limit)
    for i, rgb in enumerate(read_frames(avatar.video_path)):
        if i >= avatar.n_frames:
            break
        if i % step == 0:
            out.append((rgb, avatar.landmarks[i].astype(np.float64)))
    return out


def _stored_box(rgb: np.ndarray, landmarks: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """The box with JITTER_ROWS spare rows each side, and the landmarks in its pixels."""
    affine = nm.box_affine(landmarks, size)
    affine[:, 2] -= affine[:, 1] * JITTER_ROWS          # start JITTER_ROWS box rows higher
    tall = cv2.warpAffine(rgb, affine, (nm.BOX_W, nm.BOX_H + 2 * JITTER_ROWS),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return tall, nm.to_box(landmarks[:468], affine).astype(np.float32)


# -- augmentation --------------------------------------------------------------------------------

def colour_augment(rng: np.random.Generator, contrast: float, hue: int):
    """One random contrast x hue change, to apply identically to target and references."""
    c = float(rng.uniform(1 - contrast, 1 + contrast))
    h = int(rng.integers(-hue, hue + 1)) if hue else 0

    def apply(rgb: np.ndarray) -> np.ndarray:
        x = rgb.astype(np.float32)
        x = np.clip((x - x.mean()) * c + x.mean(), 0, 255).astype(np.uint8)
        if h:
            hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + h) % 180).astype(np.uint8)
            x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return x
    return apply


# -- losses and the discriminator ----------------------------------------------------------------

def _gauss(size: int = 11, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Mean SSIM of two [B,C,H,W] images in 0..1 (Gaussian 11x11, sigma 1.5, valid region)."""
    g = _gauss().to(a)
    c = a.shape[1]
    kx, ky = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(x, kx, groups=c), ky, groups=c)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean()


class PatchDiscriminator(nn.Module):
    """DH_live's discriminator shape (Conv4x4 unpadded + LeakyReLU 0.2, 2x2 average pool between
    blocks, then a 1x1 conv to one score per patch), with configurable widths."""

    def __init__(self, channels=(32, 64, 64)):
        super().__init__()
        layers, cin = [], 3
        for k, c in enumerate(channels):
            layers += [nn.Conv2d(cin, c, 4), nn.LeakyReLU(0.2)]
            if k < len(channels) - 1:
                layers.append(nn.AvgPool2d(2))
            cin = c
        layers.append(nn.Conv2d(cin, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MouthTrainer(nn.Module):
    """forward(batch) -> (loss, metrics) for the shared loop; `net` is the DINetMini to export."""

    def __init__(self, recipe: RendererRecipe):
        super().__init__()
        self.recipe = recipe
        self.net = DINetMini()
        if recipe.init:
            from ..render.photo2d.dinet import load_dinet_mini
            self.net.load_state_dict(load_dinet_mini(recipe.init).state_dict())
        self.disc = PatchDiscriminator(tuple(recipe.disc_channels))
        self.register_buffer("steps_seen", torch.zeros((), dtype=torch.long))

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        r = self.recipe
        real = batch["target"]
        fake = self.net(batch["source"], batch["ref"])
        l1 = F.l1_loss(fake, real) + F.l1_loss(F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2))
        s = ssim(fake, real)
        d_loss = 0.5 * ((self.disc(fake.detach()) ** 2).mean() + ((self.disc(real) - 1) ** 2).mean())
        frozen = {k: v.detach() for k, v in self.disc.named_parameters()}
        g_adv = ((torch.func.functional_call(self.disc, frozen, (fake,)) - 1) ** 2).mean()
        gan_on = float(self.steps_seen.item() >= r.gan_start) if self.training else 0.0
        loss = r.l1_weight * l1 + r.ssim_weight * (1 - s) + gan_on * r.gan_weight * g_adv + d_loss
        if self.training:
            self.steps_seen += 1
        return loss, {"l1": l1.detach(), "ssim": s.detach(), "g_adv": g_adv.detach(), "d": d_loss.detach()}


# -- the task ------------------------------------------------------------------------------------

class RendererTask:
    """Batches and validation for `loop.train`."""

    seconds_per_window = 1.0 / FPS

    def __init__(self, data: MouthDataset, recipe: RendererRecipe, batch_size: int):
        self.data, self.recipe, self.batch_size = data, recipe, int(batch_size)
        self.module = MouthTrainer(recipe)
        self.windows_per_batch = self.batch_size
        self.pool = np.concatenate([data.train_ids, data.avatar_ids])

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d, r = self.data, self.recipe
        i = int(rng.choice(self.pool))
        rows = min(JITTER_ROWS, int(round(r.jitter * nm.CROP)))     # box rows are crop pixels
        dy = int(rng.integers(-rows, rows + 1))
        aug = colour_augment(rng, r.contrast, r.hue) if (r.contrast or r.hue) else None
        target = d.target(i, dy)
        target = aug(target) if aug else target
        source = nm.semantic_input(target, d.box_points(i, dy))
        refs = [int(rng.choice(d.train_ids)), *(int(v) for v in rng.choice(d.open_ids, 2))]
        return source, d.reference_stack(refs, aug), target

    def batch(self, rng: np.random.Generator) -> dict[str, Tensor]:
        parts = [self.sample(rng) for _ in range(self.batch_size)]
        return {"source": nm.to_tensor(np.stack([p[0] for p in parts])),
                "ref": nm.to_tensor(np.stack([p[1] for p in parts])),
                "target": nm.to_tensor(np.stack([p[2] for p in parts]))}

    @torch.no_grad()
    def style(self, net: DINetMini) -> Tensor:
        device = next(net.parameters()).device
        return net.encode_ref(nm.to_tensor(self.data.reference_stack(self.data.fixed_references())).to(device))

    @torch.no_grad()
    def validate(self, module: nn.Module) -> dict[str, float]:
        net = module.net.eval()
        style = self.style(net)
        device = style.device
        outs = []
        for chunk in np.array_split(self.data.val_ids, max(1, math.ceil(len(self.data.val_ids) / 32))):
            x = nm.to_tensor(np.stack([nm.semantic_input(self.data.target(i), self.data.box_points(i))
                                       for i in chunk])).to(device)
            y = net.decode(x, style.expand(len(chunk), -1))
            outs.append((y.permute(0, 2, 3, 1).clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy())
        scores = mouth_scores(self.data, np.concatenate(outs))
        return {f"trained_{k}": v for k, v in scores.items()}

    def describe(self) -> dict[str, Any]:
        return {"trainer": "renderer", **self.data.describe()}


# -- quality on held-aside frames ----------------------------------------------------------------

def composite(real: np.ndarray, painted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = real.astype(np.float32) + (painted.astype(np.float32) - real) * mask[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def box_quality(real: np.ndarray, rendered: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and SSIM of one RGB mouth box."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    return (float(peak_signal_noise_ratio(real, rendered, data_range=255)),
            float(structural_similarity(real, rendered, channel_axis=-1, data_range=255)))


def mouth_scores(data: MouthDataset, outputs: np.ndarray, grow: float = 0.06) -> dict[str, float]:
    """Mean PSNR/SSIM over the held-aside boxes of the network's output blended as at render time."""
    psnr, ss = [], []
    for i, y in zip(data.val_ids, outputs):
        real, pts = data.target(i), data.box_points(i)
        p, s = box_quality(real, composite(real, y, nm.blend_mask(pts, grow)))
        psnr.append(p)
        ss.append(s)
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ss))}


def procedural_scores(data: MouthDataset, reference: dict) -> dict[str, float]:
    """The same figures for the procedural interior (mouth.py) painted inside each held-aside
    frame's real inner lips. Its lips are the real ones, so this favours the procedural mouth."""
    from ..render.photo2d.mouth import mouth_style, paint_mouth
    from ..rigs import load_rig
    g = load_rig("arkit52").groups
    style = mouth_style(reference)
    psnr, ss = [], []
    for i in data.val_ids:
        real, pts = data.target(i), data.box_points(i)
        painted = np.array(real, copy=True)
        upper, lower = pts[g["upper_lip_inner"]], pts[g["lower_lip_inner"]]
        gap = float(np.median(lower[3:-3, 1] - upper[3:-3, 1]))
        width = float(np.linalg.norm(pts[61] - pts[291]))
        paint_mouth(painted, upper, lower, width, 0.4 * max(gap, 0.0), 1.0, style)
        p, s = box_quality(real, painted)
        psnr.append(p)
        ss.append(s)
    return {"procedural_psnr": float(np.mean(psnr)), "procedural_ssim": float(np.mean(ss))}


# -- export --------------------------------------------------------------------------------------

def renderer_meta(task: RendererTask, style: Tensor) -> dict[str, Any]:
    return {"kind": nm.KIND, "architecture": "DINet_mini(3, 12), DH_live mini 2.0 state_dict names",
            "style": [round(float(v), 6) for v in style.reshape(-1).cpu()], "size_ratio": 1.0, "grow": 0.06,
            "box": {"crop": nm.CROP, "height": nm.BOX_H, "width": nm.BOX_W}}


def load_avatar(avatar_dir: str | Path):
    from ..avatar.store import Avatar
    path = Path(avatar_dir)
    if not path.is_dir():
        raise AvatarError(f"avatar folder {path} not found; make one with `talkinghead prepare`")
    return Avatar.load(path)


def train_renderer(avatar_dir: str | Path, video: str | Path, out: str | Path | None = None,
                   config: dict[str, Any] | None = None, steps: int | None = None, resume: bool = False,
                   progress: bool = True) -> dict[str, Any]:
    """Train the mouth renderer of one avatar on a talking video of the same person and export it
    to AVATAR_DIR/renderer.safetensors (+ .json, .md). Returns the loop's result and the scores."""
    import json
    import time
    from dataclasses import fields
    from . import export
    from .loop import TrainConfig, train
    avatar = load_avatar(avatar_dir)
    cfg = dict(config or {})
    train_keys = {f.name for f in fields(TrainConfig)}
    recipe_keys = {f.name for f in fields(RendererRecipe)}
    unknown = sorted(set(cfg) - train_keys - recipe_keys)
    if unknown:
        raise DataError(f"unknown renderer config keys {unknown}")
    train_cfg = TrainConfig.from_dict({"steps": 2000, "lr": 1e-3, "batch_size": 8, "grad_clip": 0.0,
                                       "warmup_steps": 100, "log_every": 50, "val_every": 1000,
                                       "checkpoint_every": 500, "threads": 1 if not torch.cuda.is_available() else None,
                                       **{k: v for k, v in cfg.items() if k in train_keys}})
    recipe = RendererRecipe(**{k: v for k, v in cfg.items() if k in recipe_keys})
    if steps is not None:
        train_cfg.steps = int(steps)
    out = Path(out) if out else Path(avatar_dir) / "renderer_run"
    t0 = time.perf_counter()
    data = build_dataset(avatar, video, recipe)
    prep_s = time.perf_counter() - t0
    task = RendererTask(data, recipe, train_cfg.batch_size)
    result = train(task, train_cfg, out, resume=resume, progress=progress)
    result["prepare_s"] = prep_s
    result.setdefault("val", {}).update(procedural_scores(data, avatar.reference))
    net = task.module.net.cpu().eval()
    meta = renderer_meta(task, task.style(net))
    meta["training"] = {"recipe": asdict(recipe), "train_config": asdict(train_cfg), "data": data.describe(),
                        "result": result}
    card = export.model_card("renderer", meta, CARD_NOTES)
    path = export.export(net, Path(avatar_dir) / "renderer.safetensors", meta, card)
    result["export"] = str(path)
    (out / "result.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


CARD_NOTES = """## Notes

Per-avatar DINet_mini (DH_live mini 2.0 architecture, strict state_dict names), trained from the
person's own talking video by `talkinghead train renderer`. Validation figures are PSNR/SSIM of the
80x112 mouth box on the held-aside last part of the video, the network's output blended with the
render-time lip mask (`trained_*`), against the procedural interior painted inside the real inner
lips (`procedural_*`, which keeps the real lips). On a synthetic video these figures are a pipeline
check, not a quality claim. Weights load with `render.photo2d.dinet.load_dinet_mini`; the style
vector is in the config (`style`).
"""
