"""Landmark distance (LMD) between generated and ground-truth frames, on mediapipe's 478-point mesh."""
from __future__ import annotations

import numpy as np

from ..face.landmarks import LIPS_INNER, LIPS_OUTER, interocular

MOUTH_INDICES = np.array(LIPS_OUTER + LIPS_INNER)
"""The 40 mediapipe face-mesh lip points (outer and inner contours of both lips)."""


def landmark_distance(gen: np.ndarray, ref: np.ndarray, center: bool = False) -> np.ndarray:
    """Per-frame mean Euclidean distance between corresponding points of `gen` and `ref` ([T, N, 2] → [T]).

    With `center`, each frame's point set is first shifted to its own centroid (removes translation, as
    InsTaG's mouth LMD does), so only the shape of the set is compared.
    """
    gen = np.asarray(gen, np.float64)
    ref = np.asarray(ref, np.float64)
    if center:
        gen = gen - gen.mean(axis=1, keepdims=True)
        ref = ref - ref.mean(axis=1, keepdims=True)
    return np.linalg.norm(gen - ref, axis=-1).mean(axis=-1)


def interocular_px(landmarks2d: np.ndarray) -> np.ndarray:
    """Per-frame pixel distance between the two eye centres of [T, 478, 2] landmarks (talkface.face's definition)."""
    return interocular(landmarks2d)


def lmd_metrics(gen: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame LMD series of [T, 478, 2] landmark tracks: mouth (centred) and all points, in px and ÷ inter-ocular.

    `lmd_mouth_px`: mean distance of the 40 lip points after centring each set on its centroid;
    `lmd_all_px`: mean distance of all 478 points, uncentred (includes head-position error);
    `*_io`: the same divided by the reference frame's inter-ocular distance (resolution-independent).
    """
    io = np.maximum(interocular_px(ref), 1e-6)
    mouth = landmark_distance(gen[:, MOUTH_INDICES], ref[:, MOUTH_INDICES], center=True)
    full = landmark_distance(gen, ref, center=False)
    return {"lmd_mouth_px": mouth, "lmd_all_px": full, "lmd_mouth_io": mouth / io, "lmd_all_io": full / io}
