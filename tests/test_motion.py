import csv
import json

import numpy as np
import pytest

from talkinghead.errors import MotionFileError
from talkinghead.motion import ARKIT52_CHANNELS, ARKIT_BLENDSHAPES, Motion


def _motion(t=30):
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, (t, len(ARKIT52_CHANNELS))).astype(np.float32)
    return Motion(values, ARKIT52_CHANNELS, "arkit52", extras={"jawOpen": values[:, 17].copy()})


def test_channels_are_the_52_arkit_shapes_plus_head():
    assert len(ARKIT_BLENDSHAPES) == 52 and len(set(ARKIT_BLENDSHAPES)) == 52
    assert ARKIT52_CHANNELS[-3:] == ("headPitch", "headYaw", "headRoll")


def test_npz_round_trip_keeps_values_channels_fps_rig_extras(tmp_path):
    m = _motion()
    m.save(tmp_path / "m.npz")
    back = Motion.load(tmp_path / "m.npz")
    assert back.channels == m.channels and back.rig == "arkit52" and back.fps == 25.0
    np.testing.assert_array_equal(back.values, m.values)
    np.testing.assert_array_equal(back.extras["jawOpen"], m.channel("jawOpen"))


def test_arkit_csv_has_live_link_layout(tmp_path):
    m = _motion(t=30)
    m.to_arkit_csv(tmp_path / "m.csv")
    rows = list(csv.reader(open(tmp_path / "m.csv")))
    header = rows[0]
    assert header[:3] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft"]
    assert header[2 + 17] == "JawOpen" and header[-9:-6] == ["HeadYaw", "HeadPitch", "HeadRoll"]
    assert len(header) == 2 + 61 and len(rows) == 31
    assert rows[1][0] == "00:00:00:00.000" and rows[26][0] == "00:00:01:00.000"
    assert rows[2][1] == "61"
    assert float(rows[5][2 + 17]) == pytest.approx(m.channel("jawOpen")[4], abs=1e-5)
    assert float(rows[5][2 + 52]) == pytest.approx(m.channel("headYaw")[4], abs=1e-5)


def test_json_export(tmp_path):
    m = _motion(t=5)
    m.to_json(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["fps"] == 25.0 and doc["channels"] == list(ARKIT52_CHANNELS)
    assert np.allclose(doc["frames"], m.values, atol=1e-5)


def test_slice_cuts_per_frame_extras():
    m = _motion(t=20).slice(5, 15)
    assert len(m) == 10 and len(m.extras["jawOpen"]) == 10


@pytest.mark.parametrize("values,channels,message", [
    (np.zeros((4, 3)), ("a", "b"), "T x 2"),
    (np.full((4, 2), np.nan), ("a", "b"), "NaN"),
    (np.zeros(4), ("a",), "T x 1"),
    (np.zeros((4, 2)), ("a", "a"), "repeated: \\['a'\\]"),
])
def test_bad_values_are_rejected(values, channels, message):
    with pytest.raises(MotionFileError, match=message):
        Motion(values, channels, "x")


@pytest.mark.parametrize("rig", ["", 5, None])
def test_rig_must_be_a_name(rig):
    with pytest.raises(MotionFileError, match="rig must be a non-empty name"):
        Motion(np.zeros((2, 1)), ("a",), rig)


def test_loading_bad_files_gives_one_line_errors(tmp_path):
    with pytest.raises(MotionFileError, match="not found"):
        Motion.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MotionFileError, match="cannot read"):
        Motion.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", values=np.zeros((3, 2)))
    with pytest.raises(MotionFileError, match="lacks keys"):
        Motion.load(tmp_path / "partial.npz")


def test_csv_needs_arkit_rig(tmp_path):
    m = Motion(np.zeros((3, 2)), ("a", "b"), "dhlive6")
    with pytest.raises(MotionFileError, match="arkit52"):
        m.to_arkit_csv(tmp_path / "x.csv")
    with pytest.raises(MotionFileError, match="no channel"):
        m.channel("jawOpen")


def test_writing_into_a_missing_folder_is_a_one_line_error(tmp_path):
    m = _motion(t=3)
    for write, name in ((m.save, "m.npz"), (m.to_json, "m.json"), (m.to_arkit_csv, "m.csv")):
        with pytest.raises(MotionFileError, match="cannot write"):
            write(tmp_path / "missing" / name)


def test_save_needs_an_npz_name_and_writes_exactly_that_path(tmp_path):
    m = _motion(t=3)
    with pytest.raises(MotionFileError, match="end in .npz"):
        m.save(tmp_path / "m.txt")
    assert not list(tmp_path.iterdir())  # numpy would have written m.txt.npz
    m.save(tmp_path / "UPPER.NPZ")
    assert [p.name for p in tmp_path.iterdir()] == ["UPPER.NPZ"]
    assert np.array_equal(Motion.load(tmp_path / "UPPER.NPZ").values, m.values)
