"""3D Gaussians to screen space in torch (autograd flows through): 2D means, conics, depths, radii; SH colours."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

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


def project_gaussians(means: Tensor, log_scales: Tensor, quats: Tensor, camera: Camera) -> Projected:
    """Perspective projection of 3D Gaussians (EWA splatting with a local affine Jacobian)."""
    w2c = camera.world_to_camera.to(means)
    rot, trans = w2c[:3, :3], w2c[:3, 3]
    p_cam = means @ rot.T + trans
    x, y, z = p_cam.unbind(-1)
    in_front = z > camera.near
    z_safe = torch.where(in_front, z, torch.ones_like(z))
    inv_z = 1.0 / z_safe
    u = camera.fx * x * inv_z + camera.cx
    v = camera.fy * y * inv_z + camera.cy
    m = torch.matmul(rot, quat_to_rotmat(quats)) * log_scales.clamp(max=MAX_LOG_SCALE).exp()[:, None, :]
    ratio_x = (x * inv_z).clamp(-(camera.cx + FOV_SLACK * camera.width) / camera.fx,
                                (camera.width - 1 - camera.cx + FOV_SLACK * camera.width) / camera.fx)
    ratio_y = (y * inv_z).clamp(-(camera.cy + FOV_SLACK * camera.height) / camera.fy,
                                (camera.height - 1 - camera.cy + FOV_SLACK * camera.height) / camera.fy)
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
