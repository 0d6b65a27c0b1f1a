"""Emotion metrics of EmoTalkingGaussian on valence/arousal (V/A) series, for whichever V/A read-out is used.

The read-out itself (EmoNet in the paper; an AU-based V/A estimator in talkface) belongs to the emotion issue:
when it lands it registers a metric group (`register_metric_group`) that estimates V/A per frame of the
generated video and scores it against the target V/A with the functions below. Top-3 emotion-class accuracy
(E-Acc) needs EmoNet's classifier and is not reproduced.
"""
from __future__ import annotations

import numpy as np


def va_rmse(predicted: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(V-RMSE, A-RMSE): sqrt(mean((pred - true)²)) over frames, separately for valence and arousal ([N, 2] each)."""
    p, t = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    err = np.sqrt(np.nanmean((p - t) ** 2, axis=0))
    return float(err[0]), float(err[1])


def va_sign_agreement(predicted: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(V-SA, A-SA): fraction of frames where sign(pred) == sign(true), separately for valence and arousal."""
    p, t = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    agree = np.sign(p) == np.sign(t)
    return float(agree[:, 0].mean()), float(agree[:, 1].mean())
