"""Public entry point: differentiable Gaussian rasterization on the CPU (numba projection, tile binning, forward
compositing and hand-written backward, each wrapped in a torch.autograd.Function), or gsplat when the tensors live
on a CUDA device and gsplat is installed."""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _kernels as K
from .camera import Camera
from .projection import colors_from_sh, project_gaussians

# Scheduling: numba's omp layer runs its schedule entries with a static `omp for`, so each thread gets one
# contiguous block of iterations whatever the chunksize (measured on numba 0.68: with chunksize 1 and 2 threads,
# iterations 0..n/2-1 all ran on thread 0). Tiles differ a lot in work (face centre vs empty corners), so the tile
# kernels interleave tiles across threads themselves: one iteration per thread, which takes every n_threads-th
# tile (with one set of scratch buffers). The chunksizes below only set how many schedule entries numba creates:
# one per thread for the tile kernels, large blocks for the cheap per-Gaussian loops, and one per thread (0) for
# loops over pre-made equal blocks (projection, reduce). Beware: the chunksize also applies to
# the parallel loops numba makes of array expressions such as np.zeros inside a kernel.
TILE_CHUNK = 1
GAUSSIAN_CHUNK = 1024
STATIC = 0
EPS_ALPHA = 1e-6  # below this accumulated alpha the expected depth is reported as 0


class NonFiniteGaussiansError(ValueError):
    """A Gaussian parameter tensor holds NaN or inf (usually a diverged optimisation)."""


