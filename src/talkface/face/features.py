"""Per-frame facial signals read from canonical landmarks: mouth opening, eye openness/blink, gaze."""
from __future__ import annotations

import numpy as np

from .landmarks import EYE_CORNERS, EYE_LIDS, IRIS_0, IRIS_1, MOUTH_GAP, interocular

TYPICAL_OPEN_EAR = 0.28  # eye aspect ratio of an open eye, used when a track is too short to learn its own


def mouth_gap(points: np.ndarray) -> np.ndarray:
    """Inner-lip gap (distance of the inner upper and lower lip midpoints) per frame, in the points' units."""
    a, b = MOUTH_GAP
    return np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1)


def mouth_opening(track) -> np.ndarray:
    """Inner-lip gap [T] in canonical cm (pose-invariant) of a FaceTrack."""
    return mouth_gap(track.landmarks3d).astype(np.float32)


def eye_aspect_ratio(points: np.ndarray) -> np.ndarray:
    """Eye aspect ratio per eye [..., 2]: mean lid gap over three lid pairs / corner-to-corner width."""
    out = []
    for (outer, inner), lids in zip(EYE_CORNERS, EYE_LIDS):
        width = np.linalg.norm(points[..., outer, :] - points[..., inner, :], axis=-1)
        gap = sum(np.linalg.norm(points[..., u, :] - points[..., d, :], axis=-1) for u, d in lids) / len(lids)
        out.append(gap / np.maximum(width, 1e-6))
    return np.stack(out, -1).astype(np.float32)


def blink_closure(ear: np.ndarray, open_level: np.ndarray | float | None = None) -> np.ndarray:
    """Eye closure per eye in [0, 1] (AU45-like): 0 at this person's usual open level, 1 at a closed lid.

    The open level is the 90th percentile of the track's own EAR (people's eyes differ), or a typical value
    for tracks too short to tell.
    """
    if open_level is None:
        open_level = np.percentile(ear, 90, axis=0) if len(ear) >= 25 else np.maximum(ear.max(0), TYPICAL_OPEN_EAR)
    closed_level = 0.25 * np.asarray(open_level)
    return np.clip((open_level - ear) / (np.asarray(open_level) - closed_level), 0.0, 1.0).astype(np.float32)


def gaze_offsets(points: np.ndarray) -> np.ndarray:
    """Iris centre offset from the eye-corner midpoint, per eye, as a fraction of eye width: [..., 2, 2] (x, y)."""
    out = []
    for (outer, inner), iris in zip(EYE_CORNERS, (IRIS_0, IRIS_1)):
        centre = (points[..., outer, :2] + points[..., inner, :2]) / 2
        width = np.linalg.norm(points[..., outer, :2] - points[..., inner, :2], axis=-1)[..., None]
        out.append((points[..., iris[0], :2] - centre) / np.maximum(width, 1e-6))
    return np.stack(out, -2).astype(np.float32)


def blink_events(closure: np.ndarray, fps: float, threshold: float = 0.5, min_frames: int = 1) -> list[tuple[int, int]]:
    """Blinks as (start, end) frame ranges where both eyes' mean closure exceeds `threshold`."""
    c = closure.mean(-1) if closure.ndim == 2 else closure
    above = np.concatenate([[False], c > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    spans = list(zip(edges[::2], edges[1::2]))
    max_len = int(round(fps * 1.0))  # a closure longer than a second is not a blink
    return [(int(a), int(b)) for a, b in spans if min_frames <= b - a <= max_len]


__all__ = ["mouth_gap", "mouth_opening", "eye_aspect_ratio", "blink_closure", "gaze_offsets", "blink_events",
           "interocular"]
