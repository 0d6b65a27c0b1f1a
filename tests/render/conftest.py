"""Fixtures for the rasterizer tests: tiny scenes and a float64 oracle run of the dense reference."""
from __future__ import annotations

import math

import talkface  # noqa: F401  (first: its OpenMP settings must be in place before torch loads libgomp)
import pytest
import torch

from talkface.render.splat import Camera, face_like_scene

PARAM_NAMES = ("means", "log_scales", "quats", "opacity_logits", "colors")


def small_scene(n: int, seed: int, sh_coeffs: int = 0) -> dict[str, torch.Tensor]:
    """A face-like scene of n Gaussians; with sh_coeffs > 0 the colours are SH coefficients [n, sh_coeffs, 3]."""
    scene = face_like_scene(n, seed=seed)
    scene["log_scales"] = scene["log_scales"] + math.log(3.0)  # 3x wider than the benchmark scene: deep overlap
    if sh_coeffs:
        gen = torch.Generator().manual_seed(seed + 1)
        scene["colors"] = 0.4 * torch.randn(n, sh_coeffs, 3, generator=gen)
    return scene


def close_camera(width: int, height: int) -> Camera:
    """A camera framing the face-like scene a little tighter than the benchmark, so a few hundred Gaussians overlap
    in depth on a tiny image (early termination, many Gaussians per tile) and the corners stay empty."""
    return Camera.looking_at_origin(width, height, distance=1.0, focal=1.5 * width)


def with_grad(scene: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Leaf copies of the scene's tensors in `dtype` that require grad."""
    return {k: v.detach().to(dtype).clone().requires_grad_(True) for k, v in scene.items()}


def weighted_loss(out: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """A loss with random per-pixel weights on every output, so every gradient path carries signal."""
    return sum((out[k] * weights[k].to(out[k].dtype)).sum() for k in weights)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative L2 error of a against the reference b."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


@pytest.fixture
def loss_weights():
    """Random weights for rgb, alpha and depth of an image of the given size."""
    def make(height: int, width: int, seed: int = 0) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        return {"rgb": torch.randn(height, width, 3, generator=gen, dtype=torch.float64),
                "alpha": torch.randn(height, width, generator=gen, dtype=torch.float64),
                "depth": torch.randn(height, width, generator=gen, dtype=torch.float64)}
    return make
