"""Numba projection of 3D Gaussians to screen space and its hand-written backward (one fused pass per Gaussian
instead of ~60 small torch ops forward and ~120 backward). Mirrors `projection.project_gaussians` exactly; that torch
version stays as the readable definition and the tests' reference."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

BLUR_2D = np.float32(0.3)
MAX_LOG_SCALE = np.float32(10.0)
QUAT_EPS = np.float32(1e-12)
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_F4 = np.float32(4.0)
CHUNK = 256  # Gaussians per parallel work item (each item allocates its 3x3 scratch matrices once)
# fastmath without nnan/ninf: the validity test below relies on isfinite
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(inline="always", cache=True)
def _unit_quat(quats, g):
    """Normalised quaternion (w, x, y, z) of row g and the norm used (clamped at 1e-12 like the torch version)."""
    w = quats[g, 0]
    x = quats[g, 1]
    y = quats[g, 2]
    z = quats[g, 3]
    n = max(math.sqrt(w * w + x * x + y * y + z * z), QUAT_EPS)
    return w / n, x / n, y / n, z / n, n


@njit(inline="always", cache=True)
def _rotmat(w, x, y, z, R):
    """Fill R [3, 3] with the rotation of unit quaternion (w, x, y, z)."""
    R[0, 0] = _F1 - _F2 * (y * y + z * z)
    R[0, 1] = _F2 * (x * y - w * z)
    R[0, 2] = _F2 * (x * z + w * y)
    R[1, 0] = _F2 * (x * y + w * z)
    R[1, 1] = _F1 - _F2 * (x * x + z * z)
    R[1, 2] = _F2 * (y * z - w * x)
    R[2, 0] = _F2 * (x * z - w * y)
    R[2, 1] = _F2 * (y * z + w * x)
    R[2, 2] = _F1 - _F2 * (x * x + y * y)


@njit(inline="always", cache=True)
def _camera_point(means, g, view):
    """World point g in camera coordinates."""
    mx = means[g, 0]
    my = means[g, 1]
    mz = means[g, 2]
    x = view[0, 0] * mx + view[0, 1] * my + view[0, 2] * mz + view[0, 3]
    y = view[1, 0] * mx + view[1, 1] * my + view[1, 2] * mz + view[1, 3]
    z = view[2, 0] * mx + view[2, 1] * my + view[2, 2] * mz + view[2, 3]
    return x, y, z


@njit(inline="always", cache=True)
def _scaled_axes(quats, log_scales, g, view, Rq, W, M, s):
    """M = R_view R_quat diag(scale) [3, 3] (columns = the Gaussian's scaled axes in camera space); also keeps
    R_quat, W = R_view R_quat and the scales."""
    w, x, y, z, _ = _unit_quat(quats, g)
    _rotmat(w, x, y, z, Rq)
    for j in range(3):
        s[j] = math.exp(min(log_scales[g, j], MAX_LOG_SCALE))
    for i in range(3):
        for j in range(3):
            W[i, j] = view[i, 0] * Rq[0, j] + view[i, 1] * Rq[1, j] + view[i, 2] * Rq[2, j]
            M[i, j] = W[i, j] * s[j]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def project_forward(means, log_scales, quats, view, intr, limits, width, height, near, means2d, conics, depths,
                    radii, valid):
    """Screen-space means [N, 2], conics [N, 3], depths [N], 3-sigma radii [N] and validity [N] of 3D Gaussians.

    intr = (fx, fy, cx, cy); limits = (x_lo, x_hi, y_lo, y_hi): the bounds of x/z and y/z used in the Jacobian.
    """
    fx, fy, cx, cy = intr[0], intr[1], intr[2], intr[3]
    n = means.shape[0]
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        mats = np.empty((4, 3, 3), np.float32)
        for g in range(chunk * CHUNK, min(n, (chunk + 1) * CHUNK)):
            _project_one(means, log_scales, quats, view, width, height, near, fx, fy, cx, cy, limits, means2d,
                         conics, depths, radii, valid, g, mats)


@njit(inline="always", cache=True, fastmath=FASTMATH)
def _project_one(means, log_scales, quats, view, width, height, near, fx, fy, cx, cy, limits, means2d, conics,
                 depths, radii, valid, g, mats):
    """Project Gaussian g (see project_forward)."""
    Rq = mats[0]
    W = mats[1]
    M = mats[2]
    s = mats[3, 0]
    x, y, z = _camera_point(means, g, view)
    in_front = z > near
    iz = _F1 / z if in_front else _F1
    u = fx * x * iz + cx
    v = fy * y * iz + cy
    means2d[g, 0] = u
    means2d[g, 1] = v
    depths[g] = z
    _scaled_axes(quats, log_scales, g, view, Rq, W, M, s)
    rx = min(max(x * iz, limits[0]), limits[1])
    ry = min(max(y * iz, limits[2]), limits[3])
    A = fx * iz
    B = fy * iz
    c00 = BLUR_2D
    c01 = _F0
    c11 = BLUR_2D
    for j in range(3):
        tu = A * (M[0, j] - rx * M[2, j])
        tv = B * (M[1, j] - ry * M[2, j])
        c00 += tu * tu
        c01 += tu * tv
        c11 += tv * tv
    det = c00 * c11 - c01 * c01
    ok = in_front and np.isfinite(det) and det > 0
    idet = _F1 / det if ok else _F1
    conics[g, 0] = c11 * idet
    conics[g, 1] = -c01 * idet
    conics[g, 2] = c00 * idet
    valid[g] = ok
    half_trace = np.float32(0.5) * (c00 + c11)
    lam = half_trace + math.sqrt(max(half_trace * half_trace - det, np.float32(0.01)))
    r = math.ceil(np.float32(3.0) * math.sqrt(lam))
    on_screen = u + r >= 0 and u - r <= width - 1 and v + r >= 0 and v - r <= height - 1
    radii[g] = np.int32(r) if (ok and on_screen) else np.int32(0)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def project_backward(means, log_scales, quats, view, intr, limits, near, valid, conics, grad_means2d, grad_conics,
                     grad_depths, grad_means, grad_log_scales, grad_quats):
    """Chain dL/d(means2d, conics, depths) back to dL/d(means, log_scales, quats) Gaussian by Gaussian."""
    fx, fy = intr[0], intr[1]
    n = means.shape[0]
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        mats = np.empty((5, 3, 3), np.float32)
        for g in range(chunk * CHUNK, min(n, (chunk + 1) * CHUNK)):
            _backprop_one(means, log_scales, quats, view, fx, fy, limits, near, valid, conics, grad_means2d,
                          grad_conics, grad_depths, grad_means, grad_log_scales, grad_quats, g, mats)


@njit(inline="always", cache=True, fastmath=FASTMATH)
def _backprop_one(means, log_scales, quats, view, fx, fy, limits, near, valid, conics, grad_means2d, grad_conics,
                  grad_depths, grad_means, grad_log_scales, grad_quats, g, mats):
    """Backward of Gaussian g (see project_backward)."""
    Rq = mats[0]
    W = mats[1]
    M = mats[2]
    s = mats[3, 0]
    dM = mats[4]
    x, y, z = _camera_point(means, g, view)
    in_front = z > near
    iz = _F1 / z if in_front else _F1
    d_x = _F0
    d_y = _F0
    d_z = grad_depths[g]
    d_iz = _F0
    for i in range(3):
        grad_log_scales[g, i] = _F0
    for i in range(4):
        grad_quats[g, i] = _F0
    # means2d: u = fx x iz + cx, v = fy y iz + cy
    gu = grad_means2d[g, 0]
    gv = grad_means2d[g, 1]
    d_x += fx * iz * gu
    d_y += fy * iz * gv
    d_iz += fx * x * gu + fy * y * gv
    if valid[g]:
        _scaled_axes(quats, log_scales, g, view, Rq, W, M, s)
        # conic = inverse(cov2d): dL/dcov = -Q G Q with G the symmetric gradient of Q = [[a, b], [b, c]]
        a = conics[g, 0]
        b = conics[g, 1]
        c = conics[g, 2]
        ga = grad_conics[g, 0]
        gb = np.float32(0.5) * grad_conics[g, 1]
        gc = grad_conics[g, 2]
        # Q G = [[a ga + b gb, a gb + b gc], [b ga + c gb, b gb + c gc]]; (Q G) Q
        p00 = a * ga + b * gb
        p01 = a * gb + b * gc
        p10 = b * ga + c * gb
        p11 = b * gb + c * gc
        g00 = -(p00 * a + p01 * b)
        g01 = -(p00 * b + p01 * c) - (p10 * a + p11 * b)  # both off-diagonal entries of cov2d are c01
        g11 = -(p10 * b + p11 * c)
        rx_raw = x * iz
        ry_raw = y * iz
        rx = min(max(rx_raw, limits[0]), limits[1])
        ry = min(max(ry_raw, limits[2]), limits[3])
        A = fx * iz
        B = fy * iz
        d_A = _F0
        d_B = _F0
        d_rx = _F0
        d_ry = _F0
        for j in range(3):
            eu = M[0, j] - rx * M[2, j]
            ev = M[1, j] - ry * M[2, j]
            tu = A * eu
            tv = B * ev
            d_tu = _F2 * g00 * tu + g01 * tv
            d_tv = _F2 * g11 * tv + g01 * tu
            dM[0, j] = A * d_tu
            dM[1, j] = B * d_tv
            dM[2, j] = -A * rx * d_tu - B * ry * d_tv
            d_A += eu * d_tu
            d_B += ev * d_tv
            d_rx -= A * M[2, j] * d_tu
            d_ry -= B * M[2, j] * d_tv
        d_iz += fx * d_A + fy * d_B
        if limits[0] <= rx_raw <= limits[1]:
            d_x += d_rx * iz
            d_iz += d_rx * x
        if limits[2] <= ry_raw <= limits[3]:
            d_y += d_ry * iz
            d_iz += d_ry * y
        _scale_and_rotation_grads(quats, log_scales, g, view, W, s, dM, Rq, grad_log_scales, grad_quats)
    if in_front:
        d_z -= iz * iz * d_iz
    for i in range(3):
        grad_means[g, i] = view[0, i] * d_x + view[1, i] * d_y + view[2, i] * d_z


@njit(inline="always", cache=True)
def _scale_and_rotation_grads(quats, log_scales, g, view, W, s, dM, Rq, grad_log_scales, grad_quats):
    """From dL/dM (M = R_view R_quat diag(s)) to dL/dlog_scales and dL/dquats (through the normalisation)."""
    for j in range(3):
        ds = W[0, j] * dM[0, j] + W[1, j] * dM[1, j] + W[2, j] * dM[2, j]
        grad_log_scales[g, j] = ds * s[j] if log_scales[g, j] <= MAX_LOG_SCALE else _F0
    # dL/dRq = R_view^T dL/dW, dL/dW = dM diag(s)
    G = Rq  # reuse the buffer: Rq is no longer needed
    for i in range(3):
        for j in range(3):
            G[i, j] = (view[0, i] * dM[0, j] + view[1, i] * dM[1, j] + view[2, i] * dM[2, j]) * s[j]
    w, x, y, z, n = _unit_quat(quats, g)
    gw = _F2 * (-z * G[0, 1] + y * G[0, 2] + z * G[1, 0] - x * G[1, 2] - y * G[2, 0] + x * G[2, 1])
    gx = (_F2 * (y * G[0, 1] + z * G[0, 2] + y * G[1, 0] - w * G[1, 2] + z * G[2, 0] + w * G[2, 1])
          - _F4 * x * (G[1, 1] + G[2, 2]))
    gy = (_F2 * (x * G[0, 1] + w * G[0, 2] + x * G[1, 0] + z * G[1, 2] - w * G[2, 0] + z * G[2, 1])
          - _F4 * y * (G[0, 0] + G[2, 2]))
    gz = (_F2 * (-w * G[0, 1] + x * G[0, 2] + w * G[1, 0] + y * G[1, 2] + x * G[2, 0] + y * G[2, 1])
          - _F4 * z * (G[0, 0] + G[1, 1]))
    # q_hat = q / n: dq = (g - q_hat (q_hat . g)) / n while the norm is above its clamp, g / n below it
    raw_norm = math.sqrt(quats[g, 0] ** 2 + quats[g, 1] ** 2 + quats[g, 2] ** 2 + quats[g, 3] ** 2)
    proj = (w * gw + x * gx + y * gy + z * gz) if raw_norm > QUAT_EPS else _F0
    grad_quats[g, 0] = (gw - w * proj) / n
    grad_quats[g, 1] = (gx - x * proj) / n
    grad_quats[g, 2] = (gy - y * proj) / n
    grad_quats[g, 3] = (gz - z * proj) / n
