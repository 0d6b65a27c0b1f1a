"""Synthetic Gaussian scenes for tests, benchmarks and demos (no data files needed)."""
from __future__ import annotations

import math

import torch

from .camera import Camera


def face_like_scene(n: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """`n` Gaussians on and inside a face-sized ellipsoid (semi-axes 0.16 x 0.21 x 0.10 m) centred at the world
    origin: std 3-15 mm (log-uniform), random rotations, opacities sigmoid(N(0, 1.5)), uniform RGB. Seen by
    `Camera.looking_at_origin(w, h, distance=1.0)` (focal = width) it fills most of the frame like a tracked head."""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(n, 3, generator=gen, dtype=dtype)
    direction = direction / direction.norm(dim=1, keepdim=True)
    depth_in = 1.0 - 0.3 * torch.rand(n, 1, generator=gen, dtype=dtype) ** 2  # most points near the surface
    means = direction * depth_in * torch.tensor([0.16, 0.21, 0.10], dtype=dtype)
    log_std = torch.empty(n, 3, dtype=dtype).uniform_(math.log(0.003), math.log(0.015), generator=gen)
    return {
        "means": means,
        "log_scales": log_std,
        "quats": torch.randn(n, 4, generator=gen, dtype=dtype),
        "opacity_logits": 1.5 * torch.randn(n, generator=gen, dtype=dtype),
        "colors": torch.rand(n, 3, generator=gen, dtype=dtype),
    }


def face_camera(size: int) -> Camera:
    """The square camera the face-like scene is framed for (1 m away, focal = image width)."""
    return Camera.looking_at_origin(size, size, distance=1.0)
