"""The CLI with users' original checkpoints (synthetic ones, in the original file structures)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from talkinghead.cli import main
from talkinghead.motion import Motion


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from talkinghead.models.artalk import ARTalkConfig, BitwiseARModel, save_artalk
    from talkinghead.models.lstm import Audio2Feature
    from test_flame import _arkit_mesh_model

    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    net = BitwiseARModel(ARTalkConfig.fixture_small().with_(audio_encoder="tiny", audio_dim=32)).eval()
    save_artalk(net, root / "artalk.pt", with_config=True)
    torch.save(torch.zeros(50, 106), root / "natural.pt")
    model, mediapipe = _arkit_mesh_model()
    torch.save({"flame_model": model, "lmk_embeddings_mediapipe": mediapipe}, root / "FLAME_with_eye.pt")
    torch.save(Audio2Feature().state_dict(), root / "lstm_model_epoch_325.pkl")
    t = np.arange(3 * 16000) / 16000
    sf.write(root / "in.wav", (0.3 * np.sin(2 * np.pi * 180 * t) * (t > 0.5)).astype(np.float32), 16000)
    return root


def test_artalk_motion_with_flame_carries_arkit_landmarks(files, tmp_path):
    out = tmp_path / "m.npz"
    assert main(["motion", str(files / "in.wav"), "--model", "artalk", "--checkpoint", str(files / "artalk.pt"),
                 "--flame", str(files / "FLAME_with_eye.pt"), "--style", str(files / "natural.pt"),
                 "-o", str(out)]) == 0
    motion = Motion.load(out)
    assert motion.rig == "flame" and motion.values.shape == (75, 106)
    assert motion.extras["landmarks"].shape == (75, 468, 3)


def test_artalk_speak_renders_flame_mesh(files, tmp_path):
    from talkinghead.sinks.mp4 import inspect_video
    out = tmp_path / "a.mp4"
    assert main(["speak", "--audio", str(files / "in.wav"), "--model", "artalk", "--checkpoint",
                 str(files / "artalk.pt"), "--flame", str(files / "FLAME_with_eye.pt"),
                 "--size", "128", "-o", str(out)]) == 0
    info = inspect_video(out)
    assert info.n_frames == 75 and info.audio_codec == "aac"


def test_dhlive_lstm_motion(files, tmp_path):
    out = tmp_path / "d.npz"
    assert main(["motion", str(files / "in.wav"), "--model", "dhlive-lstm", "--checkpoint",
                 str(files / "lstm_model_epoch_325.pkl"), "-o", str(out)]) == 0
    motion = Motion.load(out)
    assert motion.rig == "dhlive6" and motion.values.shape == (75, 6)


@pytest.fixture(scope="module")
def flame_motion(files):
    """An ARTalk motion file made without a FLAME model: FLAME values, no landmarks."""
    out = files / "flame_motion.npz"
    assert main(["motion", str(files / "in.wav"), "--model", "artalk", "--checkpoint",
                 str(files / "artalk.pt"), "-o", str(out)]) == 0
    return out


def test_flame_motion_without_flame_file_is_a_clear_error(flame_motion, tmp_path, capsys):
    out = flame_motion
    assert main(["render", str(out), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "--flame" in capsys.readouterr().err


def test_flame_motion_exports_to_arkit_formats(files, flame_motion, tmp_path, capsys):
    """ARTalk users' question: their FLAME motion as ARKit curves (CSV, glTF), by fitting."""
    from talkinghead.sinks.gltf import read_glb
    out = flame_motion
    assert main(["export", str(out), "-o", str(tmp_path / "m.csv")]) == 2
    assert "--flame" in capsys.readouterr().err
    flame = ["--flame", str(files / "FLAME_with_eye.pt")]
    assert main(["export", str(out), "-o", str(tmp_path / "m.csv"), *flame]) == 0
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert rows[0].startswith("Timecode,BlendShapeCount,EyeBlinkLeft") and len(rows) == 76
    assert main(["export", str(out), "-o", str(tmp_path / "m.glb"), *flame]) == 0
    doc, _ = read_glb(tmp_path / "m.glb")
    assert doc["accessors"][doc["animations"][0]["samplers"][0]["input"]]["count"] == 75
