"""Rigid geometry for faces: similarity (Umeyama) fits, axis-angle ↔ matrix, weak-perspective ↔ pinhole pose."""
from __future__ import annotations

import numpy as np

INTEROCULAR_CM = 6.3  # canonical shapes are scaled so the eye centres are this far apart


def default_intrinsics(width: int, height: int) -> np.ndarray:
    """Pinhole camera for a frame of unknown lens: focal = the longer side (≈53° field of view), centred."""
    f = float(max(width, height))
    return np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1]], np.float32)


def similarity_fit(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None):
    """Least-squares s, R, t with dst ≈ s R src + t, batched: src [N,3] or [T,N,3], dst [T,N,3] (Umeyama 1991)."""
    dst = np.asarray(dst, np.float64)
    batch = dst.ndim == 3
    if not batch:
        dst = dst[None]
    src = np.broadcast_to(np.asarray(src, np.float64), dst.shape)
    w = np.ones(dst.shape[1]) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s = np.einsum("n,tnd->td", w, src)
    mu_d = np.einsum("n,tnd->td", w, dst)
    xs, xd = src - mu_s[:, None], dst - mu_d[:, None]
    cov = np.einsum("n,tni,tnj->tij", w, xd, xs)
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(sig)
    fix[:, -1] = d
    rot = u @ (fix[:, :, None] * vt)
    var_s = np.einsum("n,tnd->t", w, xs ** 2)
    scale = (sig * fix).sum(-1) / var_s
    trans = mu_d - scale[:, None] * np.einsum("tij,tj->ti", rot, mu_s)
    if not batch:
        return scale[0], rot[0], trans[0]
    return scale, rot, trans


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices [...,3,3] → axis-angle vectors [...,3] (radians)."""
    rot = np.asarray(rot, np.float64)
    cos = np.clip((np.trace(rot, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    vec = np.stack([rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0], rot[..., 1, 0] - rot[..., 0, 1]], -1)
    sin = np.sin(angle)
    small = sin < 1e-6
    factor = np.where(small, 0.5, angle / (2 * np.where(small, 1.0, sin)))
    return vec * factor[..., None]


def axis_angle_to_matrix(vec: np.ndarray) -> np.ndarray:
    """Axis-angle vectors [...,3] → rotation matrices [...,3,3] (Rodrigues)."""
    vec = np.asarray(vec, np.float64)
    angle = np.linalg.norm(vec, axis=-1, keepdims=True)
    axis = vec / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(vec.shape[:-1] + (3, 3))
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1 - c) * (k @ k)


def euler_degrees(vec: np.ndarray) -> np.ndarray:
    """Axis-angle [...,3] → (yaw, pitch, roll) in degrees, for display and controls (R = Ry(yaw) Rx(pitch) Rz(roll))."""
    r = axis_angle_to_matrix(vec)
    pitch = np.arcsin(np.clip(-r[..., 1, 2], -1, 1))
    yaw = np.arctan2(r[..., 0, 2], r[..., 2, 2])
    roll = np.arctan2(r[..., 1, 0], r[..., 1, 1])
    return np.degrees(np.stack([yaw, pitch, roll], -1))


def euler_to_axis_angle(yaw_pitch_roll_deg: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) degrees [...,3] → axis-angle [...,3]; inverse of `euler_degrees`."""
    a = np.radians(np.asarray(yaw_pitch_roll_deg, np.float64))
    yaw, pitch, roll = a[..., 0], a[..., 1], a[..., 2]
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)

    def mat(rows):
        return np.stack([np.stack(r, -1) for r in rows], -2)

    ry = mat([[np.cos(yaw), zero, np.sin(yaw)], [zero, one, zero], [-np.sin(yaw), zero, np.cos(yaw)]])
    rx = mat([[one, zero, zero], [zero, np.cos(pitch), -np.sin(pitch)], [zero, np.sin(pitch), np.cos(pitch)]])
    rz = mat([[np.cos(roll), -np.sin(roll), zero], [np.sin(roll), np.cos(roll), zero], [zero, zero, one]])
    return matrix_to_axis_angle(ry @ rx @ rz)


def weak_to_pose(scale: np.ndarray, rot: np.ndarray, trans_px: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Weak-perspective fit (s px/cm, R, t px) → 6D pose [axis-angle, camera-space translation in cm]."""
    f, cx, cy = intrinsics[0, 0], intrinsics[0, 2], intrinsics[1, 2]
    tz = f / scale
    tx = (trans_px[..., 0] - cx) / scale
    ty = (trans_px[..., 1] - cy) / scale
    return np.concatenate([matrix_to_axis_angle(rot), np.stack([tx, ty, tz], -1)], -1).astype(np.float32)


def pose_to_weak(pose: np.ndarray, intrinsics: np.ndarray):
    """Inverse of `weak_to_pose`: 6D pose → (scale px/cm, R, t px) with the image-space depth offset t_z = 0."""
    f, cx, cy = intrinsics[0, 0], intrinsics[0, 2], intrinsics[1, 2]
    pose = np.asarray(pose, np.float64)
    scale = f / pose[..., 5]
    t = np.stack([pose[..., 3] * scale + cx, pose[..., 4] * scale + cy, np.zeros_like(scale)], -1)
    return scale, axis_angle_to_matrix(pose[..., :3]), t


def project_canonical(points: np.ndarray, pose: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Canonical points [T,N,3] (cm) and poses [T,6] → image-space points [T,N,3] (px, px, px-depth), weak perspective."""
    scale, rot, t = pose_to_weak(pose, intrinsics)
    return scale[..., None, None] * np.einsum("...ij,...nj->...ni", rot, points) + t[..., None, :]


def unproject_to_canonical(image_points: np.ndarray, pose: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Inverse of `project_canonical`: image-space points [T,N,3] → canonical [T,N,3] under the given poses."""
    scale, rot, t = pose_to_weak(pose, intrinsics)
    centred = (image_points - t[..., None, :]) / scale[..., None, None]
    return np.einsum("...ji,...nj->...ni", rot, centred)
