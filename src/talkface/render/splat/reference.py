"""Dense pure-torch rasterizer, the tests' oracle: every pixel against every Gaussian, autograd for the backward.

Same rules as the numba kernels (alpha clamp 0.99, skip below 1/255, stop before transmittance drops under 1e-4)
but no tiles, no culling and any dtype, so float64 runs give finite-difference-grade gradients. Memory is
O(pixels x Gaussians): tiny scenes only.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .camera import Camera
from .projection import colors_from_sh, project_gaussians
from .rasterizer import composite_background, expected_depth

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.99
T_MIN = 1e-4


def torch_exp_neg_poly(p: Tensor) -> Tensor:
    """The kernels' polynomial exp(-p) (clamped at p = 8) in torch, for tests that must not depend on its error."""
    x = (-p).clamp_min(-8.0) / 16.0
    y = 1 + x * (1 + x * (1 / 2 + x * (1 / 6 + x * (1 / 24 + x * (1 / 120 + x * (1 / 720 + x / 5040))))))
    return y ** 16


def rasterize_screen_reference(means2d: Tensor, conics: Tensor, opacities: Tensor, features: Tensor, depths: Tensor,
                               valid: Tensor, width: int, height: int,
                               exp_neg: Callable[[Tensor], Tensor] = lambda p: torch.exp(-p)) -> tuple[Tensor, Tensor]:
    """Features image [H, W, C] (premultiplied) and alpha [H, W] of screen-space Gaussians, densely in torch."""
    order = torch.argsort(depths.detach(), stable=True)
    order = order[valid[order]]
    m, con, op, feat = means2d[order], conics[order], opacities[order], features[order]
    v, u = torch.meshgrid(torch.arange(height, dtype=m.dtype), torch.arange(width, dtype=m.dtype), indexing="ij")
    dx = u.reshape(-1, 1) - m[:, 0]
    dy = v.reshape(-1, 1) - m[:, 1]
    power = 0.5 * con[:, 0] * dx * dx + con[:, 1] * dx * dy + 0.5 * con[:, 2] * dy * dy
    alpha = (op * exp_neg(power)).clamp(max=ALPHA_MAX)
    alpha = torch.where(alpha >= ALPHA_MIN, alpha, torch.zeros_like(alpha))
    with torch.no_grad():
        kept = torch.cumprod(1 - alpha, dim=1) >= T_MIN  # transmittance only falls, so the kept set is a prefix
    alpha = alpha * kept
    trans_incl = torch.cumprod(1 - alpha, dim=1)
    trans_excl = torch.cat([torch.ones_like(trans_incl[:, :1]), trans_incl[:, :-1]], 1)
    image = (alpha * trans_excl) @ feat
    final_alpha = 1 - trans_incl[:, -1] if trans_incl.shape[1] else torch.zeros(height * width, dtype=m.dtype)
    return image.reshape(height, width, -1), final_alpha.reshape(height, width)


def rasterize_reference(means: Tensor, log_scales: Tensor, quats: Tensor, opacity_logits: Tensor, colors: Tensor,
                        camera: Camera, background: Tensor | None = None,
                        exp_neg: Callable[[Tensor], Tensor] = lambda p: torch.exp(-p)) -> dict[str, Tensor]:
    """The public `rasterize` computed densely in torch (rgb, alpha, depth, depth_sum)."""
    proj = project_gaussians(means, log_scales, quats, camera, backend="torch")
    rgb = colors_from_sh(colors, means, camera) if colors.dim() == 3 else colors
    features = torch.cat([rgb, proj.depths[:, None]], 1)
    feat, alpha = rasterize_screen_reference(proj.means2d, proj.conics, torch.sigmoid(opacity_logits), features,
                                             proj.depths, proj.valid, camera.width, camera.height, exp_neg)
    return {
        "rgb": composite_background(feat[..., :3], alpha, background),
        "alpha": alpha,
        "depth": expected_depth(feat[..., 3], alpha),
        "depth_sum": feat[..., 3],
    }
