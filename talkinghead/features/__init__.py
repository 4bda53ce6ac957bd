"""Audio features for motion models: DH_live's 80-bin log-mel filterbank at 16 or 8 kHz, and
the first-formant tracker behind the phonetic model's opening cue."""

from .fbank import (DHLiveFbankStream, FbankStream, NumpyFbankStream, fbank, fbank_options,
                    from_int16, mini_fbank, mini_samples, resample_8k)

__all__ = ["DHLiveFbankStream", "FbankStream", "NumpyFbankStream", "fbank", "fbank_options",
           "from_int16", "mini_fbank", "mini_samples", "resample_8k"]
