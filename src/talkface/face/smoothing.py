"""Temporal smoothing: the One-Euro filter (Casiez et al. 2012), run forward and backward for zero lag.

One-Euro lowers its cutoff when a signal is still (killing jitter) and raises it when the signal moves fast
(keeping speech motion). Run causally it lags; averaging a forward and a time-reversed pass cancels the lag,
which matters here because mouth motion must stay in sync with audio.
"""
from __future__ import annotations

import numpy as np


def _alpha(cutoff: np.ndarray | float, fps: float) -> np.ndarray | float:
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau * fps)


def one_euro(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> np.ndarray:
    """Causal One-Euro filter along axis 0 of x [T, ...]; `beta` is in units of 1 / (signal unit per second)."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    prev, dprev = x[0].copy(), np.zeros_like(x[0])
    out[0] = prev
    a_d = _alpha(d_cutoff, fps)
    for t in range(1, len(x)):
        dx = (x[t] - prev) * fps
        dprev = dprev + a_d * (dx - dprev)
        cutoff = min_cutoff + beta * np.abs(dprev)
        a = _alpha(cutoff, fps)
        prev = prev + a * (x[t] - prev)
        out[t] = prev
    return out


def zero_phase_one_euro(x: np.ndarray, fps: float, min_cutoff: float, beta: float) -> np.ndarray:
    """Mean of a forward and a backward One-Euro pass: jitter removed, no time shift."""
    fwd = one_euro(x, fps, min_cutoff, beta)
    bwd = one_euro(x[::-1], fps, min_cutoff, beta)[::-1]
    return (0.5 * (fwd + bwd)).astype(np.float32)


def fill_gaps(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linearly interpolate invalid frames of values [T, ...] from the valid ones (edges hold the nearest)."""
    values = np.array(values, np.float32, copy=True)
    idx = np.flatnonzero(valid)
    if len(idx) == 0 or len(idx) == len(valid):
        return values
    flat = values.reshape(len(values), -1)
    missing = np.flatnonzero(~np.asarray(valid))
    for j in range(flat.shape[1]):
        flat[missing, j] = np.interp(missing, idx, flat[idx, j])
    return flat.reshape(values.shape)
