"""A static web page that makes the head talk from the browser's microphone, with no server.

`talkinghead web -o site/` writes the viewer (`sinks/viewer/`), the rig it draws, and an LSTM
motion model (DH_live's Audio2Feature: `lstm-arkit`, or your own v1 checkpoint) that
`viewer/lstm.js` runs in the page itself, the way DH_live runs in a browser. Serve the folder
from any static host (browsers allow the microphone on https or localhost):

    python3 -m http.server -d site 8000     # then open http://localhost:8000/

The weights go out with BatchNorm folded into the linear layers (float64 folding, stored as
float32), so the page does plain matrix-vector products; tests/test_webpage.py checks the page's
numbers against the Python model under node.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import TalkingHeadError

FORMAT = "talkinghead-lstm-web"
VERSION = 1
PAGE_FILES = ("index.html", "viewer.js", "lstm.js")


def write_site(folder: str | Path, model) -> Path:
    """Write the page for `model` (a 16 kHz LSTMMotionModel) into `folder`; returns the folder."""
    from ..models.lstm import LSTMMotionModel
    from .websocket import rig_document
    if not isinstance(model, LSTMMotionModel):
        raise TalkingHeadError("the browser page runs LSTM models (lstm-arkit or a dhlive-lstm "
                               "checkpoint); other models need `talkinghead serve`")
    if type(model) is not LSTMMotionModel:   # e.g. NormalizedLSTMModel: lstm.js has no normaliser
        raise TalkingHeadError(f"the browser page runs plain LSTMs; a {type(model).__name__} "
                               "(trained with feature_norm) needs its normaliser, which the page lacks")
    if model.variant.sample_rate != 16000:
        raise TalkingHeadError(f"the browser page runs 16 kHz (v1) LSTMs; the {model.variant.name!r} "
                               "variant reads 8 kHz features")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    viewer = resources.files("talkinghead.sinks").joinpath("viewer")
    for name in PAGE_FILES:
        (folder / name).write_bytes(viewer.joinpath(name).read_bytes())
    doc = rig_document(model.rig, model.channels, microphone=True)
    doc.update(images=False, browser_model="model.json")
    (folder / "rig.json").write_text(json.dumps(doc, separators=(",", ":")))
    manifest, blob = export_weights(model)
    (folder / "model.json").write_text(json.dumps(manifest, indent=1))
    (folder / "model.bin").write_bytes(blob)
    return folder


def export_weights(model) -> tuple[dict, bytes]:
    """(manifest, little-endian float32 blob) of the network with BatchNorm folded in."""
    from ..models.lstm import _folded_linear
    from ..motion import ARKIT_BLENDSHAPES
    net = model.net
    lstm = {k: v.detach().double().numpy() for k, v in net.LSTM.state_dict().items()}
    tensors: dict[str, np.ndarray] = {}
    for name, (linear, bn) in {"down.0": (net.downsample[0], net.downsample[1]),
                               "down.3": (net.downsample[3], None),
                               "fc.0": (net.fc[0], net.fc[1]), "fc.3": (net.fc[3], net.fc[4]),
                               "fc.6": (net.fc[6], None)}.items():
        tensors[f"{name}.weight"], tensors[f"{name}.bias"] = _folded_linear(linear, bn)
    for layer in (0, 1):
        tensors[f"lstm.{layer}.weight_ih"] = lstm[f"weight_ih_l{layer}"]
        tensors[f"lstm.{layer}.weight_hh"] = lstm[f"weight_hh_l{layer}"]
        tensors[f"lstm.{layer}.bias"] = lstm[f"bias_ih_l{layer}"] + lstm[f"bias_hh_l{layer}"]
    entries, parts, offset = [], [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, "<f4")
        entries.append({"name": name, "shape": list(data.shape), "offset": offset, "size": int(data.size)})
        parts.append(data.tobytes())
        offset += data.nbytes
    manifest = {"format": FORMAT, "version": VERSION, "head": model.rig,
                "channels": list(model.channels), "out_dim": net.out_dim,
                "delay_steps": model.variant.delay,
                "shapes": len(ARKIT_BLENDSHAPES) if model.rig == "arkit52" else 0,
                "scale": model.variant.scale if model.rig == "dhlive6" else 1.0,
                "tensors": entries}
    return manifest, b"".join(parts)
