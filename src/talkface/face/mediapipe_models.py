"""Thin wrappers over the mediapipe 0.10.14 models that ship in its wheel (no downloads).

- `FullRangeDetector`: face boxes anywhere in a large frame (the mesh's own detector is short-range only).
- `MeshTracker`: 478 landmarks (mesh + iris) on a face-centred crop, in tracking mode.
- `PersonSegmenter`: selfie segmentation, person vs background probability.
"""
from __future__ import annotations

import io
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np


_NOISE = (b"W0000 ", b"I0000 ", b"WARNING: All log messages before absl", b"INFO: Created TensorFlow Lite")
_filter_installed = False


def _filter_native_stderr() -> None:
    """Drop the C++ log lines mediapipe's worker threads print to fd 2 (they arrive asynchronously, so a
    temporary redirect cannot catch them); every other native line is forwarded, and Python's own
    `sys.stderr` keeps writing straight to the terminal."""
    global _filter_installed
    if _filter_installed:
        return
    _filter_installed = True
    try:
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    sys.stderr = io.TextIOWrapper(io.FileIO(real, "w", closefd=False), line_buffering=True, errors="replace")

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not line.startswith(_NOISE):
                    os.write(real, line)

    threading.Thread(target=pump, name="native-stderr-filter", daemon=True).start()


def _solutions():
    import warnings
    warnings.filterwarnings("ignore", message=".*SymbolDatabase.GetPrototype.*")
    _filter_native_stderr()
    from mediapipe.python import solutions
    return solutions


@dataclass(frozen=True)
class FaceBox:
    """A detected face: box corners in pixels and the detector's confidence."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def size(self) -> float:
        return max(self.x1 - self.x0, self.y1 - self.y0)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


class FullRangeDetector:
    """mediapipe's full-range face detector (finds faces down to ~5% of the frame)."""

    def __init__(self, min_score: float = 0.5):
        self._model = _solutions().face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """All faces in an RGB uint8 frame, largest first."""
        h, w = rgb.shape[:2]
        res = self._model.process(rgb)
        boxes = []
        for det in res.detections or []:
            rb = det.location_data.relative_bounding_box
            boxes.append(FaceBox(rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h,
                                 float(det.score[0])))
        return sorted(boxes, key=lambda b: -b.size)

    def close(self) -> None:
        self._model.close()


class MeshTracker:
    """mediapipe FaceMesh with iris refinement in tracking mode, run on a face-centred square crop."""

    def __init__(self, min_confidence: float = 0.5, static: bool = False):
        self._model = _solutions().face_mesh.FaceMesh(
            static_image_mode=static, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)

    def landmarks(self, rgb_crop: np.ndarray) -> np.ndarray | None:
        """[478, 3] landmarks in crop pixels (x, y, z with z on x's pixel scale), or None when no face."""
        h, w = rgb_crop.shape[:2]
        res = self._model.process(rgb_crop)
        if not res.multi_face_landmarks:
            return None
        lm = res.multi_face_landmarks[0].landmark
        pts = np.array([(p.x, p.y, p.z) for p in lm], np.float32)
        pts *= np.array([w, h, w], np.float32)
        return pts

    def close(self) -> None:
        self._model.close()


class PersonSegmenter:
    """Selfie segmentation: per-pixel probability that a pixel belongs to the person (head, hair, torso)."""

    def __init__(self, landscape: bool = False):
        self._model = _solutions().selfie_segmentation.SelfieSegmentation(model_selection=1 if landscape else 0)

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """[H, W] float32 in [0, 1]."""
        res = self._model.process(rgb)
        return np.asarray(res.segmentation_mask, np.float32)

    def close(self) -> None:
        self._model.close()
