"""talkinghead: make faces talk from speech.

    import talkinghead as th
    th.speak("Hello there!", out="hello.mp4")                # text -> TTS -> motion -> video
    motion = th.predict_motion(th.speech_from_file("in.wav"))  # audio -> Motion (arkit52)
    motion.to_arkit_csv("in.csv")                             # Live Link Face CSV
"""

from .errors import TalkingHeadError
from .models import load_model
from .motion import ARKIT52_CHANNELS, Motion
from .pipeline import predict_motion, render_video, speak, speech_from_file, speech_from_text

from .pipeline import live

__version__ = "0.1.0"

__all__ = ["Motion", "ARKIT52_CHANNELS", "TalkingHeadError", "load_model", "predict_motion",
           "render_video", "speak", "speech_from_file", "speech_from_text", "live",
           "prepare_avatar", "score_lip_sync", "__version__"]

# Imported on first use: they pull in the avatar pipeline and the evaluation tooling.
_LAZY = {"prepare_avatar": ("avatar.photo", "prepare_avatar"), "score_lip_sync": ("evaluation", "score")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module 'talkinghead' has no attribute {name!r}")
