"""Decoded per-frame viseme probabilities: the encoder's posteriors averaged over vocal-tract-length warps.

`SpeechFeatures.phoneme_posteriors` are the encoder's single-pass output and stay exactly that (the motion
models were trained on them). For a per-frame viseme read-out (the `visemes` deliverable of the speech
front-end) this module adds test-time augmentation: the encoder is run again on the same log-mel with the
mel-frequency axis warped by ±5 % (a vocal-tract-length perturbation, VTLP: the same words from a slightly
longer or shorter vocal tract), and the three phone posteriors are averaged before being summed per viseme.
Unseen speakers are exactly where the encoder is weakest, and averaging over nearby "speakers" makes the
read-out less dependent on one voice's formant positions.

How this was chosen (`bench/audio.py --dev`, on data the held-out report never touches: unseen sentences
spoken by Piper and by the training espeak voices, and pseudo-labelled real speech from `videos_hard/`):
mean viseme accuracy over those three sets 70.0 % for the single pass; HMM forward-backward over phones with
durations and bigrams from the training labels 68.9 %, Gaussian smoothing of the posteriors 69.5 %, dividing
by class priors 69.8 %: the bidirectional GRU already sees the whole
utterance, so a frame-level sequence prior only blurs boundaries. Averaging over one-frame-shifted, tape-speed
±10 % or mel-axis-warped passes gave 70.4 / 70.6 / 70.5 %. The warps were kept because they need only the
stored log-mel (no audio) and two encoder passes. Held-out LJ (measured once, after the choice): viseme
accuracy 66.8 % → 67.9 %, phone 60.3 % → 61.3 %; with real background noise at 5–10 dB SNR it does not help
(−0.3 to −0.8 points), see docs/BENCHMARKS.md.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from .visemes import phone_to_viseme_matrix

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .encoder import PhonemeEncoder
    from .features import SpeechFeatures

# Mel-axis warp factors of the extra encoder passes (output bin i reads input bin i / factor).
VTLP_WARPS: tuple[float, ...] = (0.95, 1.05)


def warp_mel_axis(mel: np.ndarray, factor: float) -> np.ndarray:
    """Log-mel [F, B] with its frequency axis stretched by `factor` (linear interpolation between bins).

    factor > 1 moves spectral content up (shorter vocal tract), < 1 down; bins read past the top edge
    repeat the top bin. Time is untouched, so the encoder's output frames stay aligned with the original.
    """
    mel = np.asarray(mel, np.float32)
    n_bins = mel.shape[1]
    src = np.clip(np.arange(n_bins, dtype=np.float64) / factor, 0.0, n_bins - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_bins - 1)
    w = (src - lo).astype(np.float32)
    return mel[:, lo] * (1.0 - w) + mel[:, hi] * w


def averaged_posteriors(mel: np.ndarray, model: Optional["PhonemeEncoder"] = None,
                        posteriors: Optional[np.ndarray] = None,
                        warps: tuple[float, ...] = VTLP_WARPS) -> np.ndarray:
    """Phone posteriors [ceil(F/2), P] averaged over the plain log-mel and its mel-axis `warps`.

    `posteriors` (the plain pass, e.g. `SpeechFeatures.phoneme_posteriors`) is reused when given, so only
    the warped passes run. Each pass goes through `encode_mel`, i.e. in bounded-memory chunks.
    """
    from .encoder import encode_mel, load_encoder

    model = model or load_encoder()
    mel = np.asarray(mel, np.float32)
    base = encode_mel(mel, model)[0] if posteriors is None else np.asarray(posteriors, np.float32)
    total = base.astype(np.float32).copy()
    for factor in warps:
        total += encode_mel(warp_mel_axis(mel, factor), model)[0][: len(total)]
    return total / np.float32(1 + len(warps))


def decoded_viseme_probs(features: "SpeechFeatures", model: Optional["PhonemeEncoder"] = None,
                         warps: tuple[float, ...] = VTLP_WARPS) -> np.ndarray:
    """Per-frame viseme probabilities [F2, 15] at 50 Hz of speech features (rows sum to 1).

    The phone posteriors averaged over the plain and warped log-mel (`averaged_posteriors`), summed per
    viseme of the table in `visemes.py`. This is the read-out to use for "which mouth shape is this frame";
    `SpeechFeatures.visemes` / `visemes.viseme_probs` are the single-pass sums.
    """
    post = averaged_posteriors(features.mel, model, features.phoneme_posteriors, warps)
    return post @ phone_to_viseme_matrix()
