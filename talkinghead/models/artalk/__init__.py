"""ARTalk (xg-chu/ARTalk), reimplemented: loads `ARTalk_wav2vec.pt` strictly, same numbers.

Modules, in reading order: `config` (sizes), `bsq` (multi-scale bitwise quantiser), `vae` (the
two-window motion codec), `style` (style encoder), `wav2vec2` (audio encoder), `ar` (the
generator and the whole checkpoint's module tree), `postprocess` (smoothing, frame count),
`model` (the toolkit's MotionModel), `checkpoint` (files).
"""

from .ar import BitwiseARModel, WindowState
from .bsq import MultiScaleBSQ
from .checkpoint import build_net, infer_config, load_artalk, load_net, load_style, read_checkpoint, save_artalk
from .config import ARTalkConfig
from .model import FLAME_CHANNELS, ARTalkModel, ARTalkStream
from .postprocess import StreamingSmoother, artalk_frame_count, postprocess, savgol_smooth
from .style import StyleEncoder
from .vae import BitwiseVAE
from .wav2vec2 import ARTalkWav2Vec2, build_wav2vec2, load_wav2vec2_dir

__all__ = [
    "ARTalkConfig", "ARTalkModel", "ARTalkStream", "ARTalkWav2Vec2", "BitwiseARModel",
    "BitwiseVAE", "FLAME_CHANNELS", "MultiScaleBSQ", "StreamingSmoother", "StyleEncoder",
    "WindowState", "artalk_frame_count", "build_net", "build_wav2vec2", "infer_config",
    "load_artalk", "load_net", "load_style", "load_wav2vec2_dir", "postprocess",
    "read_checkpoint", "save_artalk", "savgol_smooth",
]
