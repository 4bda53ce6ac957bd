"""One exception family, so the CLI can turn any expected failure into a one-line message.

Every error a user can cause (a missing file, a corrupt checkpoint, an unknown voice) raises a
subclass of `TalkingHeadError` whose message names the problem and the thing at fault. Anything
else reaching the CLI is a bug and keeps its traceback.
"""


class TalkingHeadError(Exception):
    """Base class: the message is one line meant for a person.

    Messages often quote a third-party reason (torch, PyAV, pickle) that can run to several
    paragraphs; `str()` keeps the first line only, so the CLI's one-line contract holds whatever
    was wrapped. Use `reason` to quote an exception inside a message.
    """

    def __str__(self) -> str:
        return _first_line(super().__str__())


def reason(exc: BaseException) -> str:
    """A wrapped exception's cause as a short phrase for a one-line message.

    torch's weights-only unpickler explains its policy over several paragraphs and puts the
    actual cause (e.g. "Unsupported operand 120": the bytes are not a pickle) after the line
    ending "WeightsUnpickler error:".
    """
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].startswith("Weights only load failed"):
        marks = [i for i, line in enumerate(lines) if "WeightsUnpickler error:" in line]
        cause = ""
        if marks:
            i = marks[0]
            cause = lines[i].split("WeightsUnpickler error:", 1)[1].strip() or (
                lines[i + 1] if i + 1 < len(lines) else "")
        return "not a file of plain tensors" + (f" ({cause.rstrip('.')})" if cause else "")
    return _first_line(lines[0])


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= limit else line[:limit - 3] + "..."


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
