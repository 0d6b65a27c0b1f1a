"""Per-frame region masks from landmark polygons (face, lips, inner mouth, eyes) and person/background."""
from __future__ import annotations

import cv2
import numpy as np

from .landmarks import EYE_0, EYE_1, FACE_OVAL, LIPS_INNER, LIPS_OUTER

POLYGONS = {"face": (FACE_OVAL,), "lips": (LIPS_OUTER,), "inner_mouth": (LIPS_INNER,), "eyes": (EYE_0, EYE_1)}


def polygon_mask(points2d: np.ndarray, polygons: tuple[tuple[int, ...], ...], height: int, width: int,
                 supersample: int = 4) -> np.ndarray:
    """Anti-aliased coverage [H, W] float32 of the union of landmark polygons (sub-pixel vertex precision)."""
    mask = np.zeros((height, width), np.uint8)
    shift = int(np.log2(supersample))
    for poly in polygons:
        pts = np.round(points2d[list(poly)] * supersample).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=shift)
    return mask.astype(np.float32) / 255.0


def region_masks(points2d: np.ndarray, height: int, width: int) -> dict[str, np.ndarray]:
    """Masks of one frame: 'face' (oval, incl. lips), 'lips' (outer lip polygon minus inner mouth), 'inner_mouth', 'eyes'."""
    out = {name: polygon_mask(points2d, polys, height, width) for name, polys in POLYGONS.items()}
    out["lips"] = np.clip(out["lips"] - out["inner_mouth"], 0.0, 1.0)
    return out


def person_masks(frames, segmenter=None):
    """Yield the person-vs-background probability [H, W] of each RGB frame (mediapipe selfie segmentation)."""
    from .mediapipe_models import PersonSegmenter

    own = segmenter is None
    segmenter = segmenter or PersonSegmenter()
    try:
        for frame in frames:
            yield segmenter.mask(frame)
    finally:
        if own:
            segmenter.close()
