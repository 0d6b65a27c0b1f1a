"""Image fidelity against ground truth: PSNR and SSIM per frame, on the full frame or on a face crop.

Both work on RGB uint8 frames of equal size. Full-frame scores are inflated when a generator pastes its face
back into the original frame (the untouched background matches exactly), so the face crop is scored separately.
"""
from __future__ import annotations

import cv2
import numpy as np

PSNR_CAP_DB = 100.0
"""PSNR of identical images is infinite; we report this cap instead so JSON stays finite and means stay defined."""

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0, cap: float = PSNR_CAP_DB) -> float:
    """PSNR in dB = 10·log10(peak² / MSE), MSE over all pixels and channels; identical images give `cap`."""
    diff = a.astype(np.float32) - b.astype(np.float32)
    mse = float(np.mean(diff * diff))
    if mse <= 0.0:
        return cap
    return min(cap, 10.0 * np.log10(peak * peak / mse))


_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def luma(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B of an RGB image, float32 in 0..255."""
    if img.ndim == 2:
        return img.astype(np.float32)
    return img.astype(np.float32) @ _LUMA_WEIGHTS


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004) on luma: Gaussian window σ=1.5 (11 taps), K1=0.01, K2=0.03, borders excluded.

    SSIM(x, y) = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), C1=(K1·L)², C2=(K2·L)²,
    averaged over pixels at least 5 px from the border (same as scikit-image with gaussian_weights=True).
    """
    x, y = luma(a), luma(b)
    # one blur of four channels gives μx, μy, E[x²+y²], E[xy] (σx²+σy² only ever appears summed)
    m = _gaussian_blur(np.dstack([x, y, x * x + y * y, x * y]))
    mx, my, sq, xy = m[..., 0], m[..., 1], m[..., 2], m[..., 3]
    mxy = mx * my
    mm = mx * mx + my * my
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * mxy + c1) * (2 * (xy - mxy) + c2)) / ((mm + c1) * (sq - mm + c2))
    pad = 5  # half the 11-tap window: pixels whose window leaves the image are not scored
    inner = s[pad:-pad, pad:-pad] if min(s.shape) > 2 * pad else s
    return float(inner.mean(dtype=np.float64))


def _gaussian_blur(img: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean with an 11-tap, σ=1.5 window (the SSIM window), per channel."""
    return cv2.GaussianBlur(img, (11, 11), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def face_box(landmarks2d: np.ndarray, width: int, height: int, margin: float = 0.1) -> tuple[int, int, int, int]:
    """Square box (x0, y0, x1, y1) around one frame's landmarks, grown by `margin` of its side, clipped to the image."""
    lo, hi = landmarks2d.min(axis=0), landmarks2d.max(axis=0)
    center = 0.5 * (lo + hi)
    half = 0.5 * float(max(hi - lo)) * (1.0 + 2.0 * margin)
    x0, y0 = int(np.floor(center[0] - half)), int(np.floor(center[1] - half))
    x1, y1 = int(np.ceil(center[0] + half)), int(np.ceil(center[1] + half))
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels of `img` inside `box` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    return img[y0:y1, x0:x1]
