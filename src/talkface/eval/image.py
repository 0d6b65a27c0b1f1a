"""Image fidelity against ground truth: PSNR and SSIM per frame, on the full frame and on the face box.

Both work on RGB uint8 frames of equal size. Full-frame scores are inflated when a generator pastes its face
back into the original frame (the untouched background matches exactly), so the face box is scored separately.
Each frame pair is compared once (a squared-error map and an SSIM map); the full-frame and face-box scores are
means of those maps over the two regions.
"""
from __future__ import annotations

import cv2
import numpy as np

PSNR_CAP_DB = 100.0
"""PSNR of identical images is infinite; we report this cap instead so JSON stays finite and means stay defined."""

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_BORDER = 5
"""Half the 11-tap SSIM window: pixels closer than this to the image border are not scored (as scikit-image)."""

_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)

Box = tuple[int, int, int, int]


def psnr_from_mse(mse: float, peak: float = 255.0, cap: float = PSNR_CAP_DB) -> float:
    """PSNR in dB = 10·log10(peak² / MSE), capped at `cap` (identical images: MSE 0 → `cap`)."""
    if mse <= 0.0:
        return cap
    return min(cap, 10.0 * float(np.log10(peak * peak / mse)))


def squared_error_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel squared error summed over RGB channels, float32 [H, W] (divide a mean by 3 for the MSE)."""
    diff = a.astype(np.float32) - b.astype(np.float32)
    return np.einsum("hwc,hwc->hw", diff, diff) if diff.ndim == 3 else diff * diff


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0, cap: float = PSNR_CAP_DB) -> float:
    """PSNR in dB = 10·log10(peak² / MSE), MSE over all pixels and channels; identical images give `cap`."""
    channels = a.shape[2] if a.ndim == 3 else 1
    return psnr_from_mse(float(squared_error_map(a, b).mean(dtype=np.float64)) / channels, peak, cap)


def luma(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B of an RGB image, float32 in 0..255."""
    if img.ndim == 2:
        return img.astype(np.float32)
    return img.astype(np.float32) @ _LUMA_WEIGHTS


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004) on luma with a Gaussian window σ=1.5 (11 taps), K1=0.01, K2=0.03:

    SSIM(x, y) = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), C1=(K1·L)², C2=(K2·L)².
    """
    x, y = luma(a), luma(b)
    # one blur of four channels gives μx, μy, E[x²+y²], E[xy] (σx²+σy² only ever appears summed)
    m = _gaussian_blur(np.dstack([x, y, x * x + y * y, x * y]))
    mx, my, sq, xy = m[..., 0], m[..., 1], m[..., 2], m[..., 3]
    mxy = mx * my
    mm = mx * mx + my * my
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    return ((2 * mxy + c1) * (2 * (xy - mxy) + c2)) / ((mm + c1) * (sq - mm + c2))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM over pixels at least 5 px from the border (same as scikit-image with gaussian_weights=True)."""
    s = ssim_map(a, b, data_range)
    return region_mean(s, (0, 0, s.shape[1], s.shape[0]), SSIM_BORDER)


def _gaussian_blur(img: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean with an 11-tap, σ=1.5 window (the SSIM window), per channel."""
    return cv2.GaussianBlur(img, (11, 11), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def region_mean(values: np.ndarray, box: Box, border: int = 0) -> float:
    """Mean of a per-pixel map inside `box` = (x0, y0, x1, y1), leaving out pixels within `border` of the image
    edge; NaN when nothing is left."""
    h, w = values.shape[:2]
    x0, y0, x1, y1 = max(box[0], border), max(box[1], border), min(box[2], w - border), min(box[3], h - border)
    if x1 <= x0 or y1 <= y0:
        return float("nan")
    return float(values[y0:y1, x0:x1].mean(dtype=np.float64))


def frame_scores(a: np.ndarray, b: np.ndarray, box: Box | None) -> dict[str, float]:
    """PSNR and SSIM of one frame pair on the full frame and (if `box`) on the face box, from one pair of maps.

    psnr_face = PSNR of the MSE over the box's pixels; ssim_face = mean of the full-frame SSIM map over the box
    (its windows may reach a few pixels outside the box, so the crop edge is not an artificial border).
    """
    channels = a.shape[2] if a.ndim == 3 else 1
    err, s = squared_error_map(a, b), ssim_map(a, b)
    full = (0, 0, a.shape[1], a.shape[0])
    out = {"psnr_full": psnr_from_mse(region_mean(err, full) / channels),
           "ssim_full": region_mean(s, full, SSIM_BORDER)}
    if box is not None:
        out["psnr_face"] = psnr_from_mse(region_mean(err, box) / channels)
        out["ssim_face"] = region_mean(s, box, SSIM_BORDER)
    return out


def face_box(landmarks2d: np.ndarray, width: int, height: int, margin: float = 0.1) -> Box:
    """Square box (x0, y0, x1, y1) around one frame's landmarks, grown by `margin` of its side, clipped to the image."""
    lo, hi = landmarks2d.min(axis=0), landmarks2d.max(axis=0)
    center = 0.5 * (lo + hi)
    half = 0.5 * float(max(hi - lo)) * (1.0 + 2.0 * margin)
    x0, y0 = int(np.floor(center[0] - half)), int(np.floor(center[1] - half))
    x1, y1 = int(np.ceil(center[0] + half)), int(np.ceil(center[1] + half))
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def crop(img: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of `img` inside `box` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    return img[y0:y1, x0:x1]
