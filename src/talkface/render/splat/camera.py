"""Pinhole camera of the rasterizer (OpenCV convention: x right, y down, z forward; pixel centres at integers)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Camera:
    """Intrinsics in pixels, image size and a world-to-camera rigid transform [4, 4].

    A camera point (x, y, z) lands at image coordinate (fx x / z + cx, fy y / z + cy); pixel (row v, column u) is
    sampled at (u, v), so cx = (width - 1) / 2 centres the principal point.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    world_to_camera: torch.Tensor = field(default_factory=lambda: torch.eye(4))
    near: float = 0.01

    def __post_init__(self):
        w2c = torch.as_tensor(np.asarray(self.world_to_camera, dtype=np.float32)
                              if not isinstance(self.world_to_camera, torch.Tensor) else self.world_to_camera)
        if tuple(w2c.shape) != (4, 4):
            raise ValueError(f"world_to_camera must be [4, 4], got {tuple(w2c.shape)}")
        object.__setattr__(self, "world_to_camera", w2c.detach().to(torch.float32))
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        values = (self.fx, self.fy, self.cx, self.cy, self.near)
        if not all(np.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0 or self.near <= 0:
            raise ValueError(f"camera intrinsics must be finite with fx, fy, near > 0, got {values}")

    @classmethod
    def looking_at_origin(cls, width: int, height: int, distance: float = 1.0, focal: float | None = None) -> "Camera":
        """A camera on the -z axis `distance` away looking at the world origin (world axes = camera axes)."""
        w2c = torch.eye(4)
        w2c[2, 3] = distance
        f = float(focal if focal is not None else width)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height, w2c)

    @property
    def center(self) -> torch.Tensor:
        """Camera centre in world coordinates [3]."""
        rot = self.world_to_camera[:3, :3]
        return -rot.T @ self.world_to_camera[:3, 3]
