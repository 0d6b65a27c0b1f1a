"""Raw per-frame landmark tracking: full-range detection, then crop-and-track with re-detection when lost.

One identity only: the first face found is the largest; later re-detections take the face nearest the last
known position. Frames are also checked for several comparable faces and for shot cuts, which are refused:
a track must never silently mix two people.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

from ..errors import UserError
from .mediapipe_models import FaceBox, FullRangeDetector, MeshTracker

CROP_SIZE = 256  # the mesh model sees a 192² face region; a 256² crop with margin is plenty
CROP_MARGIN = 1.8  # crop side / face size
CHECK_EVERY = 12  # frames between full-frame detector checks for extra faces
CUT_MIN_DIFF = 0.05  # a cut changes the 32×32 grey thumbnail by at least this much (mean abs, 0..1) ...
CUT_CONTRAST = 5.0  # ... and by this many times more than the frame pairs around it


@dataclass
class RawTrack:
    """Unsmoothed per-frame landmarks in frame pixels (z on x's scale) and where they were found."""

    width: int
    height: int
    points: np.ndarray  # [T, 478, 3] float32 (NaN where no face)
    found: np.ndarray  # [T] bool
    frame_diffs: np.ndarray  # [T] mean abs change of the grey thumbnail from the previous frame
    multi_face_checks: int = 0
    checks: int = 0

    def cuts(self) -> list[int]:
        """Frames that start a new shot: a thumbnail change far above the changes around it, where the face
        also jumps (moves by a quarter of its size or changes size by a fifth since it was last seen)."""
        d = self.frame_diffs
        out = []
        for k in np.flatnonzero(d > CUT_MIN_DIFF):
            around = np.concatenate([d[max(k - 6, 1):k], d[k + 1:k + 7]])
            around = around[around > 0.002]  # repeated frames (fps conversion) say nothing about motion
            if len(around) and d[k] > CUT_CONTRAST * max(float(np.median(around)), 0.004) and self._face_jumps(k):
                out.append(int(k))
        return out

    def _face_jumps(self, k: int) -> bool:
        """The face at frame k is far from (or much larger/smaller than) the last face seen before k."""
        before = np.flatnonzero(self.found[:k])
        if not self.found[k] or not len(before):
            return False
        (c0, s0), (c1, s1) = _centre_size(self.points[before[-1]]), _centre_size(self.points[k])
        return bool(np.linalg.norm(c1 - c0) > 0.25 * s0 or abs(s1 - s0) > 0.2 * s0)


def _centre_size(points: np.ndarray) -> tuple[np.ndarray, float]:
    lo, hi = points[:468, :2].min(0), points[:468, :2].max(0)
    return (lo + hi) / 2, float(max(hi - lo))


@dataclass
class _Roi:
    cx: float
    cy: float
    size: float

    def transform(self) -> np.ndarray:
        """2×3 affine from frame pixels to crop pixels."""
        s = CROP_SIZE / self.size
        return np.array([[s, 0, CROP_SIZE / 2 - s * self.cx], [0, s, CROP_SIZE / 2 - s * self.cy]], np.float32)


def _roi_from_box(box: FaceBox) -> _Roi:
    cx, cy = box.centre
    return _Roi(cx, cy - 0.1 * box.size, box.size * CROP_MARGIN * 1.15)


def _roi_from_points(pts: np.ndarray) -> _Roi:
    lo, hi = pts[:468, :2].min(0), pts[:468, :2].max(0)
    c = (lo + hi) / 2
    return _Roi(float(c[0]), float(c[1]), float(max(hi - lo)) * CROP_MARGIN)


def _thumb(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


class LandmarkTracker:
    """Stateful tracker fed one frame at a time; `track` runs it over a frame iterator."""

    def __init__(self):
        self.detector = FullRangeDetector()
        self.mesh = MeshTracker()
        self.roi: _Roi | None = None
        self.last_centre: tuple[float, float] | None = None

    def close(self) -> None:
        self.detector.close()
        self.mesh.close()

    def _pick(self, boxes: list[FaceBox]) -> FaceBox | None:
        """The tracked identity's box: largest at first, then nearest to where the face last was."""
        if not boxes:
            return None
        if self.last_centre is None:
            return boxes[0]
        lx, ly = self.last_centre
        return min(boxes, key=lambda b: np.hypot(b.centre[0] - lx, b.centre[1] - ly) / b.size)

    def _mesh_in(self, frame: np.ndarray, roi: _Roi) -> np.ndarray | None:
        """Landmarks in frame pixels from the crop `roi`, or None."""
        m = roi.transform()
        crop = cv2.warpAffine(frame, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        pts = self.mesh.landmarks(crop)
        if pts is None:
            return None
        s = m[0, 0]
        pts[:, 0] = (pts[:, 0] - m[0, 2]) / s
        pts[:, 1] = (pts[:, 1] - m[1, 2]) / s
        pts[:, 2] /= s
        return pts

    def step(self, frame: np.ndarray) -> np.ndarray | None:
        """Track one frame: crop around the last face, re-detect on the full frame when that fails."""
        pts = self._mesh_in(frame, self.roi) if self.roi is not None else None
        if pts is None:
            box = self._pick(self.detector.detect(frame))
            if box is None:
                self.roi = None
                return None
            pts = self._mesh_in(frame, _roi_from_box(box))
            if pts is None:
                self.roi = None
                return None
        roi = _roi_from_points(pts)
        if self.roi is not None and abs(roi.size - self.roi.size) < 0.08 * self.roi.size:
            roi.size = self.roi.size  # keep the crop scale steady: mediapipe tracks best on a stable crop
        self.roi = roi
        self.last_centre = (roi.cx, roi.cy)
        return pts

    def count_faces(self, frame: np.ndarray) -> int:
        """Faces comparable in size to the largest (≥ 45% of its side) in a full-frame detection."""
        boxes = self.detector.detect(frame)
        if not boxes:
            return 0
        return sum(1 for b in boxes if b.size >= 0.45 * boxes[0].size and b.score >= 0.6)


def track_raw(frames: Iterable[np.ndarray], progress=None) -> RawTrack:
    """Run the tracker over `frames`; detect extra faces and shot cuts along the way."""
    tracker = LandmarkTracker()
    points, found, diffs = [], [], []
    multi, checks, prev_thumb = 0, 0, None
    width = height = 0
    try:
        for k, frame in enumerate(frames):
            height, width = frame.shape[:2]
            thumb = _thumb(frame)
            diffs.append(0.0 if prev_thumb is None else float(np.abs(thumb - prev_thumb).mean()))
            prev_thumb = thumb
            if k % CHECK_EVERY == 0:
                checks += 1
                multi += tracker.count_faces(frame) >= 2
            pts = tracker.step(frame)
            found.append(pts is not None)
            points.append(pts if pts is not None else np.full((478, 3), np.nan, np.float32))
            if progress is not None:
                progress.update(1)
    finally:
        tracker.close()
    if not points:
        raise UserError("the video has no frames.")
    return RawTrack(width, height, np.stack(points), np.array(found), np.array(diffs, np.float32), multi, checks)
