"""Eyes without a source: human-like blinks (rate, duration, lid profile) and gaze (fixations + saccades).

Both are stochastic point processes whose parameters are measured on the tracked training clips
(`fit_eye_stats`), then clamped to the human range (10–30 blinks/min, 80–320 ms of closure beyond half):
- blinks: a renewal process with gamma-distributed inter-blink intervals (coefficient of variation ~0.7, as in
  human blink records) and a minimum gap; each blink closes fast and reopens more slowly (raised-cosine ramps,
  closing 40 % / opening 60 % of its length) with a log-normal duration;
- gaze: fixations of gamma-distributed length at targets drawn around the rest gaze, joined by one-frame
  saccades (real saccades last 20–80 ms, under one 25 fps frame), plus slow fixational drift.
The eye rig is the linear map from [blink_left, blink_right, gaze_x, gaze_y] to the eye-region coefficients of the
morphable model (least squares on the training tracks), so blink and gaze can be mixed from different sources.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from .weights import load_weights, save_weights, weights_path

FPS = 25.0
MIN_RATE, MAX_RATE = 10.0, 30.0  # blinks per minute accepted as human
MIN_HALF_FRAMES, MAX_HALF_FRAMES = 2.0, 8.0  # frames of closure > 0.5 per blink (80–320 ms)


@dataclass(frozen=True)
class EyeStats:
    """Parameters of the blink and gaze processes (measured on training clips)."""

    blink_rate: float = 20.0  # blinks per minute
    ibi_shape: float = 2.0  # gamma shape of inter-blink intervals
    min_gap_s: float = 0.6  # shortest time between blink onsets
    half_frames_median: float = 4.0  # median frames of closure > 0.5
    half_frames_sigma: float = 0.3  # log-normal sigma of that duration
    gaze_std: tuple[float, float] = (0.025, 0.015)  # spread of fixation targets (fraction of eye width)
    fixation_s: float = 1.5  # mean fixation length
    drift_std: float = 0.002  # per-frame fixational drift


def blink_profile(n_frames: int, onset: float, length: float, peak: float) -> np.ndarray:
    """Closure of one blink sampled at frames 0..n-1: raised-cosine close (40 %) then slower open (60 %)."""
    t = np.arange(n_frames) - onset
    close, reopen = 0.4 * length, 0.6 * length
    out = np.zeros(n_frames, np.float32)
    rising = (t >= 0) & (t < close)
    out[rising] = 0.5 - 0.5 * np.cos(np.pi * t[rising] / close)
    falling = (t >= close) & (t < length)
    out[falling] = 0.5 + 0.5 * np.cos(np.pi * (t[falling] - close) / reopen)
    return out * peak


def generate_blinks(n: int, rng: np.random.Generator, stats: EyeStats | None = None,
                    fps: float = FPS) -> np.ndarray:
    """[n, 2] eye closure with blinks at human rate and duration (both eyes together, slight asymmetry)."""
    stats = stats or eye_stats()
    mean_gap = 60.0 / float(np.clip(stats.blink_rate, MIN_RATE, MAX_RATE)) * fps
    out = np.zeros((n, 2), np.float32)
    t = rng.uniform(0.2, 1.0) * mean_gap
    while t < n:
        half = float(np.clip(np.exp(rng.normal(np.log(stats.half_frames_median), stats.half_frames_sigma)),
                             MIN_HALF_FRAMES, MAX_HALF_FRAMES))
        length = 2.0 * half
        lo, hi = int(np.floor(t)), min(n, int(np.ceil(t + length)) + 1)
        if hi > lo:
            curve = blink_profile(hi - lo, t - lo, length, rng.uniform(0.92, 1.0))
            out[lo:hi, 0] = np.maximum(out[lo:hi, 0], curve)
            out[lo:hi, 1] = np.maximum(out[lo:hi, 1], curve * rng.uniform(0.95, 1.0))
        gap = rng.gamma(stats.ibi_shape, mean_gap / stats.ibi_shape)
        t += max(gap, stats.min_gap_s * fps, length + 2)
    return out


def generate_gaze(n: int, rng: np.random.Generator, stats: EyeStats | None = None, fps: float = FPS) -> np.ndarray:
    """[n, 2] gaze offsets: fixations at random targets around rest, one-frame saccades, fixational drift."""
    stats = stats or eye_stats()
    std = np.asarray(stats.gaze_std, np.float64)
    out = np.zeros((n, 2), np.float64)
    t, current = 0, np.zeros(2)
    first = True
    while t < n:
        length = max(3, int(round(rng.gamma(2.0, stats.fixation_s * fps / 2.0))))
        target = np.zeros(2) if first else np.clip(rng.normal(0.0, std), -2.5 * std, 2.5 * std)
        first = False
        drift = np.cumsum(rng.normal(0.0, stats.drift_std, (length, 2)), 0)
        drift -= np.linspace(0, 1, length)[:, None] * drift[-1]  # drift returns to the target: no wandering
        seg = target + drift
        if t > 0:
            seg[0] = 0.5 * (current + target)  # the saccade lands within one frame
        out[t:t + length] = seg[: n - t]
        current = target
        t += length
    return out.astype(np.float32)


# ---- fitting on tracked clips ----

def saccade_count(gaze: np.ndarray, threshold: float = 0.03) -> int:
    """Number of frame-to-frame gaze jumps larger than `threshold` (fraction of eye width)."""
    return int((np.linalg.norm(np.diff(gaze, axis=0), axis=1) > threshold).sum())


def fit_eye_stats(tracks: list) -> EyeStats:
    """Blink and gaze process parameters measured on FaceTracks (clips ≥ 8 s count for rates)."""
    from ..face import blink_events

    rates, halves, gaze_stds, fixations, drifts = [], [], [], [], []
    for tr in tracks:
        events = blink_events(tr.blink, tr.fps)
        halves += [b - a for a, b in events]
        minutes = tr.n_frames / tr.fps / 60.0
        gaze = tr.gaze.mean(1)
        gaze = gaze - np.median(gaze, 0)
        if minutes * 60 >= 8.0:
            rates.append(len(events) / minutes)
            fixations.append(tr.n_frames / tr.fps / (saccade_count(gaze) + 1))
        gaze_stds.append(gaze.std(0))
        step = np.linalg.norm(np.diff(gaze, axis=0), axis=1)
        drifts.append(np.median(step[step < 0.03]) if (step < 0.03).any() else 0.0)
    halves_arr = np.asarray(halves, np.float64) if halves else np.array([4.0])
    return EyeStats(
        blink_rate=float(np.clip(np.median(rates), MIN_RATE, MAX_RATE)) if rates else 20.0,
        half_frames_median=float(np.clip(np.median(halves_arr), MIN_HALF_FRAMES + 1, MAX_HALF_FRAMES - 1)),
        half_frames_sigma=float(np.clip(np.std(np.log(halves_arr)), 0.1, 0.5)),
        gaze_std=tuple(float(v) for v in np.median(np.stack(gaze_stds), 0)),
        fixation_s=float(np.clip(np.median(fixations), 0.8, 4.0)) if fixations else 1.5,
        drift_std=float(np.clip(np.median(drifts) / np.sqrt(2), 0.0005, 0.005)),
    )


def fit_eye_rig(tracks: list) -> np.ndarray:
    """[4, K] least-squares map from [blink_l, blink_r, gaze_x, gaze_y] to eye-region coefficients (rest = median)."""
    from ..face import identity_mean, shipped_morphable

    xs, ys = [], []
    for tr in tracks:
        rest = identity_mean(tr.landmarks3d, tr.valid)
        coeffs = shipped_morphable().with_identity(rest).encode(tr.landmarks3d[tr.valid])["eyes"]
        gaze = tr.gaze.mean(1)[tr.valid]
        gaze = gaze - np.median(gaze, 0)
        xs.append(np.concatenate([tr.blink[tr.valid], gaze], 1))
        ys.append(coeffs)
    x, y = np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)
    rig, *_ = np.linalg.lstsq(x, y, rcond=None)
    return rig.astype(np.float32)


def save_eyes(rig: np.ndarray, stats: EyeStats, meta: dict) -> None:
    """Write the eye rig and process parameters to weights/eyes.safetensors."""
    save_weights(weights_path("eyes"), {"rig": rig}, {"stats": asdict(stats), **meta})


@functools.lru_cache(maxsize=1)
def _eyes_file() -> tuple[np.ndarray, EyeStats]:
    tensors, meta = load_weights(weights_path("eyes"))
    stats = meta["stats"]
    stats["gaze_std"] = tuple(stats["gaze_std"])
    return tensors["rig"].numpy(), EyeStats(**stats)


def eye_rig() -> np.ndarray:
    """The shipped [4, K] eye rig (blink + gaze → eye-region coefficients)."""
    return _eyes_file()[0]


def eye_stats() -> EyeStats:
    """The shipped blink/gaze process parameters."""
    return _eyes_file()[1]
