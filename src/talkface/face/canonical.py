"""The canonical face: a mean 478-point shape in a frontal head frame (cm), and the stable points for pose fits.

Built by `python -m talkface.face.build_canonical` from the tracked clips in ../shared/data (generalised
Procrustes over thousands of frames of many people) and shipped as `face/data/canonical.npz`.
Axes follow the camera convention: x towards the image's right, y down, z away from the camera.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import INTEROCULAR_CM, similarity_fit
from .landmarks import CHIN, FOREHEAD, eye_centres

DATA_DIR = Path(__file__).with_name("data")
CANONICAL_PATH = DATA_DIR / "canonical.npz"


@dataclass(frozen=True)
class CanonicalFace:
    """Mean shape [478, 3] in cm and the indices of the points that move least with expression."""

    mean: np.ndarray
    stable: np.ndarray


@functools.lru_cache(maxsize=1)
def canonical_face() -> CanonicalFace:
    """The shipped canonical face (loaded once)."""
    with np.load(CANONICAL_PATH) as data:
        return CanonicalFace(mean=data["mean"].astype(np.float32), stable=data["stable"].astype(np.int64))


def frontal_frame(shape: np.ndarray) -> np.ndarray:
    """Rotate, centre and scale one shape [478, 3] into the canonical frame (eyes level, IOD = 6.3 cm)."""
    eyes = eye_centres(shape)
    x = eyes[1] - eyes[0]
    x /= np.linalg.norm(x)
    y = shape[CHIN] - shape[FOREHEAD]
    y -= x * (y @ x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    rot = np.stack([x, y, z])
    centred = (shape - eyes.mean(0)) @ rot.T
    return centred * (INTEROCULAR_CM / np.linalg.norm(eyes[1] - eyes[0]))


def procrustes_mean(shapes: np.ndarray, weights: np.ndarray | None = None, iterations: int = 6) -> np.ndarray:
    """Generalised Procrustes mean of shapes [F, 478, 3]: align all to the mean by similarity, re-average, repeat."""
    mean = frontal_frame(shapes[0])
    for _ in range(iterations):
        aligned = align_to(shapes, mean, weights)
        mean = frontal_frame(aligned.mean(0))
    return mean


def align_to(shapes: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Each shape [F, N, 3] mapped onto `target` [N, 3] by its best similarity transform."""
    scale, rot, trans = similarity_fit(target, shapes, weights)  # shapes ≈ s R target + t
    return np.einsum("fji,fnj->fni", rot, shapes - trans[:, None]) / scale[:, None, None]
