"""talkface.render.splat: differentiable 3D Gaussian rasterization on the CPU (numba kernels with hand-written
backward passes) behind one function, with gsplat used instead when tensors live on CUDA and gsplat is installed.

    from talkface.render.splat import rasterize, Camera
    camera = Camera(fx, fy, cx, cy, width, height, world_to_camera)   # OpenCV convention
    out = rasterize(means, log_scales, quats, opacity_logits, colors, camera, background)
    out["rgb"], out["alpha"], out["depth"]          # [H, W, 3], [H, W], [H, W], differentiable

Pipeline (float32): projection to 2D means / conics (numba, `_projection_kernels.py`), Gaussians packed in depth
order, tile binning with exact ellipse culling and a per-intersection 8x8 sub-tile mask, front-to-back compositing
per 16x16 tile with 3DGS rules (each 8x8 sub-tile runs down its own Gaussian list, two Gaussians per pass over its
pixels), backward replaying the forward front to back (each Gaussian once per tile over the contiguous pixels of
its live sub-tiles; per-intersection gradient buffers, then a per-Gaussian reduce; no atomics) (`_kernels.py`). `reference.py` is the dense torch oracle the tests compare against. Speed, memory and the
measured ceiling are in docs/BENCHMARKS.md (bench/rasterizer.py).
"""
from .camera import Camera
from .projection import Projected, project_gaussians
from .rasterizer import NonFiniteGaussiansError, rasterize, rasterize_screen
from .scenes import face_like_scene

__all__ = ["Camera", "NonFiniteGaussiansError", "Projected", "face_like_scene", "project_gaussians", "rasterize",
           "rasterize_screen"]
