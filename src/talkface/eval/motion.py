"""Eye and head motion statistics: blink rate/duration, head-motion diversity, beat alignment (SadTalker's set)."""
from __future__ import annotations

import numpy as np

from ..face.features import blink_events
from ..face.geometry import euler_degrees

BEAT_SIGMA_FRAMES = 3.0
"""Bailando's beat-alignment tolerance σ (its code uses σ² = 9 frames²), kept in frames at our 25 fps."""

MOTION_SMOOTH_FRAMES = 2.0
"""Gaussian σ (frames) smoothing head speed before picking its minima; Bailando's σ=5 at 60 fps ≈ 2 at 25 fps."""


def blink_rate(closure: np.ndarray, fps: float) -> float:
    """Blinks per minute = number of blinks / clip duration in minutes (0 for a clip without blinks).

    A blink is a run of frames where the mean closure of both eyes (FaceTrack.blink, 0 open .. 1 closed)
    exceeds 0.5, at most 1 s long (longer runs are eyes kept shut); see `talkface.face.features.blink_events`.
    """
    minutes = len(closure) / fps / 60.0
    return len(blink_events(closure, fps)) / minutes if minutes > 0 else float("nan")


def blink_duration(closure: np.ndarray, fps: float) -> float:
    """Mean blink length in seconds (frames of closure > 0.5 per blink / fps); NaN when there is no blink."""
    events = blink_events(closure, fps)
    return float(np.mean([(b - a) / fps for a, b in events])) if events else float("nan")


def pose_diversity(pose: np.ndarray) -> dict[str, float]:
    """Head-motion diversity (SadTalker's 'Diversity' with our pose in place of Hopenet's angles):
    `rotation_deg` = mean over yaw/pitch/roll of each angle's standard deviation over time (degrees);
    `translation_cm` = mean over x/y/z of the translation's standard deviation over time (cm)."""
    pose = np.asarray(pose, np.float64)
    pose = pose[np.isfinite(pose).all(axis=1)]
    if len(pose) < 2:
        return {"rotation_deg": float("nan"), "translation_cm": float("nan")}
    return {"rotation_deg": float(euler_degrees(pose[:, :3]).std(axis=0).mean()),
            "translation_cm": float(pose[:, 3:6].std(axis=0).mean())}


def motion_beats(pose: np.ndarray, sigma: float = MOTION_SMOOTH_FRAMES) -> np.ndarray:
    """Kinematic beats (Bailando): frames where the Gaussian-smoothed head angular speed |Δ(yaw, pitch, roll)|
    (degrees/frame) has a strict local minimum, i.e. where the head pauses or turns back."""
    angles = euler_degrees(np.asarray(pose, np.float64)[:, :3])
    speed = np.linalg.norm(np.diff(angles, axis=0), axis=1)
    if len(speed) < 3 or np.ptp(speed) <= 1e-9:
        return np.zeros(0, np.int64)
    smooth = gaussian_smooth(speed, sigma)
    inner = (smooth[1:-1] < smooth[:-2]) & (smooth[1:-1] < smooth[2:])
    # speed[i] is the motion from frame i to i+1 (counted at frame i+1); the [1:-1] slice shifts by one more
    return np.flatnonzero(inner) + 2


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """`x` convolved with a normalised Gaussian of std `sigma` samples (radius 4σ), edges extended."""
    radius = max(1, int(4 * sigma + 0.5))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    padded = np.pad(np.asarray(x, np.float64), radius, mode="edge")
    return np.convolve(padded, k / k.sum(), mode="valid")


def audio_beats(audio: np.ndarray, sr: int, fps: float = 25.0) -> np.ndarray:
    """Audio beats: librosa's onset detector (onset strength peaks) on the speech, as video-frame positions."""
    import librosa

    onsets = librosa.onset.onset_detect(y=np.asarray(audio, np.float32), sr=sr, units="time")
    return np.asarray(onsets, np.float64) * fps


def beat_alignment(motion: np.ndarray, audio: np.ndarray, sigma: float = BEAT_SIGMA_FRAMES) -> float:
    """Beat Align score as in Bailando's released code (used by SadTalker):
    BA = (1/|A|) Σ_{a∈A} exp(-min_{m∈M} (m - a)² / (2σ²)), A = audio beats, M = motion beats, in frames.

    1 = a head-motion beat at every audio onset; 0 = none nearby (also when the head never moves);
    NaN without audio onsets.
    """
    audio = np.asarray(audio, np.float64)
    motion = np.asarray(motion, np.float64)
    if len(audio) == 0:
        return float("nan")
    if len(motion) == 0:
        return 0.0
    nearest = np.min((audio[:, None] - motion[None, :]) ** 2, axis=1)
    return float(np.mean(np.exp(-nearest / (2.0 * sigma * sigma))))
