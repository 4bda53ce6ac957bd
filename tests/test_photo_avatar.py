"""Photo/video avatars: preparation, checks, folder format, rendering, closed loop, DH_live files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.data import astronaut

from talkinghead.avatar.photo import prepare_avatar, resolve_avatar
from talkinghead.avatar.prepare import AvatarError
from talkinghead.avatar.store import Avatar, export_dhlive, import_dhlive, read_frame_index
from talkinghead.errors import RenderError, TalkingHeadError
from talkinghead.motion import ARKIT52_CHANNELS, Motion
from talkinghead.pipeline import render_video
from talkinghead.render.photo2d.avatar_renderer import AvatarRenderer

CH = {n: i for i, n in enumerate(ARKIT52_CHANNELS)}
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def row(**kw) -> np.ndarray:
    v = np.zeros(len(ARKIT52_CHANNELS))
    for name, x in kw.items():
        v[CH[name]] = x
    return v


def write_png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), rgb[..., ::-1])
    return path


@pytest.fixture(scope="module")
def avatar(tmp_path_factory) -> Avatar:
    folder = tmp_path_factory.mktemp("astro")
    image = write_png(folder / "astronaut.png", astronaut())
    return prepare_avatar(image, folder / "avatar")


def mouth_box(av: Avatar, pad: int = 12):
    p = av.landmarks[0, :468, :2]
    lips = p[[61, 291, 0, 17]]
    x0, y0 = np.floor(lips.min(0)).astype(int) - pad
    x1, y1 = np.ceil(lips.max(0)).astype(int) + pad
    return slice(y0, y1), slice(x0, x1)


# -- preparation --------------------------------------------------------------------------

def test_prepare_astronaut(avatar):
    assert avatar.kind == "photo" and (avatar.width, avatar.height) == (512, 512)
    assert avatar.landmarks.shape == (1, 478, 3)
    assert avatar.rest_weights.shape == (1, 52) and avatar.rotation.shape == (1, 3, 3)
    assert avatar.mesh_vertices.shape[1] > 468 and avatar.triangles.max() < avatar.mesh_vertices.shape[1]
    x0, y0, x1, y1 = avatar.rects[0]
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    assert avatar.reference["eye_distance"] > 40 and avatar.reference["rest_lip_gap"] > 2   # she smiles
    for name in ("avatar.json", "data.npz", "image.png"):
        assert (avatar.path / name).is_file()
    assert avatar.rest_weights[0, CH["mouthSmileLeft"]] > 0.3


@pytest.mark.parametrize("case, message", [
    ("noise", "no face"), ("two", "2 faces"), ("small", "too small"), ("text.png", "not a readable image"),
    ("text.bin", "neither an image nor a readable video"), ("missing", "not found"), ("border", "border"),
])
def test_preparation_errors(tmp_path, case, message):
    img = astronaut()
    if case == "noise":
        path = write_png(tmp_path / "noise.png", np.random.default_rng(0).integers(0, 255, (256, 256, 3), np.uint8))
    elif case == "two":
        path = write_png(tmp_path / "two.png", np.concatenate([img, img], axis=1))
    elif case == "small":
        path = write_png(tmp_path / "small.png", cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA))
    elif case == "border":
        path = write_png(tmp_path / "cut.png", np.ascontiguousarray(img[:, 210:]))
    elif case == "missing":
        path = tmp_path / "nothing.png"
    else:
        path = tmp_path / case
        path.write_text("this is not a picture\n")
    with pytest.raises(TalkingHeadError, match=message) as err:
        prepare_avatar(path, tmp_path / "out")
    assert "\n" not in str(err.value)


def test_short_video_is_rejected(tmp_path):
    from talkinghead.sinks.mp4 import Mp4Writer
    with Mp4Writer(tmp_path / "short.mp4", sample_rate=None) as w:
        for _ in range(25):
            w.write_frame(astronaut())
    with pytest.raises(AvatarError, match="1.0 s long"):
        prepare_avatar(tmp_path / "short.mp4", tmp_path / "out")


def test_round_trip_and_version(avatar, tmp_path):
    loaded = Avatar.load(avatar.path)
    for name in ("landmarks", "rest_weights", "rotation", "scale", "rects", "mesh_vertices", "triangles"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(avatar, name))
    assert np.array_equal(loaded.image, avatar.image) and loaded.reference == avatar.reference
    copy = loaded.save(tmp_path / "copy")
    meta = json.loads((copy / "avatar.json").read_text())
    meta["version"] = 99
    (copy / "avatar.json").write_text(json.dumps(meta))
    with pytest.raises(AvatarError, match="version 99"):
        Avatar.load(copy)
    with pytest.raises(AvatarError, match="not an avatar folder"):
        Avatar.load(tmp_path)


def test_default_avatar_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGHEAD_CACHE", str(tmp_path))
    first = resolve_avatar("photo")
    assert first.kind == "photo" and (tmp_path / "avatars").is_dir()
    assert resolve_avatar(None).path == first.path


# -- rendering ----------------------------------------------------------------------------

def test_frames_shapes_and_streaming(avatar):
    renderer = AvatarRenderer(avatar)
    motion = Motion(np.stack([row(jawOpen=x) for x in np.linspace(0, 1, 6)]), ARKIT52_CHANNELS, "arkit52")
    frames = list(renderer.frames(motion))
    assert len(frames) == 6 and all(f.shape == (512, 512, 3) and f.dtype == np.uint8 for f in frames)
    streamed = list(renderer.frames(iter(motion.values)))   # rows from a live generator
    assert all(np.array_equal(a, b) for a, b in zip(frames, streamed))
    with pytest.raises(RenderError, match="arkit52"):
        next(renderer.frames(Motion(np.zeros((2, 6)), tuple("abcdef"), "dhlive6")))


def test_rest_motion_is_identity(avatar):
    renderer = AvatarRenderer(avatar)
    rest = np.zeros(len(ARKIT52_CHANNELS))
    rest[:52] = np.where(renderer.absolute, avatar.rest_weights[0], 0.0)
    assert np.array_equal(renderer.render(avatar.image, rest), avatar.image)


def test_neutral_closes_the_mouth_only(avatar):
    out = AvatarRenderer(avatar).render(avatar.image, row()).astype(int)
    diff = np.abs(out - avatar.image).max(axis=2)
    ys, xs = mouth_box(avatar)
    nose_y = int(avatar.landmarks[0, 1, 1])
    assert diff[ys, xs].max() > 60 and diff[: nose_y - 5].max() <= 2   # jaw and lips move, eyes do not
    gap = AvatarRenderer(avatar).moved_vertices(row(), 0)
    upper, lower = gap[[13, 82, 312]], gap[[14, 87, 317]]
    assert np.all(lower[:, 1] - upper[:, 1] < 1.0)            # the smiling lips now meet


def test_open_mouth_changes_the_mouth_region(avatar):
    renderer = AvatarRenderer(avatar)
    ys, xs = mouth_box(avatar)
    closed = renderer.render(avatar.image, row())[ys, xs].astype(float)
    opened = renderer.render(avatar.image, row(jawOpen=1.0))[ys, xs].astype(float)
    assert np.abs(opened - closed).mean() > 8
    assert (opened.mean(axis=2) < 70).sum() > 80              # a dark cavity appeared
    blink = renderer.render(avatar.image, row(eyeBlinkLeft=1.0, eyeBlinkRight=1.0))
    eye = avatar.landmarks[0, [159, 145]].astype(int)
    assert np.abs(blink[eye[0, 1] - 2:eye[1, 1] + 2, eye[0, 0] - 6:eye[0, 0] + 6].astype(int)
                  - avatar.image[eye[0, 1] - 2:eye[1, 1] + 2, eye[0, 0] - 6:eye[0, 0] + 6]).mean() > 10


def test_render_avatar_video(avatar, tmp_path):
    from talkinghead.sinks.mp4 import inspect_video
    motion = Motion(np.stack([row(jawOpen=0.5 * (k % 2)) for k in range(10)]), ARKIT52_CHANNELS, "arkit52")
    out = render_video(motion, tmp_path / "a.mp4", np.zeros(6400, np.float32), avatar=avatar)
    info = inspect_video(out)
    assert (info.width, info.height) == (512, 512) and info.n_frames == 10


@pytest.mark.slow
def test_closed_loop_mouth_opening(avatar):
    from bench_photo import closed_loop, varied_motion
    result = closed_loop(varied_motion(40), avatar)
    assert result["faces_found"] == 40 and result["closed_loop_r"] >= 0.9


# -- video avatars and DH_live files ------------------------------------------------------

@pytest.mark.slow
def test_video_avatar_plays_ping_pong(tmp_path):
    from talkinghead.sinks.mp4 import Mp4Writer, read_frames
    img = astronaut()
    with Mp4Writer(tmp_path / "still.mp4", sample_rate=None) as w:
        for k in range(125):
            w.write_frame(np.roll(img, int(2 * np.sin(k / 10)), axis=1))
    av = prepare_avatar(tmp_path / "still.mp4", tmp_path / "v")
    assert av.kind == "video" and av.n_frames == 125 and len(list(read_frames(av.video_path))) == 250
    assert [av.frame_index(k) for k in (0, 124, 125, 249, 250)] == [0, 124, 124, 0, 0]
    frames = list(AvatarRenderer(Avatar.load(tmp_path / "v")).frames(np.stack([row(jawOpen=0.6)] * 3)))
    assert len(frames) == 3 and frames[0].shape == (512, 512, 3)


def test_dhlive_export_import(avatar, tmp_path):
    from talkinghead.avatar.formats import read_combined_data
    from talkinghead.sinks.mp4 import read_frames
    export_dhlive(avatar, tmp_path / "dh")
    data = read_combined_data(tmp_path / "dh" / "combined_data.json.gz")
    assert len(data.frames) == 25 and data.wrap_verts.shape == (267, 5) and len(data.ref_data) == 80
    x0, y0, x1, y1 = data.frames[0].rect
    assert x1 - x0 == y1 - y0 and data.frames[0].points.shape == (209, 2)
    frames = list(read_frames(tmp_path / "dh" / "01.mp4"))
    assert len(frames) == 50 and [read_frame_index(f) for f in frames[14:18]] == [14, 15, 0, 1]
    back = import_dhlive(tmp_path / "dh", tmp_path / "ours")
    assert back.kind == "photo" and np.abs(back.landmarks[0, :468, :2] - avatar.landmarks[0, :468, :2]).mean() < 1.5
    assert back.reference["dhlive"]["uid"] == data.uid
