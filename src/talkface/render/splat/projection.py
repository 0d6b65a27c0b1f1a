"""3D Gaussians to screen space in torch (autograd flows through): 2D means, conics, depths, radii; SH colours."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _projection_kernels as PK
from .camera import Camera

BLUR_2D = 0.3  # pixel^2 added to every 2D covariance (the 3DGS low-pass filter); keeps conics well defined
MAX_LOG_SCALE = 10.0  # e^10 m: larger scales would overflow the float32 2D covariance, so they are clamped
FOV_SLACK = 0.3  # the Jacobian is evaluated at most this fraction of the image outside the frustum (as in 3DGS)

_SH_C0 = 0.28209479177387814
_SH_C1 = 0.4886025119029199
_SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, -0.4570457994644658,
          1.445305721320277, -0.5900435899266435)


@dataclass
class Projected:
    """Screen-space Gaussians: means2d [N, 2] (pixels), conics [N, 3] (a, b, c of the inverse 2D covariance
    [[a, b], [b, c]]), depths [N] (camera z), radii [N] (3-sigma pixels, 0 when culled), valid [N] (in front of
    the near plane with a finite covariance)."""

    means2d: Tensor
    conics: Tensor
    depths: Tensor
    radii: Tensor
    valid: Tensor


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Rotation matrices [N, 3, 3] of quaternions [N, 4] (w, x, y, z), normalised here; a zero quaternion gives I."""
    q = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(rows, -1).reshape(-1, 3, 3)


def rotate_batch(rot: Tensor, mats: Tensor) -> Tensor:
    """rot [3, 3] @ mats [N, 3, 3] as one [3, 3] x [3, 3N] GEMM (a batched 3x3 bmm is several times slower on CPU)."""
    n = mats.shape[0]
    flat = mats.permute(1, 0, 2).reshape(3, 3 * n)
    return (rot @ flat).reshape(3, n, 3).permute(1, 0, 2)


def project_gaussians(means: Tensor, log_scales: Tensor, quats: Tensor, camera: Camera,
                      backend: str = "auto") -> Projected:
    """Perspective projection of 3D Gaussians (EWA splatting with a local affine Jacobian).

    backend "auto" runs the fused numba kernels for float32 CPU tensors and torch otherwise; "torch" forces the
    readable torch version below (the definition the numba kernels mirror and are tested against).
    """
    if backend == "auto" and means.dtype == torch.float32 and not means.is_cuda:
        means2d, conics, depths, radii, valid = _ProjectNumba.apply(means, log_scales, quats, camera)
        return Projected(means2d, conics, depths, radii, valid)
    w2c = camera.world_to_camera.to(means)
    rot, trans = w2c[:3, :3], w2c[:3, 3]
    p_cam = means @ rot.T + trans
    x, y, z = p_cam.unbind(-1)
    in_front = z > camera.near
    z_safe = torch.where(in_front, z, torch.ones_like(z))
    inv_z = 1.0 / z_safe
    u = camera.fx * x * inv_z + camera.cx
    v = camera.fy * y * inv_z + camera.cy
    m = rotate_batch(rot, quat_to_rotmat(quats)) * log_scales.clamp(max=MAX_LOG_SCALE).exp()[:, None, :]
    x_lo, x_hi, y_lo, y_hi = _jacobian_limits(camera)
    ratio_x = (x * inv_z).clamp(x_lo, x_hi)
    ratio_y = (y * inv_z).clamp(y_lo, y_hi)
    row_u = (camera.fx * inv_z)[:, None] * (m[:, 0] - ratio_x[:, None] * m[:, 2])
    row_v = (camera.fy * inv_z)[:, None] * (m[:, 1] - ratio_y[:, None] * m[:, 2])
    c00 = (row_u * row_u).sum(-1) + BLUR_2D
    c01 = (row_u * row_v).sum(-1)
    c11 = (row_v * row_v).sum(-1) + BLUR_2D
    det = c00 * c11 - c01 * c01
    valid = in_front & torch.isfinite(det) & (det > 0)
    inv_det = 1.0 / torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([c11 * inv_det, -c01 * inv_det, c00 * inv_det], -1)
    with torch.no_grad():
        half_trace = 0.5 * (c00 + c11)
        lam_max = half_trace + (half_trace * half_trace - det).clamp_min(0.01).sqrt()
        radius = (3.0 * lam_max.sqrt()).ceil()
        on_screen = ((u + radius >= 0) & (u - radius <= camera.width - 1)
                     & (v + radius >= 0) & (v - radius <= camera.height - 1))
        radii = torch.where(valid & on_screen, radius, torch.zeros_like(radius)).to(torch.int32)
    return Projected(torch.stack([u, v], -1), conics, z, radii, valid)


