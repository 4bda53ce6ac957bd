"""DH_live mini avatar preparation against the conformance fixtures (spec-dhlive §5.3, §6, §8.1)."""

from __future__ import annotations

import gzip
import json

import cv2
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from talkinghead.avatar import prepare as prep
from talkinghead.avatar import reference as ref
from talkinghead.avatar.build import build_avatar, prepare_frames
from talkinghead.avatar.formats import AvatarFileError, read_combined_data, read_obj, write_combined_data
from talkinghead.render.photo2d.dinet import load_dinet_mini

W, H = 360, 540


@pytest.fixture(scope="module")
def fx(dh):
    return load_file(str(dh / "prep_fixture.safetensors"))


@pytest.fixture(scope="module")
def frame0(dh):
    return cv2.cvtColor(cv2.imread(str(dh / "prep_frame0_decoded.png")), cv2.COLOR_BGR2RGBA)


@pytest.fixture(scope="module")
def net(dh):
    return load_dinet_mini(dh / "dinet_mini_weights.safetensors")


@pytest.fixture(scope="module")
def meshes(dh):
    canonical, _ = read_obj(dh / "data/obj/face3D.obj")
    wrap, faces = read_obj(dh / "data/obj/face_wrap_entity.obj")
    return canonical, wrap, faces


def test_obj_templates(fx, meshes):
    canonical, wrap, faces = meshes
    np.testing.assert_array_equal(canonical, fx["canonical_mean_face"])
    np.testing.assert_array_equal(wrap, fx["wrap_template"])
    np.testing.assert_array_equal(faces, fx["wrap_template_faces"])


def test_smoothing_rects_and_crop_space(fx):
    smooth, rects, standard = prepare_frames(fx["landmarks_raw"].astype(np.float64), W, H)
    np.testing.assert_allclose(smooth, fx["landmarks_smoothed"], atol=1e-9)
    np.testing.assert_array_equal(rects, fx["crop_rects"])
    np.testing.assert_allclose(standard, fx["standard_v"], atol=1e-9)


def test_pose_matrices_and_personal_mean(fx):
    mats, mean = prep.pose_and_mean(fx["standard_v"], fx["canonical_mean_face"])
    np.testing.assert_allclose(mats, fx["mat_list"], atol=1e-5)
    np.testing.assert_allclose(mean, fx["personal_mean_raw"], atol=1e-6)


def test_fit_pose_recovers_an_affine_map():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 3)) * 100
    mat = np.eye(4)
    mat[:3, :3] = [[0.5, 0.02, 0.0], [-0.01, 0.52, 0.03], [0.0, 0.05, 0.49]]
    mat[:3, 3] = [10, -20, 5]
    np.testing.assert_allclose(prep.fit_pose(src, prep.apply(mat, src)), mat, atol=1e-9)


def test_lip_normalisation_and_wrap_mesh(fx):
    lips = prep.normalize_lips(fx["personal_mean_raw"], fx["canonical_mean_face"])
    np.testing.assert_allclose(lips, fx["personal_mean_lipnorm"], atol=1e-9)
    wrap = prep.personalise_wrap(fx["wrap_template"], fx["personal_mean_lipnorm"])
    np.testing.assert_allclose(wrap, fx["face_wrap_entity"], atol=1e-9)


def test_reference_tensor_style_and_grid(dh, fx, frame0, net):
    crop, keypoints = ref.reference_crop(frame0, fx["landmarks_raw"][0].astype(np.float64))
    np.testing.assert_array_equal(crop, fx["ref_standard_img_rgba"])
    np.testing.assert_allclose(keypoints, fx["ref_keypoints_main"], atol=1e-9)
    teeth = ref.load_teeth_reference(dh / "data/teeth_ref/92_0_0.png")
    tensor = ref.reference_tensor(crop, keypoints, teeth)
    np.testing.assert_allclose(tensor.numpy(), fx["ref_tensor"], atol=1e-7)
    with torch.no_grad():
        style = net.encode_ref(tensor)
    np.testing.assert_allclose(style.numpy(), fx["ref_style"], atol=1e-6)
    grid = ref.luminance_grid(crop)
    np.testing.assert_allclose(grid, fx["ref_bg_feature"], atol=1e-7)
    np.testing.assert_allclose(ref.ref_data(style, grid), fx["ref_data_json"], atol=1.01e-6)


