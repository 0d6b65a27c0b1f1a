"""Optional CUDA backend: the same contract as `rasterize`, computed by gsplat (imported only when used)."""
from __future__ import annotations

import torch
from torch import Tensor

from .camera import Camera
from .projection import sh_degree_of
from .rasterizer import composite_background, expected_depth


def rasterize_gsplat(means: Tensor, log_scales: Tensor, quats: Tensor, opacity_logits: Tensor, colors: Tensor,
                     camera: Camera, background: Tensor | None) -> dict[str, Tensor]:
    """gsplat's fused CUDA rasterization with our camera convention (gsplat samples pixel centres at +0.5)."""
    from gsplat import rasterization

    device = means.device
    K = torch.tensor([[camera.fx, 0.0, camera.cx + 0.5], [0.0, camera.fy, camera.cy + 0.5], [0.0, 0.0, 1.0]],
                     device=device, dtype=means.dtype)
    sh_degree = sh_degree_of(colors.shape[1]) if colors.dim() == 3 else None
    out, alphas, meta = rasterization(
        means, quats, log_scales.exp(), torch.sigmoid(opacity_logits), colors,
        camera.world_to_camera.to(device)[None], K[None], camera.width, camera.height,
        near_plane=camera.near, sh_degree=sh_degree, render_mode="RGB+D", packed=False)
    rgb, depth_sum, alpha = out[0, ..., :3], out[0, ..., 3], alphas[0, ..., 0]
    return {
        "rgb": composite_background(rgb, alpha, background),
        "alpha": alpha,
        "depth": expected_depth(depth_sum, alpha),
        "depth_sum": depth_sum,
        "means2d": meta["means2d"][0] - 0.5,
        "radii": _max_radius(meta["radii"][0]),
    }


def _max_radius(radii: Tensor) -> Tensor:
    """gsplat >= 1.5 reports per-axis radii [N, 2]; older versions one radius [N]."""
    return radii.max(dim=-1).values if radii.dim() == 2 else radii