@dataclass
class Bins:
    """Tile binning of one view: per 16x16 tile a range of the intersection list (front to back), each entry with
    the 4-bit mask of the 8x8 sub-tiles the Gaussian reaches."""

    tiles_x: int
    tiles_y: int
    tile_start: np.ndarray  # [n_tiles + 1] int64
    gid: np.ndarray  # [n_isect] int32 Gaussian of each (tile, Gaussian) intersection
    mask: np.ndarray  # [n_isect] uint8 sub-tile mask

    @property
    def n_isect(self) -> int:
        """Number of (tile, Gaussian) intersections."""
        return int(self.gid.size)


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Uninitialised C-contiguous array whose data starts on a 64-byte boundary (the kernels' own allocator,
    reshaped), so that the forward kernel can write whole tile rows with non-temporal stores (numpy aligns to 16)."""
    return K.aligned_empty(int(np.prod(shape)), dtype).reshape(shape)


def depth_order(depths: np.ndarray) -> np.ndarray:
    """Stable front-to-back order [N] int64 of depths [N]: one sort of unique 64-bit keys (order-preserving float
    bits, then the index), about 2x faster than a stable argsort."""
    bits = np.ascontiguousarray(depths, dtype=np.float32).view(np.uint32)
    key = np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000)).astype(np.uint64)
    key = (key << np.uint64(32)) | np.arange(bits.size, dtype=np.uint64)
    return (np.sort(key) & np.uint64(0xFFFFFFFF)).astype(np.int64)


def cumsum0(values: np.ndarray) -> np.ndarray:
    """Exclusive prefix sum with the total appended: [0, v0, v0 + v1, ...] (int64)."""
    out = np.zeros(values.size + 1, np.int64)
    np.cumsum(values, out=out[1:])
    return out


def bin_gaussians(params: np.ndarray, valid: np.ndarray, width: int, height: int) -> Bins:
    """Tile binning of Gaussians whose rows are already in front-to-back order (see `pack_params`): exact ellipse
    culling (each Gaussian's box tiles tested once, into an upper-bound buffer), a compacting copy, then a stable
    sort by tile that keeps the depth order inside tiles."""
    tiles_x = -(-width // K.TILE)
    tiles_y = -(-height // K.TILE)
    identity = np.arange(params.shape[0], dtype=np.int64)
    with numba.parallel_chunksize(GAUSSIAN_CHUNK):
        box_start = cumsum0(K.tile_box_sizes(params, valid, width, height))
        cand_tile = np.empty(box_start[-1], np.int32)
        cand_mask = np.empty(box_start[-1], np.uint8)
        counts = K.cull_tiles(params, box_start, width, height, tiles_x, cand_tile, cand_mask)
        offsets = cumsum0(counts)
        n_isect = int(offsets[-1])
        isect_tile = np.empty(n_isect, np.int32)
        isect_gid = np.empty(n_isect, np.int32)
        isect_mask = np.empty(n_isect, np.uint8)
        K.gather_by_depth(counts, box_start, identity, offsets, cand_tile, cand_mask, isect_tile, isect_gid,
                          isect_mask)
    tile_start, gid, mask = K.sort_by_tile(isect_tile, isect_gid, isect_mask, tiles_x * tiles_y)
    return Bins(tiles_x, tiles_y, tile_start, gid, mask)


def pack_params(means2d: Tensor, conics: Tensor, opacities: Tensor, colors: Tensor,
                depths: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The kernels' per-Gaussian rows [N, 11] float32 (mean (2), conic (3), opacity, r, g, b, depth,
    log(opacity) / 16) sorted front to back, and the order [N] int64 (row i is Gaussian order[i]). Depth-ordered
    rows make every tile read its Gaussians at increasing addresses, which measurably cuts cache misses in the
    compositing kernels."""
    params = np.empty((means2d.shape[0], K.N_PARAMS), np.float32)
    params[:, 0:2] = means2d.detach().numpy()
    params[:, 2:5] = conics.detach().numpy()
    params[:, 5] = opacities.detach().numpy()
    params[:, 6:9] = colors.detach().numpy()
    params[:, 9] = depths.detach().numpy()
    with np.errstate(divide="ignore"):  # opacity 0 gives -inf; such Gaussians are culled before any kernel reads it
        params[:, 10] = np.log(params[:, 5]) * np.float32(1.0 / 16.0)
    order = depth_order(params[:, 9])
    return params[order], order


class _RasterizeNumba(torch.autograd.Function):
    """Forward/backward of the numba tile rasterizer on screen-space Gaussians."""

    @staticmethod
    def forward(ctx, means2d, conics, opacities, colors, depths, valid, width: int, height: int):
        params, order = pack_params(means2d, conics, opacities, colors, depths)
        bins = bin_gaussians(params, valid.numpy()[order], width, height)
        feat = aligned_empty((height, width, 4), np.float32)
        trans = aligned_empty((height, width), np.float32)
        last = aligned_empty((height, width), np.int32)
        sub_end = np.empty((bins.tiles_x * bins.tiles_y, 4), np.int64)
        with numba.parallel_chunksize(TILE_CHUNK):
            K.forward(params, bins.tile_start, bins.gid, bins.mask, width, height, bins.tiles_x, feat, trans, last,
                      sub_end, numba.get_num_threads())
        ctx.state = (params, order, bins, feat, trans, last, sub_end, width, height)
        feat = torch.from_numpy(feat)
        return feat[..., :3], feat[..., 3], torch.from_numpy(1.0 - trans)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_rgb, grad_depth_sum, grad_alpha):
        params, order, bins, feat, trans, last, sub_end, width, height = ctx.state
        grad_feat = np.empty((height, width, 4), np.float32)
        grad_feat[..., :3] = grad_rgb.numpy()
        grad_feat[..., 3] = grad_depth_sum.numpy()
        grad_alpha = np.ascontiguousarray(grad_alpha.to(torch.float32).numpy())
        isect_grads = np.empty((bins.n_isect, K.N_GRADS), np.float32)
        grad_sorted = np.empty((params.shape[0], K.N_GRADS), np.float32)
        with numba.parallel_chunksize(TILE_CHUNK):
            K.backward(params, bins.tile_start, bins.gid, bins.mask, width, height, bins.tiles_x, feat, trans, last,
                       sub_end, grad_feat, grad_alpha, isect_grads, numba.get_num_threads())
        with numba.parallel_chunksize(STATIC):
            K.reduce_gradients(params, bins.gid, isect_grads, numba.get_num_threads(), grad_sorted)
        grad_params = np.empty_like(grad_sorted)
        grad_params[order] = grad_sorted  # back from depth order to the caller's order
        g = torch.from_numpy(grad_params)
        return g[:, 0:2], g[:, 2:5], g[:, 5], g[:, 6:9], g[:, 9], None, None, None


def rasterize_screen(means2d: Tensor, conics: Tensor, opacities: Tensor, colors: Tensor, depths: Tensor,
                     valid: Tensor, width: int, height: int) -> tuple[Tensor, Tensor, Tensor]:
    """Composite screen-space Gaussians front to back (float32 CPU tensors): premultiplied colour [H, W, 3] without
    background, depth sum_i w_i z_i [H, W] and accumulated alpha [H, W]. Differentiable w.r.t. means2d [N, 2],
    conics [N, 3], opacities [N], colors [N, 3] and depths [N] (which also set the front-to-back order)."""
    return _RasterizeNumba.apply(means2d, conics, opacities, colors, depths, valid, width, height)


def check_finite(**tensors: Tensor) -> None:
    """Raise NonFiniteGaussiansError naming every parameter tensor that holds NaN or inf."""
    bad = []
    for name, t in tensors.items():
        n_bad = int((~torch.isfinite(t.detach())).sum())
        if n_bad:
            bad.append(f"{name} ({n_bad} values)")
    if bad:
        raise NonFiniteGaussiansError("Gaussian parameters contain NaN or inf: " + ", ".join(bad)
                                      + "; the optimisation probably diverged (lower the learning rate).")


