"""Still images as RGB uint8: EXIF orientation applied, alpha composited, 16-bit and grayscale converted."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def read_image(path: str | Path, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Load `path` as an [H, W, 3] uint8 RGB array; transparent pixels are composited over `background`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file.")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            arr = _to_rgb_array(im, background)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(f"{path}: not an image that can be read ({exc.__class__.__name__}).") from None
    if arr.shape[0] < 16 or arr.shape[1] < 16:
        raise UserError(f"{path}: the image is too small ({arr.shape[1]}x{arr.shape[0]}).")
    return arr


def _to_rgb_array(im, background: tuple[int, int, int]) -> np.ndarray:
    """Convert any PIL mode (I;16, L, LA, P, RGBA, CMYK, ...) to RGB uint8."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        gray = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:4] / 255.0
        out = rgba[..., :3] * alpha + np.asarray(background, np.float32) * (1.0 - alpha)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if np.asarray(im).dtype == np.uint16:
        arr = np.asarray(im, dtype=np.float64) / 257.0
        return np.clip(arr + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