def test_build_and_export_matches_original_file(tmp_path, dh, fx, frame0, net, meshes):
    canonical, wrap, faces = meshes
    teeth = ref.load_teeth_reference(dh / "data/teeth_ref/92_0_0.png")
    avatar = build_avatar(fx["landmarks_raw"], frame0, canonical, wrap, faces, teeth, net)
    write_combined_data(avatar, tmp_path / "combined_data.json.gz")
    ours = json.load(gzip.open(tmp_path / "combined_data.json.gz", "rt"))
    theirs = json.load(gzip.open(dh / "prep_combined_data.json.gz", "rt"))
    assert list(ours) == list(theirs)
    assert ours["uid"].startswith("matesx_") and ours["uid"] != theirs["uid"]
    for key in ("frame_num", "authorized", "size", "version", "face3D_obj"):
        assert ours[key] == theirs[key], key
    np.testing.assert_allclose(ours["ref_data"], theirs["ref_data"], atol=1.01e-6)
    assert [f["rect"] for f in ours["json_data"]] == [f["rect"] for f in theirs["json_data"]]
    a = np.array([f["points"] for f in ours["json_data"]])
    b = np.array([f["points"] for f in theirs["json_data"]])
    np.testing.assert_allclose(a[:, :16], b[:, :16], atol=1.01e-5)
    np.testing.assert_allclose(a[:, 16:], b[:, 16:], atol=0.101)


def test_read_write_round_trip(tmp_path, dh, fx):
    avatar = read_combined_data(dh / "prep_combined_data.json.gz")
    assert len(avatar.frames) == 40 and avatar.wrap_verts.shape == (267, 5) and avatar.wrap_faces.shape == (460, 3)
    np.testing.assert_allclose(avatar.frames[5].matrix, fx["mat_list"][5], atol=5.1e-6)
    np.testing.assert_allclose(avatar.wrap_verts, fx["face_wrap_entity"], atol=5e-4)
    write_combined_data(avatar, tmp_path / "again.json.gz")
    theirs = json.load(gzip.open(dh / "prep_combined_data.json.gz", "rt"))
    assert json.load(gzip.open(tmp_path / "again.json.gz", "rt")) == theirs


def test_bad_files_raise(tmp_path):
    with pytest.raises(AvatarFileError, match="cannot read"):
        read_combined_data(tmp_path / "missing.json.gz")
    with gzip.open(tmp_path / "old.json.gz", "wt") as fh:
        json.dump({"face3D_obj": [], "json_data": []}, fh)
    with pytest.raises(AvatarFileError, match="version 1"):
        read_combined_data(tmp_path / "old.json.gz")
    with pytest.raises(AvatarFileError, match="cannot read mesh"):
        read_obj(tmp_path / "missing.obj")


def test_preparation_rejects_short_and_speaking_videos(fx):
    with pytest.raises(prep.AvatarError, match="at least 20 frames"):
        prep.pose_and_mean(fx["standard_v"][:19], fx["canonical_mean_face"])
    talking = fx["landmarks_raw"].astype(np.float64).copy()
    talking[1::2, 17, 1] += 25   # MediaPipe 17 (lower lip) jumps every other frame
    with pytest.raises(prep.AvatarError, match="without speech"):
        prep.check_not_speaking(talking)
    with pytest.raises(prep.AvatarError, match=r"\[frames, 478, 3\]"):
        prepare_frames(np.zeros((5, 468, 3)), W, H)
    shifted = fx["landmarks_raw"].astype(np.float64) + [300, 0, 0]
    with pytest.raises(prep.AvatarError, match="leaves the video"):
        prepare_frames(shifted, W + 60, H)
