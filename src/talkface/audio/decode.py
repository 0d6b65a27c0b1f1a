"""Decoded per-frame viseme probabilities: the phone posteriors of two encoders averaged.

`SpeechFeatures.phoneme_posteriors` are the feature encoder's single-pass output and stay exactly that (the
motion models were trained on them). For a per-frame viseme read-out (the `visemes` deliverable of the speech
front-end) this module averages them with the posteriors of a second shipped encoder, trained by the same
recipe with another seed (`weights/phoneme_encoder_seed1.safetensors`, MODEL_CARD.md), and sums the average
per viseme. Two independently trained networks make different errors on unseen voices; their average is
steadier. Optional test-time augmentation by mel-axis warps (vocal-tract-length perturbation: the same words
from a slightly longer or shorter vocal tract) is kept as a parameter.

How this was chosen (`bench/audio.py --dev`, on data the held-out report never touches: unseen sentences
spoken by Piper and by the training espeak voices, and pseudo-labelled real speech from `videos_hard/`;
mean viseme accuracy over the three sets): single pass 70.0 %; HMM forward-backward over phones 68.8 %,
Gaussian smoothing 69.6 %, dividing by class priors 69.7 % (the bidirectional GRU already sees the whole
utterance, so a frame-level sequence prior only blurs boundaries); test-time augmentation by one-frame
shifts, tape speed ±10 % or mel warps ±5 % 70.4 %; the two-encoder average 71.9 %, and with the warps added
to it 71.7 %. Shipped: the two-encoder average on the plain log-mel (one extra encoder pass). Held-out
numbers are in docs/BENCHMARKS.md, measured once after this choice.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .visemes import phone_to_viseme_matrix

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .encoder import PhonemeEncoder
    from .features import SpeechFeatures

# Mel-axis warp factors for optional extra encoder passes (output bin i reads input bin i / factor).
VTLP_WARPS: tuple[float, ...] = (0.95, 1.05)
# Warps of the shipped read-out: none (with two encoders the warps no longer help on the development sets).
READOUT_WARPS: tuple[float, ...] = ()
# Second encoder of the read-out ensemble: the same recipe trained with another seed (MODEL_CARD.md).
READOUT_MEMBERS: tuple[Path, ...] = (Path(__file__).parent / "weights" / "phoneme_encoder_seed1.safetensors",)


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


def readout_members() -> list["PhonemeEncoder"]:
    """The extra shipped encoders of the read-out ensemble (`READOUT_MEMBERS`: same recipe, other seed)."""
    from .encoder import load_encoder

    return [load_encoder(str(path)) for path in READOUT_MEMBERS]


def averaged_posteriors(mel: np.ndarray, model: Optional["PhonemeEncoder"] = None,
                        posteriors: Optional[np.ndarray] = None,
                        warps: tuple[float, ...] = READOUT_WARPS,
                        members: Optional[Sequence["PhonemeEncoder"]] = None) -> np.ndarray:
    """Phone posteriors [ceil(F/2), P] averaged over encoders × (the plain log-mel and its mel-axis `warps`).

    The encoders are `model` (default: the shipped feature encoder) and `members` (default: the shipped
    read-out members). `posteriors` (the plain pass of `model`, e.g. `SpeechFeatures.phoneme_posteriors`) is
    reused when given. Each pass goes through `encode_mel`, i.e. in bounded-memory chunks.
    """
    from .encoder import encode_mel, load_encoder

    model = model or load_encoder()
    members = readout_members() if members is None else list(members)
    mel = np.asarray(mel, np.float32)
    base = encode_mel(mel, model)[0] if posteriors is None else np.asarray(posteriors, np.float32)
    passes = [(model, f) for f in warps] + [(m, f) for m in members for f in (1.0, *warps)]
    total = base.astype(np.float32).copy()
    for encoder, factor in passes:
        view = mel if factor == 1.0 else warp_mel_axis(mel, factor)
        total += encode_mel(view, encoder)[0][: len(total)]
    return total / np.float32(1 + len(passes))


def decoded_viseme_probs(features: "SpeechFeatures", model: Optional["PhonemeEncoder"] = None,
                         warps: tuple[float, ...] = READOUT_WARPS,
                         members: Optional[Sequence["PhonemeEncoder"]] = None) -> np.ndarray:
    """Per-frame viseme probabilities [F2, 15] at 50 Hz of speech features (rows sum to 1).

    The phone posteriors averaged over the plain and warped log-mel (`averaged_posteriors`), summed per
    viseme of the table in `visemes.py`. This is the read-out to use for "which mouth shape is this frame";
    `SpeechFeatures.visemes` / `visemes.viseme_probs` are the single-pass sums.
    """
    post = averaged_posteriors(features.mel, model, features.phoneme_posteriors, warps, members)
    return post @ phone_to_viseme_matrix()