def _jacobian_limits(camera: Camera) -> tuple[float, float, float, float]:
    """Bounds (x_lo, x_hi, y_lo, y_hi) of x/z and y/z where the projection Jacobian is evaluated (3DGS-style)."""
    return (-(camera.cx + FOV_SLACK * camera.width) / camera.fx,
            (camera.width - 1 - camera.cx + FOV_SLACK * camera.width) / camera.fx,
            -(camera.cy + FOV_SLACK * camera.height) / camera.fy,
            (camera.height - 1 - camera.cy + FOV_SLACK * camera.height) / camera.fy)


def _kernel_camera(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.float32]:
    """Camera constants as the projection kernels take them: view [4, 4], (fx, fy, cx, cy), limits, near."""
    view = np.ascontiguousarray(camera.world_to_camera.numpy(), dtype=np.float32)
    intr = np.array([camera.fx, camera.fy, camera.cx, camera.cy], np.float32)
    return view, intr, np.array(_jacobian_limits(camera), np.float32), np.float32(camera.near)


def _as_f32(t: Tensor) -> np.ndarray:
    """A contiguous float32 numpy view (or copy) of a CPU tensor, without autograd."""
    return np.ascontiguousarray(t.detach().numpy(), dtype=np.float32)


class _ProjectNumba(torch.autograd.Function):
    """project_gaussians in two fused numba passes (forward, hand-written backward)."""

    @staticmethod
    def forward(ctx, means, log_scales, quats, camera):
        n = means.shape[0]
        arrays = (_as_f32(means), _as_f32(log_scales), _as_f32(quats))
        view, intr, limits, near = _kernel_camera(camera)
        means2d, conics = np.empty((n, 2), np.float32), np.empty((n, 3), np.float32)
        depths, radii, valid = np.empty(n, np.float32), np.empty(n, np.int32), np.empty(n, np.bool_)
        with numba.parallel_chunksize(0):  # equal blocks: static split
            PK.project_forward(*arrays, view, intr, limits, camera.width, camera.height, near, means2d, conics,
                               depths, radii, valid)
        ctx.state = (arrays, view, intr, limits, near, valid, conics)
        radii_t, valid_t = torch.from_numpy(radii), torch.from_numpy(valid)
        ctx.mark_non_differentiable(radii_t, valid_t)
        return torch.from_numpy(means2d), torch.from_numpy(conics), torch.from_numpy(depths), radii_t, valid_t

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_means2d, grad_conics, grad_depths, _grad_radii, _grad_valid):
        arrays, view, intr, limits, near, valid, conics = ctx.state
        n = arrays[0].shape[0]
        grads = (np.empty((n, 3), np.float32), np.empty((n, 3), np.float32), np.empty((n, 4), np.float32))
        with numba.parallel_chunksize(0):  # equal blocks: static split
            PK.project_backward(*arrays, view, intr, limits, near, valid, conics, _as_f32(grad_means2d),
                                _as_f32(grad_conics), _as_f32(grad_depths), *grads)
        return torch.from_numpy(grads[0]), torch.from_numpy(grads[1]), torch.from_numpy(grads[2]), None


def sh_degree_of(n_coeffs: int) -> int:
    """SH degree d of a colour with (d + 1)^2 coefficients per channel (0..3)."""
    degree = int(round(math.sqrt(n_coeffs))) - 1
    if (degree + 1) ** 2 != n_coeffs or not 0 <= degree <= 3:
        raise ValueError(f"SH colours need 1, 4, 9 or 16 coefficients per channel, got {n_coeffs}")
    return degree


def sh_basis(dirs: Tensor, degree: int) -> Tensor:
    """Real spherical-harmonic basis [N, (degree + 1)^2] at unit directions [N, 3] (the 3DGS ordering and signs)."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, _SH_C0)]
    if degree >= 1:
        out += [-_SH_C1 * y, _SH_C1 * z, -_SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [_SH_C2[0] * x * y, _SH_C2[1] * y * z, _SH_C2[2] * (2 * zz - xx - yy), _SH_C2[3] * x * z,
                _SH_C2[4] * (xx - yy)]
    if degree >= 3:
        out += [_SH_C3[0] * y * (3 * xx - yy), _SH_C3[1] * x * y * z, _SH_C3[2] * y * (4 * zz - xx - yy),
                _SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy), _SH_C3[4] * x * (4 * zz - xx - yy),
                _SH_C3[5] * z * (xx - yy), _SH_C3[6] * x * (xx - 3 * yy)]
    return torch.stack(out, -1)


def colors_from_sh(sh: Tensor, means: Tensor, camera: Camera) -> Tensor:
    """View-dependent RGB [N, 3] of SH coefficients [N, K, 3] seen from the camera centre: basis . coeffs + 0.5,
    clamped at 0 (the 3DGS convention, so a degree-0 coefficient of 0 is mid-grey)."""
    degree = sh_degree_of(sh.shape[1])
    dirs = means - camera.center.to(means)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = sh_basis(dirs, degree)
    return (torch.einsum("nk,nkc->nc", basis, sh) + 0.5).clamp_min(0.0)
