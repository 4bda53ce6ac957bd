"""The phonetic motion model: phone timings -> visemes -> coarticulated ARKit curves.

No training and no weights: pocketsphinx supplies phone timings (forced alignment when the text
is known, phone recognition otherwise; `talkinghead.models.phonetic.align`), hand-written viseme
poses give the targets, and dominance functions blend them. A strong, honest baseline and the
teacher for synthetic data. (`align` and `recognize` are not re-exported here because a function
named `align` would shadow the `align` submodule.)
"""

from .model import PhoneticModel, PhoneticStream
from .phones import Phone
from .visemes import pose_of, viseme_of

__all__ = ["PhoneticModel", "PhoneticStream", "Phone", "pose_of", "viseme_of"]
