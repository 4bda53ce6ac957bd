"""One exception family, so the CLI can turn any expected failure into a one-line message.

Every error a user can cause (a missing file, a corrupt checkpoint, an unknown voice) raises a
subclass of `TalkingHeadError` whose message names the problem and the thing at fault. Anything
else reaching the CLI is a bug and keeps its traceback.
"""


class TalkingHeadError(Exception):
    """Base class: the message is one line meant for a person."""


class AudioError(TalkingHeadError):
    """Audio could not be read, decoded or is unusable (empty, absurd length, no audio stream)."""


class TTSError(TalkingHeadError):
    """Text could not be synthesised (unknown engine or voice, empty text)."""


class AlignmentError(TalkingHeadError):
    """Phone alignment or recognition failed."""


class MotionFileError(TalkingHeadError):
    """A motion file is missing, malformed, or does not match the expected rig."""


class CheckpointError(TalkingHeadError):
    """A model checkpoint is missing, unreadable, or its keys/shapes do not match."""


class RenderError(TalkingHeadError):
    """Rendering or video writing failed."""
