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

__version__ = "0.1.0"

__all__ = ["Motion", "ARKIT52_CHANNELS", "TalkingHeadError", "load_model", "predict_motion",
           "render_video", "speak", "speech_from_file", "speech_from_text", "__version__"]
