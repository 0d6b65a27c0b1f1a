"""`FaceTrack`: everything tracked about one face in a video, per frame at the track's fps (25 by default).

Conventions (OpenCV camera: x right, y down, z forward):
- `landmarks2d` are pixels of the normalised-fps frames (mediapipe's 478 points: 468 mesh + 10 iris).
- `landmarks3d` are in the canonical head frame (pose removed), in centimetres, same axes as the canonical
  mean shape (`talkface.face.canonical`), so expression can be read without head motion.
- `pose` is [axis-angle (rad), translation (cm)] of the head in camera space, `scale` the weak-perspective
  pixels-per-cm at the head's depth; with focal length `intrinsics[0,0]` the two agree (t_z = f / scale).
- `blink` is eye closure per eye (0 = open as usual for this person, 1 = closed); `eye_open` the raw
  eye-aspect ratio it comes from; `gaze` is the iris offset per eye (x, y) as a fraction of eye width.
- `valid` is False where no face was found (those frames are interpolated when the gap is short).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..store import load_npz, save_npz

FACETRACK_VERSION = 1
N_LANDMARKS = 478


@dataclass
class FaceTrack:
    """Per-frame face tracking result; arrays share the leading frame axis T."""

    fps: float
    width: int
    height: int
    landmarks2d: np.ndarray  # [T, 478, 2] float32 pixels
    landmarks3d: np.ndarray  # [T, 478, 3] float32 canonical space (cm)
    pose: np.ndarray  # [T, 6] float32 axis-angle + translation (cm)
    scale: np.ndarray  # [T] float32 pixels per cm at head depth
    blink: np.ndarray  # [T, 2] float32 closure per eye (left, right as seen in the image)
    eye_open: np.ndarray  # [T, 2] float32 eye aspect ratio
    gaze: np.ndarray  # [T, 2, 2] float32 iris offset per eye (x, y)
    valid: np.ndarray  # [T] bool
    intrinsics: np.ndarray  # [3, 3] float32 pinhole camera of the frames
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.landmarks2d.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def slice(self, start: int, stop: int) -> "FaceTrack":
        """Frames [start, stop) as a new track."""
        arrays = {k: getattr(self, k)[start:stop] for k in _PER_FRAME}
        return FaceTrack(fps=self.fps, width=self.width, height=self.height, intrinsics=self.intrinsics,
                         source=self.source, meta=dict(self.meta), **arrays)

    def save(self, path: str | Path) -> None:
        """Write as versioned `.npz` (atomic)."""
        arrays = {k: getattr(self, k) for k in _PER_FRAME}
        arrays["intrinsics"] = self.intrinsics
        meta = {"fps": self.fps, "width": self.width, "height": self.height, "source": self.source, **self.meta}
        save_npz(path, "FaceTrack", FACETRACK_VERSION, arrays, meta)

    @classmethod
    def load(cls, path: str | Path) -> "FaceTrack":
        """Read a track written by `save`; other versions or kinds are refused with a UserError."""
        arrays, meta = load_npz(path, "FaceTrack", FACETRACK_VERSION)
        fps, width, height, source = meta.pop("fps"), meta.pop("width"), meta.pop("height"), meta.pop("source", "")
        return cls(fps=fps, width=width, height=height, source=source, meta=meta,
                   intrinsics=arrays["intrinsics"], **{k: arrays[k] for k in _PER_FRAME})


_PER_FRAME = ("landmarks2d", "landmarks3d", "pose", "scale", "blink", "eye_open", "gaze", "valid")
