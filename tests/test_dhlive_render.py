"""DH_live mini rendering against the conformance fixtures (spec-dhlive §4-§5, §7.4)."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from safetensors.torch import save_file

from talkinghead.avatar.formats import read_combined_data
from talkinghead.errors import CheckpointError, RenderError
from talkinghead.render.photo2d import raster, vertex, warp
from talkinghead.render.photo2d.dinet import DINetMini, load_dinet_mini
from talkinghead.render.photo2d.dinet_v1 import DINetFiveRef, load_dinet_five_ref
from talkinghead.render.photo2d.pipeline import MiniRenderer, pingpong_index

FRAMES = (0, 3, 8)


@pytest.fixture(scope="module")
def mesh(dh):
    return load_file(str(dh / "mesh_render_fixture.safetensors"))


@pytest.fixture(scope="module")
def net(dh):
    return load_dinet_mini(dh / "dinet_mini_weights.safetensors")


@pytest.fixture(scope="module")
def texture(dh):
    return cv2.imread(str(dh / "data/bs_texture_halfFace.png"), cv2.IMREAD_UNCHANGED)[..., [2, 1, 0]]


@pytest.fixture(scope="module")
def masks(dh):
    return warp.load_blend_masks(dh / "data/face_fusion_mask.png", dh / "data/mouth_fusion_mask.png")


@pytest.fixture(scope="module")
def avatar(dh):
    return read_combined_data(dh / "prep_combined_data.json.gz")


def tensor(u8_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((u8_hwc / 255.0).astype(np.float32)).permute(2, 0, 1)[None]


# --- DINet_mini -------------------------------------------------------------------------------


def test_dinet_mini_matches_fixture(dh, net):
    fx = load_file(str(dh / "dinet_mini_fixture.safetensors"))
    with torch.no_grad():
        style = net.encode_ref(tensor(fx["ref_input_uint8_hwc"]))
        source = tensor(fx["source_input_uint8_hwc"])
        out = net.decode(source, style)
        motion = net.motion_encoder(source)
        block0 = net.decoder_blocks[0](motion, style)
    np.testing.assert_allclose(style.numpy(), fx["style_vector"], atol=1e-6)
    np.testing.assert_allclose(motion.numpy(), fx["motion_feat"], atol=1e-5)
    np.testing.assert_allclose(block0.numpy(), fx["decoder_block0_out_before_skip"], atol=1e-5)
    np.testing.assert_allclose(out.numpy(), fx["output"], atol=2e-5)
    np.testing.assert_allclose(net(source, tensor(fx["ref_input_uint8_hwc"])).detach().numpy(), fx["output"], atol=2e-5)


def test_dinet_mini_state_dict_is_the_checkpoint_manifest(dh):
    manifest = json.loads((dh / "dinet_mini_fixture.json").read_text())["state_dict_manifest"]
    state = DINetMini().state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [(e["name"], e["shape"]) for e in manifest]
    assert sum(v.numel() for v in state.values()) == 515790


def test_load_dinet_mini_from_original_training_container(tmp_path, dh, net):
    # epoch_40_new.pth layout: {'state_dict': {'net_g': ..., 'net_d': ...}, 'optimizer': ..., 'epoch': ...}
    container = {"state_dict": {"net_g": net.state_dict(), "net_d": {"w": torch.zeros(1)}},
                 "optimizer": {"net_g": {}, "net_d": {}}, "epoch": 40}
    path = tmp_path / "epoch_40_new.pth"
    torch.save(container, path)
    loaded = load_dinet_mini(path)
    x, s = torch.rand(1, 3, 80, 112), torch.randn(1, 64) * 0.1
    with torch.no_grad():
        assert torch.equal(loaded.decode(x, s), net.decode(x, s))


def test_load_dinet_mini_names_missing_and_unexpected_keys(tmp_path, net):
    state = dict(net.state_dict())
    state.pop("final_conv.bias")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match="final_conv.bias.*extra.weight"):
        load_dinet_mini(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_dinet_mini(tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_dinet_mini(tmp_path / "junk.pth")


def test_load_dinet_mini_rejects_wrong_shapes(tmp_path, net):
    state = dict(net.state_dict())
    state["final_conv.bias"] = torch.zeros(4)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match="final_conv.bias"):
        load_dinet_mini(tmp_path / "shape.pth")


# --- DINet_five_Ref (v1) ------------------------------------------------------------------------


def test_dinet_five_ref_matches_fixture(tmp_path, dh):
    meta = json.loads((dh / "dinet_five_ref_fixture.json").read_text())
    fx = load_file(str(dh / "dinet_five_ref_fixture.safetensors"))
    state = {}
    for e in meta["state_dict_manifest"]:
        if e["rule"] == "zeros_int64":
            state[e["name"]] = torch.zeros((), dtype=torch.int64)
            continue
        a = np.random.RandomState(e["seed"]).uniform(e["low"], e["high"], size=e["shape"]).astype(np.float32)
        assert hashlib.sha256(a.tobytes()).hexdigest() == e["sha256"], e["name"]
        state[e["name"]] = torch.from_numpy(a)
    assert list(DINetFiveRef().state_dict()) == list(state)
    torch.save(state, tmp_path / "render.pth")   # v1 renderer layout: a bare state_dict
    model = load_dinet_five_ref(tmp_path / "render.pth")
    with torch.no_grad():
        model.ref_input(tensor(fx["ref_uint8_hwc"]))
        src = tensor(fx["source_uint8_hwc"])
        prompt = tensor(fx["prompt_uint8_hwc"])
        para = model.alignment(model.source_in_conv(torch.cat([src, prompt], 1)), model.ref_feature)
        out = model.interface(src, prompt)
    assert model.ref_feature.sum().item() == pytest.approx(meta["intermediate_stats"]["ref_in_feature"]["sum"], rel=1e-5)
    np.testing.assert_allclose(para.numpy(), fx["img_para"], atol=2e-5)
    np.testing.assert_allclose(out.numpy(), fx["output"], atol=2e-4)


# --- vertex stage ----------------------------------------------------------------------------


def test_basis_texture_and_lip_guard(mesh, texture):
    basis = vertex.decode_basis(texture)
    np.testing.assert_array_equal(texture, mesh["texture_rgba_as_uploaded_desktop"][..., :3])
    np.testing.assert_allclose(basis[:6, :209], mesh["basis_rgb_decoded_6x209x3"], atol=1e-12)
    np.testing.assert_allclose(vertex.lip_bias(mesh["designed_bs"], basis), mesh["y_bias"], atol=1e-9)
    np.testing.assert_allclose(vertex.lip_guard(mesh["designed_bs"], basis), mesh["bs_after_guard"][:, :6], atol=1e-7)


@pytest.mark.parametrize("k", FRAMES)
def test_vertex_stage_desktop(mesh, texture, k):
    world = vertex.world_from_memory16(mesh[f"f{k}_mat_world_memory16"])
    ndc, bias = vertex.vertex_stage(mesh["avatar_verts5"], world, mesh[f"f{k}_vertBuffer"],
                                    mesh["bs_after_guard"][k], texture, 368, "desktop")
    np.testing.assert_allclose(ndc, mesh[f"f{k}_tf_gl_Position"][:, :3], atol=1e-5)
    np.testing.assert_allclose(bias, mesh[f"f{k}_tf_v_bias"], atol=1e-5)


def test_vertex_stage_web(mesh, texture, avatar):
    entry = avatar.frames[3]
    ndc, bias = vertex.vertex_stage(mesh["avatar_verts5"], entry.matrix, entry.points,
                                    mesh["bs_after_guard"][3], texture, 184, "web")
    np.testing.assert_allclose(ndc, mesh["f3_web_tf_gl_Position"][:, :3], atol=5e-4)
    np.testing.assert_allclose(bias, mesh["f3_web_tf_v_bias"], atol=5e-4)


# --- raster stage ----------------------------------------------------------------------------


def assert_raster_close(img: np.ndarray, ref: np.ndarray, max_bad: int) -> None:
    """Colours exact (flow within ±1) except on pixels next to a category/coverage border."""
    bad = np.abs(img.astype(int) - ref).max(-1) > 1
    label = ref[..., 3].astype(int) * 1000 + np.where(ref[..., 2] == 128, 0, ref[..., :3] @ [1, 7, 49] + 1)
    padded = np.pad(label, 1, mode="edge")
    border = np.zeros_like(bad)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            border |= padded[1 + dy:185 + dy, 1 + dx:185 + dx] != label
    assert not (bad & ~border).any(), "mismatch away from a border"
    assert bad.sum() <= max_bad
    assert (img[..., 3] != ref[..., 3]).sum() <= max_bad


@pytest.mark.parametrize("k", FRAMES)
def test_raster_desktop(mesh, texture, k):
    world = vertex.world_from_memory16(mesh[f"f{k}_mat_world_memory16"])
    ndc, bias = vertex.vertex_stage(mesh["avatar_verts5"], world, mesh[f"f{k}_vertBuffer"],
                                    mesh["bs_after_guard"][k], texture)
    img = raster.rasterize(ndc, bias, mesh["avatar_verts5"][:, 3], mesh["avatar_faces"], 368, 2)
    assert_raster_close(img, mesh[f"f{k}_gl_rgba_184_uint8"], max_bad=10)


def test_raster_web(mesh, texture, avatar, net, masks):
    renderer = MiniRenderer(avatar, net, texture, masks, shader="web")
    img = renderer.prompt(3, mesh["bs_after_guard"][3])
    assert_raster_close(img, mesh["f3_web_gl_rgba_184_uint8"], max_bad=20)


def test_raster_empty_and_culled():
    ndc = np.array([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0, 0.5, 0]], np.float32)
    cat, bias = np.zeros(3), np.zeros((3, 2), np.float32)
    clockwise = raster.rasterize(ndc, bias, cat, np.array([[0, 2, 1]]), 64, 1)
    counter = raster.rasterize(ndc, bias, cat, np.array([[0, 1, 2]]), 64, 1)
    assert clockwise[..., 3].sum() > 0 and counter[..., 3].sum() == 0
    assert (clockwise[32, 32] == [128, 128, 128, 255]).all() and (counter[0, 0] == [128, 128, 128, 0]).all()


# --- warp, composition, paste-back ----------------------------------------------------------


def test_blend_masks_match_pipeline_constants(dh, masks):
    c = load_file(str(dh / "dinet_mini_pipeline_constants.safetensors"))
    np.testing.assert_allclose(masks.face.numpy(), c["face_fusion_mask_184"], atol=1e-7)
    np.testing.assert_allclose(masks.mouth.numpy(), c["mouth_fusion_mask_80x112"], atol=1e-7)
    np.testing.assert_allclose(warp.identity_grid()[0].numpy(), c["identity_grid_184"], atol=1e-7)


def test_pipeline_matches_fixture(mesh, net, masks, avatar):
    style = torch.from_numpy(avatar.style)[None]
    out = warp.render_mouth(tensor(mesh["f3_source_uint8"]), tensor(mesh["f3_gl_rgba_184_uint8"]), net, style, masks)
    np.testing.assert_allclose(out.numpy(), mesh["f3_pipeline_out"], atol=2e-5)
    for k in FRAMES:
        out = warp.render_mouth(tensor(mesh[f"f{k}_source_uint8"]), tensor(mesh[f"f{k}_gl_rgba_184_uint8"]),
                                net, style, masks)
        diff = np.abs(warp.to_uint8_hwc(out).astype(int) - mesh[f"f{k}_pipeline_out_uint8_hwc"])
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3   # truncation of values within 3e-6 of an integer


def test_paste_back_matches_fixture(mesh, avatar):
    for k in FRAMES:
        rect = avatar.frames[k].rect
        frame = np.zeros((540, 360, 4), np.uint8)
        out = warp.paste_back(frame, mesh[f"f{k}_pipeline_out_uint8_hwc"], rect)
        x0, y0, x1, y1 = rect
        np.testing.assert_array_equal(out[y0:y1, x0:x1, 2::-1], mesh[f"f{k}_final_frame_crop_bgr_uint8"])
        assert out[:y0].sum() == 0 and out[y1:].sum() == 0


def test_render_frame_end_to_end(dh, mesh, avatar, net, texture, masks):
    frame = cv2.cvtColor(cv2.imread(str(dh / "prep_frame0_decoded.png")), cv2.COLOR_BGR2RGBA)
    np.testing.assert_array_equal(warp.crop_source(frame, avatar.frames[0].rect), mesh["f0_source_uint8"])
    renderer = MiniRenderer(avatar, net, texture, masks)
    out = renderer.render_frame(frame, 0, mesh["bs_after_guard"][0])
    x0, y0, x1, y1 = avatar.frames[0].rect
    diff = np.abs(out[y0:y1, x0:x1, 2::-1].astype(int) - mesh["f0_final_frame_crop_bgr_uint8"])
    assert diff.max() <= 1
    np.testing.assert_array_equal(np.delete(out, np.s_[y0:y1], axis=0), np.delete(frame, np.s_[y0:y1], axis=0))
    with pytest.raises(RenderError, match="out of range"):
        renderer.render_frame(frame, 40, mesh["bs_after_guard"][0])


def test_bad_inputs_raise_render_errors(net, masks):
    with pytest.raises(RenderError, match="184x184"):
        warp.render_mouth(torch.zeros(1, 4, 100, 100), torch.zeros(1, 4, 100, 100), net, torch.zeros(1, 64), masks)
    with pytest.raises(RenderError, match="outside"):
        warp.crop_source(np.zeros((50, 50, 4), np.uint8), (10, 10, 80, 80))


def test_pingpong_index():
    assert [pingpong_index(k, 3) for k in range(8)] == [0, 1, 2, 2, 1, 0, 0, 1]
