"""Per-avatar mouth renderer: dataset, training steps, export round trip, renderer option, bad inputs.

The talking video is made here: the default astronaut avatar played with a varied jaw motion
(procedural mouth), a couple of seconds long, so MediaPipe finds a real face in every frame.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from talkinghead.avatar.prepare import AvatarError
from talkinghead.errors import RenderError, TalkingHeadError
from talkinghead.motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES
from talkinghead.training.data import DataError

FRAMES = 40


def _motion(n: int) -> np.ndarray:
    rows = np.zeros((n, len(ARKIT52_CHANNELS)))
    t = np.arange(n) / 25.0
    rows[:, ARKIT_BLENDSHAPES.index("jawOpen")] = 0.45 * (0.5 - 0.5 * np.cos(2 * np.pi * 1.3 * t))
    rows[:, ARKIT_BLENDSHAPES.index("mouthFunnel")] = 0.2 * (t > 0.8)
    return rows


def _write(path, frames) -> None:
    from talkinghead.sinks.mp4 import Mp4Writer
    with Mp4Writer(path, fps=25, sample_rate=None, crf=16) as writer:
        for f in frames:
            writer.write_frame(f)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """(avatar folder copy, talking video) shared by the tests of this module."""
    torch.set_num_threads(1)
    from talkinghead.avatar.photo import default_avatar
    from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer
    root = tmp_path_factory.mktemp("renderer")
    avatar_dir = root / "astro"
    shutil.copytree(default_avatar().path, avatar_dir)
    from talkinghead.avatar.store import Avatar
    avatar = Avatar.load(avatar_dir)
    video = root / "talking.mp4"
    _write(video, list(AvatarRenderer(avatar).frames(_motion(FRAMES))))
    return avatar_dir, video


@pytest.fixture(scope="module")
def dataset(workdir):
    from talkinghead.training.renderer import RendererRecipe, build_dataset, load_avatar
    avatar_dir, video = workdir
    recipe = RendererRecipe(min_seconds=1.0, val_fraction=0.2)
    return build_dataset(load_avatar(avatar_dir), video, recipe), recipe


def test_dataset_boxes_and_split(dataset):
    data, _ = dataset
    assert data.boxes.shape[1:] == (96, 112, 3)
    assert len(data.train_ids) + len(data.val_ids) == FRAMES
    assert data.val_ids.min() > data.train_ids.max()            # held-aside block at the end
    assert len(data.avatar_ids) == 1                            # the photo itself
    # the mouth is in the box: lip corners inside it
    pts = data.box_points(int(data.val_ids[0]))
    assert 0 < pts[61, 0] < pts[291, 0] < 112 and 0 < pts[13, 1] < 80
    assert data.opening[data.open_ids].min() >= np.quantile(data.opening[data.train_ids], 1 / 3) - 1e-9


def test_semantic_input_paints_lips(dataset):
    from talkinghead.render.photo2d import neural_mouth as nm
    data, _ = dataset
    i = int(data.train_ids[0])
    src = nm.semantic_input(data.target(i), data.box_points(i))
    pts = np.round(data.box_points(i)).astype(int)
    x, y = pts[0]                                  # upper lip, outer middle point (MediaPipe 0)
    y = y + 1                                      # just inside the lip
    assert tuple(src[y, x]) == (255, 0, 0)
    assert np.array_equal(src[:5], data.target(i)[:5])   # skin far above the lips untouched


@pytest.mark.slow
def test_training_steps_reduce_loss(dataset):
    from talkinghead.training.renderer import RendererTask
    data, recipe = dataset
    torch.manual_seed(0)
    task = RendererTask(data, recipe, batch_size=2)
    rng = np.random.default_rng(0)
    fixed = task.batch(np.random.default_rng(123))
    module = task.module
    opt = torch.optim.Adam(module.parameters(), lr=2e-3)
    with torch.no_grad():
        module.eval()
        before = module(fixed)[0].item()
    module.train()
    for _ in range(25):
        loss, _ = module(task.batch(rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        module.eval()
        after = module(fixed)[0].item()
    assert after < 0.8 * before


@pytest.fixture(scope="module")
def trained(workdir):
    from talkinghead.training.renderer import train_renderer
    avatar_dir, video = workdir
    cfg = {"min_seconds": 1.0, "val_fraction": 0.2, "batch_size": 2, "warmup_steps": 1, "log_every": 2,
           "gan_start": 0}
    result = train_renderer(avatar_dir, video, avatar_dir.parent / "run", cfg, steps=4, progress=False)
    return avatar_dir, result


@pytest.mark.slow
def test_export_round_trip(trained):
    from talkinghead.render.photo2d.dinet import load_dinet_mini
    from talkinghead.render.photo2d.neural_mouth import NeuralMouth
    from talkinghead.training.export import read_export
    avatar_dir, result = trained
    path = avatar_dir / "renderer.safetensors"
    assert result["export"] == str(path) and path.is_file()
    assert (avatar_dir / "renderer.md").read_text().startswith("# renderer")
    state, meta = read_export(path)
    assert meta["kind"] == "dinet_mini" and len(meta["style"]) == 64
    for key in ("trained_psnr", "trained_ssim", "procedural_psnr", "procedural_ssim"):
        assert np.isfinite(meta["training"]["result"]["val"][key])
    strict = load_dinet_mini(path)                      # loads as a plain DH_live-shaped DINet_mini
    mouth = NeuralMouth.load(path)
    x = torch.rand(1, 3, 80, 112)
    assert torch.equal(strict.decode(x, mouth.style), mouth.net.decode(x, mouth.style))


@pytest.mark.slow
def test_renderer_uses_trained_mouth(trained):
    from talkinghead.avatar.store import Avatar
    from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer
    avatar_dir, _ = trained
    avatar = Avatar.load(avatar_dir)
    rows = _motion(12)[6:9]                              # open mouth
    plain = list(AvatarRenderer(avatar).frames(rows))
    neural_renderer = AvatarRenderer(avatar, mouth="trained")
    neural = list(neural_renderer.frames(rows))
    assert neural_renderer.neural is not None and neural_renderer.neural.calls == 3
    assert neural_renderer.neural.ms_per_frame > 0
    diff = np.abs(neural[0].astype(int) - plain[0]).sum(axis=2)
    ys, xs = np.nonzero(diff > 0)
    lips = avatar.landmarks[0, [61, 291, 0, 17], :2]
    assert len(ys) > 50                                   # the mouth is redrawn ...
    assert lips[:, 0].min() - 30 < xs.mean() < lips[:, 0].max() + 30   # ... around the mouth only
    assert ys.max() < lips[:, 1].max() + 40 and ys.min() > lips[:, 1].min() - 40
    auto = AvatarRenderer(avatar, mouth="auto")
    assert auto.neural is not None


def test_renderer_without_trained_model(workdir, tmp_path):
    from talkinghead.avatar.photo import default_avatar
    from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer
    avatar = default_avatar()
    assert not (avatar.path / "renderer.safetensors").exists()
    rows = _motion(10)[5:7]
    auto = AvatarRenderer(avatar, mouth="auto")
    assert auto.neural is None
    assert all(np.array_equal(a, b) for a, b in zip(auto.frames(rows), AvatarRenderer(avatar).frames(rows)))
    with pytest.raises(RenderError, match="no trained mouth"):
        AvatarRenderer(avatar, mouth="trained")
    with pytest.raises(TalkingHeadError, match="not found"):
        AvatarRenderer(avatar, mouth=tmp_path / "none.safetensors")


def test_video_too_short(workdir):
    from talkinghead.training.renderer import RendererRecipe, build_dataset, load_avatar
    avatar_dir, video = workdir
    with pytest.raises(DataError, match="at least 10 s"):
        build_dataset(load_avatar(avatar_dir), video, RendererRecipe())


def test_no_face_in_video(workdir, tmp_path):
    from talkinghead.training.renderer import RendererRecipe, build_dataset, load_avatar
    avatar_dir, _ = workdir
    rng = np.random.default_rng(0)
    blank = tmp_path / "noface.mp4"
    _write(blank, [np.full((128, 128, 3), 90, np.uint8) + rng.integers(0, 20, (128, 128, 3), dtype=np.uint8)
                   for _ in range(30)])
    with pytest.raises(DataError, match="no face"):
        build_dataset(load_avatar(avatar_dir), blank, RendererRecipe(min_seconds=1.0))


def test_missing_avatar_and_video(workdir, tmp_path):
    from talkinghead.training.renderer import train_renderer
    avatar_dir, video = workdir
    with pytest.raises(AvatarError, match="not found"):
        train_renderer(tmp_path / "nobody", video)
    with pytest.raises(DataError, match="not found"):
        train_renderer(avatar_dir, tmp_path / "missing.mp4")
    with pytest.raises(DataError, match="unknown renderer config keys"):
        train_renderer(avatar_dir, video, config={"bogus": 1})
