"""CLI and end-to-end tests on real generated speech: every command, every documented error path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from talkinghead.cli import main
from talkinghead.motion import Motion

SENTENCE = "Hello there. Pop music may be bad for maps."


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "talkinghead", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    """Real synthesised speech with a leading and trailing second of silence."""
    from talkinghead.audio.tts import synthesize
    audio = synthesize(SENTENCE).audio
    silence = np.zeros(16000, np.float32)
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    sf.write(path, np.concatenate([silence, audio, silence]), 16000)
    return path


@pytest.fixture(scope="module")
def spoken_video(tmp_path_factory, speech_wav):
    out = tmp_path_factory.mktemp("video")
    rc = main(["speak", "--audio", str(speech_wav), "-o", str(out / "talk.mp4"),
               "--save-motion", str(out / "talk.npz"), "--size", "256"])
    assert rc == 0
    return out / "talk.mp4", out / "talk.npz"


def test_help_everywhere():
    for command in ([], ["speak"], ["motion"], ["render"], ["prepare"], ["export"], ["eval"], ["voices"],
                    ["corpus", "synth"], ["corpus", "video"]):
        done = run_cli(*command, "--help")
        assert done.returncode == 0 and "Usage" in done.stdout


@pytest.mark.slow
def test_speak_audio_end_to_end_video_is_correct(spoken_video, speech_wav):
    from talkinghead.sinks.mp4 import inspect_video, read_frames
    video, motion_file = spoken_video
    info = inspect_video(video)
    seconds = sf.info(speech_wav).duration
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height) == (256, 256)
    assert abs(info.n_frames - np.ceil(seconds * 25)) <= 1
    assert abs(info.audio_duration - info.n_frames / 25) <= 1 / 25
    motion = Motion.load(motion_file)
    assert len(motion) == info.n_frames

    frames = np.stack(list(read_frames(video))).astype(np.int32)
    # The mouth shows its dark cavity while speaking and rests closed in the leading/trailing
    # silence (the head itself keeps moving a little, so whole-frame differences would not tell).
    h, w = frames.shape[1:3]
    mouth = frames[:, int(0.55 * h):int(0.85 * h), int(0.3 * w):int(0.7 * w)]
    cavity = (mouth.sum(axis=3) < 100).mean(axis=(1, 2))
    silent = np.r_[cavity[3:20], cavity[-20:-3]]
    assert silent.max() < 0.01
    assert cavity[30:-30].max() > 0.05 and (cavity[30:-30] > 0.01).mean() > 0.3
    jaw = motion.channel("jawOpen")
    assert jaw[30:-30].max() > 0.3 and jaw[:20].max() < 0.1 and jaw[-15:].max() < 0.1


def test_speak_text_writes_video(tmp_path):
    out = tmp_path / "hi.mp4"
    assert main(["speak", "Hi!", "-o", str(out), "--size", "128"]) == 0
    assert out.stat().st_size > 1000


def test_motion_npz_carries_landmarks_and_jaw(tmp_path, speech_wav):
    out = tmp_path / "m.npz"
    assert main(["motion", str(speech_wav), "-o", str(out)]) == 0
    with np.load(out) as data:
        assert data["landmarks"].shape == (len(data["values"]), 468, 3)
        assert data["jawOpen"].shape == (len(data["values"]),)
        assert str(data["rig"]) == "arkit52"


def test_motion_with_the_acoustic_model_moves_the_jaw(tmp_path, speech_wav):
    out = tmp_path / "a.npz"
    assert main(["motion", str(speech_wav), "--model", "acoustic", "-o", str(out)]) == 0
    with np.load(out) as data:
        assert data["jawOpen"].max() > 0.1 and data["jawOpen"].std() > 0.02


def test_render_and_export(tmp_path, spoken_video, speech_wav):
    _, motion_file = spoken_video
    out = tmp_path / "again.mp4"
    assert main(["render", str(motion_file), "--audio", str(speech_wav), "-o", str(out), "--size", "128"]) == 0
    assert out.exists()
    assert main(["export", str(motion_file), "-o", str(tmp_path / "m.csv")]) == 0
    assert (tmp_path / "m.csv").read_text().startswith("Timecode,BlendShapeCount")
    assert main(["export", str(motion_file), "-o", str(tmp_path / "m.json")]) == 0


@pytest.mark.parametrize("args,message", [
    (["speak"], "give TEXT"),
    (["speak", "--audio", "missing.wav", "-o", "x.mp4"], "not found"),
    (["motion", "missing.wav", "-o", "x.npz"], "not found"),
    (["render", "missing.npz", "-o", "x.mp4"], "not found"),
    (["export", "missing.npz", "-o", "x.csv"], "not found"),
    (["speak", "hi", "--model", "nonsense"], "unknown model"),
    (["speak", "hi", "--model", "artalk"], "needs a checkpoint"),
    (["speak", "hi", "--voice", "xx-nonexistent"], "voice"),
    (["eval", "preds", "--eval-dir", "nowhere"], "not found"),
    (["speak", "hi", "-o", "no/such/folder/x.mp4"], "does not exist"),
    (["speak", "hi", "-o", "."], "is a folder"),
    (["speak", "hi", "-o", "x.txt"], "unsupported video type '.txt'"),
    (["speak", "hi", "-o", "x.webm"], "unsupported video type '.webm'"),
    (["speak", "hi", "--save-motion", "m.txt"], "motion files end in .npz"),
    (["motion", "missing.wav", "-o", "m.txt"], "motion files end in .npz"),
    (["render", "missing.npz", "-o", "x"], "unsupported video type '(none)'"),
    (["speak", "hi", "--size", "100000"], "too large"),
    (["speak", "--nonsense"], "No such option: --nonsense"),
    (["train", "lstm", "--nonsense"], "No such option: --nonsense"),
    (["motion"], "Missing argument"),
    (["speak", "hi", "--size", "abc"], "--size"),
    (["nocommand"], "No such command"),
])
def test_bad_input_gives_one_line_error_and_nonzero_exit(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "talkinghead", *args], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert message in lines[0]


def test_a_checkpoint_that_is_not_a_pickle_is_a_one_line_error(tmp_path, speech_wav):
    """torch's weights-only unpickler explains itself over several paragraphs; we say one line."""
    junk = tmp_path / "lstm.pkl"
    junk.write_text("not a checkpoint")
    done = run_cli("motion", str(speech_wav), "--model", "dhlive-lstm", "--checkpoint", str(junk),
                   "-o", str(tmp_path / "m.npz"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "not a file of plain tensors" in lines[0] and "Unsupported operand" in lines[0]


def test_corrupt_audio_and_wrong_motion_length(tmp_path, spoken_video):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunkjunk")
    done = run_cli("motion", str(bad), "-o", str(tmp_path / "m.npz"))
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(16000, np.float32), 16000)
    _, motion_file = spoken_video
    done = run_cli("render", str(motion_file), "--audio", str(short), "-o", str(tmp_path / "x.mp4"))
    assert done.returncode != 0 and "frames" in done.stderr


def test_eval_scores_predictions(tmp_path, eval_dir):
    done = run_cli("eval", str(tmp_path / "preds"), "--model", "phonetic", "--eval-dir", str(eval_dir),
                   "--json", str(tmp_path / "scores.json"))
    assert done.returncode == 0, done.stderr
    assert "mean" in done.stdout.lower()
    import json
    assert json.loads((tmp_path / "scores.json").read_text())["mean"]["r"] > 0.2


def test_eval_as_python(tmp_path, eval_dir):
    """The API behind `talkinghead eval`: scores as data (the acoustic model: quick, no recogniser)."""
    from talkinghead.evaluation import score
    result = score(tmp_path / "preds", eval_dir, model="acoustic")
    clips = {row["clip"] for row in result.data["rows"]}
    assert clips == {p.stem for p in (eval_dir / "audio").glob("*.wav")}
    assert 0.2 < result.data["mean"]["r"] < 0.6 and "MEAN" in result.table
    again = score(tmp_path / "preds", eval_dir)  # the written predictions, scored as they are
    assert again.data["mean"]["r"] == result.data["mean"]["r"]


@pytest.mark.slow
def test_prepare_and_speak_with_avatars(tmp_path, speech_wav):
    import imageio.v3 as iio
    from skimage import data
    from talkinghead.sinks.mp4 import inspect_video
    iio.imwrite(tmp_path / "face.png", data.astronaut())
    assert main(["prepare", str(tmp_path / "face.png"), "-o", str(tmp_path / "me")]) == 0
    assert main(["speak", "--audio", str(speech_wav), "--avatar", str(tmp_path / "me"),
                 "--save-motion", str(tmp_path / "m.npz"), "-o", str(tmp_path / "me.mp4")]) == 0
    info = inspect_video(tmp_path / "me.mp4")
    assert (info.width, info.height) == (512, 512) and info.audio_codec == "aac"
    assert main(["speak", "Hi there!", "--avatar", "photo", "-o", str(tmp_path / "photo.mp4")]) == 0
    assert main(["render", str(tmp_path / "m.npz"), "--avatar", "photo", "-o", str(tmp_path / "r.mp4")]) == 0


def test_prepare_rejects_a_picture_without_a_face(tmp_path):
    import imageio.v3 as iio
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "noise.png", noise)
    done = run_cli("prepare", str(tmp_path / "noise.png"), "-o", str(tmp_path / "x"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "face" in done.stderr


@pytest.mark.parametrize("model", ["lstm-arkit", "ar-arkit-small"])
def test_shipped_learned_models_run_from_the_cli(tmp_path, speech_wav, model):
    out = tmp_path / "m.npz"
    assert main(["motion", str(speech_wav), "--model", model, "-o", str(out)]) == 0
    motion = Motion.load(out)
    assert motion.rig == "arkit52" and len(motion) == int(np.ceil(sf.info(speech_wav).frames / 640))
    jaw = motion.channel("jawOpen")
    assert jaw[30:-30].max() > jaw[:15].max() + 0.1  # opens for speech more than in silence


def test_every_command_has_a_python_counterpart():
    """Issue 2: the CLI and the API offer the same things."""
    import talkinghead as th
    for name in ("speak", "predict_motion", "render_video", "prepare_avatar", "score_lip_sync",
                 "live", "load_model", "speech_from_file", "speech_from_text"):
        assert callable(getattr(th, name)), name
    assert {"to_arkit_csv", "to_json", "to_glb", "save"} <= set(dir(th.Motion))
