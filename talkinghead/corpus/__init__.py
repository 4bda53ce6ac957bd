"""Training corpora: synthetic speech (offline TTS -> phonetic motion) and real talking videos.

Both kinds are written in one sharded, streamable format (shards.py) so trainers read them the
same way: `iter_corpus(dirs)` yields `Utterance(key, audio, motion, phones, meta)`, and
`split_keys` / `is_validation` hold out a stable validation share. `Augmenter` perturbs audio
(speed, pitch, noise, reverb, band-limit, codec, gain) at training time, keeping motion in step.
"""

from .augment import AugmentConfig, Augmenter
from .shards import (CorpusError, ShardWriter, Utterance, is_validation, iter_corpus, iter_shard,
                     read_manifest, split_keys)
from .synth import build_synth_corpus
from .texts import LANGUAGES, generate_texts, make_text, number_words
from .video import VideoOptions, build_video_corpus

__all__ = [
    "AugmentConfig", "Augmenter", "CorpusError", "ShardWriter", "Utterance", "is_validation",
    "iter_corpus", "iter_shard", "read_manifest", "split_keys", "build_synth_corpus",
    "LANGUAGES", "generate_texts", "make_text", "number_words", "VideoOptions", "build_video_corpus",
]