def check_shapes(means: Tensor, log_scales: Tensor, quats: Tensor, opacity_logits: Tensor, colors: Tensor) -> int:
    """Validate the parameter shapes against means [N, 3]; returns N."""
    if means.dim() != 2 or means.shape[1] != 3:
        raise ValueError(f"means must be [N, 3], got {tuple(means.shape)}")
    n = means.shape[0]
    expected = {"log_scales": (log_scales, (n, 3)), "quats": (quats, (n, 4)), "opacity_logits": (opacity_logits, (n,))}
    for name, (t, shape) in expected.items():
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must be {list(shape)} for {n} Gaussians, got {tuple(t.shape)}")
    if not (colors.shape[:1] == (n,) and colors.shape[-1] == 3 and colors.dim() in (2, 3)):
        raise ValueError(f"colors must be [N, 3] RGB or [N, K, 3] SH coefficients, got {tuple(colors.shape)}")
    return n


def composite_background(rgb: Tensor, alpha: Tensor, background: Tensor | None) -> Tensor:
    """Add a background colour [3] or image [H, W, 3] behind premultiplied rgb [H, W, 3] with coverage alpha."""
    if background is None:
        return rgb
    bg = torch.as_tensor(background, dtype=rgb.dtype, device=rgb.device)
    if bg.shape not in ((3,), rgb.shape):
        raise ValueError(f"background must be a colour [3] or an image {list(rgb.shape)}, got {tuple(bg.shape)}")
    return rgb + (1.0 - alpha)[..., None] * bg


def expected_depth(depth_sum: Tensor, alpha: Tensor) -> Tensor:
    """Alpha-normalised depth [H, W]: sum_i w_i z_i / sum_i w_i, and 0 where nothing covers the pixel."""
    covered = alpha > EPS_ALPHA
    return torch.where(covered, depth_sum / torch.where(covered, alpha, torch.ones_like(alpha)),
                       torch.zeros_like(alpha))


def rasterize(means: Tensor, log_scales: Tensor, quats: Tensor, opacity_logits: Tensor, colors: Tensor,
              camera: Camera, background: Tensor | None = None, *, backend: str = "auto") -> dict[str, Tensor]:
    """Render 3D Gaussians seen by `camera`, differentiable w.r.t. every parameter and the background.

    Args:
        means: [N, 3] world positions.  log_scales: [N, 3] log standard deviations along the Gaussian's axes.
        quats: [N, 4] rotations (w, x, y, z), normalised here.  opacity_logits: [N] (opacity = sigmoid).
        colors: [N, 3] RGB, or [N, K, 3] SH coefficients with K in (1, 4, 9, 16) evaluated towards the camera.
        camera: pinhole camera (OpenCV convention).  background: colour [3] or image [H, W, 3]; None = black.
        backend: "auto" (gsplat for CUDA tensors when installed, else numba), "numba" or "gsplat".
    Returns (float32 on the CPU path; float64 inputs are projected in float64, rasterized in float32):
        rgb [H, W, 3], alpha [H, W], depth [H, W] (expected camera z of the covering Gaussians, 0 where empty),
        depth_sum [H, W] (un-normalised sum_i w_i z_i), means2d [N, 2] (call .retain_grad() before backward for
        densification statistics) and radii [N] (3-sigma pixel radius, 0 if culled).
    """
    check_shapes(means, log_scales, quats, opacity_logits, colors)
    check_finite(means=means, log_scales=log_scales, quats=quats, opacity_logits=opacity_logits, colors=colors)
    if background is not None:
        check_finite(background=torch.as_tensor(background))
    if backend == "gsplat" or (backend == "auto" and means.is_cuda and _gsplat_available()):
        from ._gsplat import rasterize_gsplat
        return rasterize_gsplat(means, log_scales, quats, opacity_logits, colors, camera, background)
    if backend not in ("auto", "numba"):
        raise ValueError(f"unknown backend {backend!r}; use 'auto', 'numba' or 'gsplat'")
    if means.is_cuda:
        raise ValueError("CUDA tensors need gsplat (not installed); move the Gaussians to the CPU for the numba path")
    proj = project_gaussians(means, log_scales, quats, camera)
    rgb = colors_from_sh(colors, means, camera) if colors.dim() == 3 else colors
    rgb_image, depth_sum, alpha = rasterize_screen(proj.means2d, proj.conics, torch.sigmoid(opacity_logits), rgb,
                                                   proj.depths, proj.valid, camera.width, camera.height)
    return {
        "rgb": composite_background(rgb_image, alpha, background),
        "alpha": alpha,
        "depth": expected_depth(depth_sum, alpha),
        "depth_sum": depth_sum,
        "means2d": proj.means2d,
        "radii": proj.radii,
    }


def _gsplat_available() -> bool:
    """True when gsplat imports (it is optional and only useful with CUDA)."""
    try:
        import gsplat  # noqa: F401
    except Exception:
        return False
    return True
