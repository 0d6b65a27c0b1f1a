"""Portrait images: load any still (via `talkface.media.read_image`), a bounded-size copy for face tracking, and the
square face crop the renderer works in (kept inside the image, so no padding ever shows)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..media import read_image

TRACK_MAX_SIDE = 1280  # face tracking runs on a copy no larger than this (huge photos stay cheap)


def load_portrait_image(path: str | Path, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """RGB uint8 [H, W, 3] of an image file: EXIF orientation applied, alpha composited over `background`,
    16-bit and grayscale converted (see `talkface.media.read_image`)."""
    return read_image(path, background=background)


def tracking_copy(image: np.ndarray, max_side: int = TRACK_MAX_SIDE) -> tuple[np.ndarray, float]:
    """A copy no larger than `max_side` for the face tracker, and the factor mapping its pixels back (>= 1)."""
    h, w = image.shape[:2]
    factor = max(h, w) / max_side
    if factor <= 1.0:
        return image, 1.0
    small = cv2.resize(image, (int(round(w / factor)), int(round(h / factor))), interpolation=cv2.INTER_AREA)
    return small, max(h, w) / max(small.shape[:2])


@dataclass(frozen=True)
class CropBox:
    """A square region of the original image (x0, y0, side in original pixels)."""

    x0: float
    y0: float
    side: float

    def pixel_aligned(self) -> "CropBox":
        """The same box with integer corner and side (crop pixels then coincide with photo pixels)."""
        side = int(np.floor(self.side))
        return CropBox(float(int(round(self.x0))), float(int(round(self.y0))), float(side))

    @property
    def is_pixel_aligned(self) -> bool:
        """True when corner and side are whole pixels."""
        return all(float(v).is_integer() for v in (self.x0, self.y0, self.side))

    def to_crop(self, points: np.ndarray, size: int) -> np.ndarray:
        """Original-image pixel coordinates → coordinates in the crop resampled to `size`²."""
        k = size / self.side
        return (np.asarray(points, np.float32) - np.array([self.x0, self.y0], np.float32)) * k

    def extract(self, image: np.ndarray, size: int) -> np.ndarray:
        """The crop resampled to `size`² (area filter when shrinking, cubic when enlarging)."""
        k = size / self.side
        if k == 1 and self.is_pixel_aligned:
            x0, y0 = int(self.x0), int(self.y0)
            return np.ascontiguousarray(image[y0:y0 + size, x0:x0 + size])
        if k >= 1:
            m = np.array([[k, 0, -self.x0 * k], [0, k, -self.y0 * k]], np.float32)
            return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        # shrink: area-resize the integer region around the box, then place it with a sub-pixel affine
        h, w = image.shape[:2]
        x0, y0 = max(int(np.floor(self.x0)), 0), max(int(np.floor(self.y0)), 0)
        x1 = min(int(np.ceil(self.x0 + self.side)) + 1, w)
        y1 = min(int(np.ceil(self.y0 + self.side)) + 1, h)
        region = image[y0:y1, x0:x1]
        rw, rh = max(1, int(round(region.shape[1] * k))), max(1, int(round(region.shape[0] * k)))
        small = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
        kx, ky = rw / region.shape[1], rh / region.shape[0]
        m = np.array([[k / kx, 0, k * (0.5 / kx - 0.5 + x0 - self.x0)],
                      [0, k / ky, k * (0.5 / ky - 0.5 + y0 - self.y0)]], np.float32)
        return cv2.warpAffine(small, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_crop_box(points: np.ndarray, width: int, height: int, margin: float = 2.0) -> CropBox:
    """A square around the face points [N,2] (original pixels): side = `margin` x face size, shifted (and if
    needed shrunk) to lie inside the image."""
    pts = np.asarray(points, np.float32)
    lo, hi = pts.min(0), pts.max(0)
    size = float(max(hi - lo))
    if size < 8:
        raise UserError("the face is too small to animate (under 8 pixels).")
    cx, cy = (lo + hi) / 2.0
    cy -= 0.05 * size  # a little more hair than neck, like the usual talking-head crops
    side = min(margin * size, float(width), float(height))
    x0 = float(np.clip(cx - side / 2, 0, width - side))
    y0 = float(np.clip(cy - side / 2, 0, height - side))
    return CropBox(x0, y0, side)
