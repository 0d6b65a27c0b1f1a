"""talkface.render.splat: differentiable 3D Gaussian rasterization on the CPU (numba tile kernels, hand-written
backward) behind one function, with gsplat used instead when tensors live on CUDA and gsplat is installed.

    from talkface.render.splat import rasterize, Camera
    out = rasterize(means, log_scales, quats, opacity_logits, colors, camera, background)
    out["rgb"], out["alpha"], out["depth"]
"""
from .camera import Camera
from .projection import Projected, project_gaussians
from .rasterizer import NonFiniteGaussiansError, rasterize, rasterize_screen
from .scenes import face_like_scene

__all__ = ["Camera", "NonFiniteGaussiansError", "Projected", "face_like_scene", "project_gaussians", "rasterize",
           "rasterize_screen"]
