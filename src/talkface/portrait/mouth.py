"""Inner-mouth appearance prior: teeth, tongue and dark cavity synthesised for a mouth opened wider than the photo's.

The prior lives in a normalised, mouth-aligned patch (`PATCH_W` x `PATCH_H`): the 20 inner-lip landmarks are
pinned to an ellipse around the patch centre (corners left/right, lip midpoints top/bottom), so any mouth shape
maps onto it by a fan of triangles. It is a table of textures against mouth opening (gap / width): the mean
inner mouth of real talking clips plus one speaker's fine detail, built from their inner-mouth regions by
`python -m talkface.portrait.train_mouth_prior` and shipped as `portrait/data/mouth_prior.npz` (see the model
card `portrait/data/MOUTH_PRIOR.md`). Patches are stored exposure-normalised (divided by the skin luminance
of their clip) and recoloured for each person from that person's skin.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store import load_npz, save_npz

PATCH_W, PATCH_H = 80, 40
N_INNER = 20  # talkface.face.landmarks.LIPS_INNER: 13 (upper mid), ..., 78 (corner), ..., 14, ..., 308, ...
PRIOR_VERSION = 2
PRIOR_PATH = Path(__file__).with_name("data") / "mouth_prior.npz"
# Cavity shade: a barely parted mouth lets almost no light in, so its gap is dark; the prior's small-opening bins
# (cut inside mediapipe's inner contour, which then lies on lip tissue) are lip-toned. The prior is darkened by up to
# CAVITY_SHADE at openings <= CAVITY_DARK_BELOW, fading to none at CAVITY_LIT_ABOVE (teeth and tongue catch light).
CAVITY_SHADE, CAVITY_DARK_BELOW, CAVITY_LIT_ABOVE = 0.85, 0.08, 0.25
CHEEK_0 = (116, 117, 118, 101, 36, 205, 187, 123)  # skin samples on the image-left cheek
CHEEK_1 = (345, 346, 347, 330, 266, 425, 411, 352)


def patch_layout() -> np.ndarray:
    """[21, 2] patch coordinates of the inner-lip contour (LIPS_INNER order) and, last, the mouth centre."""
    k = np.arange(N_INNER)
    theta = -np.pi / 2 - 2 * np.pi * k / N_INNER  # k=0 top, 5 left corner, 10 bottom, 15 right corner
    cx, cy = (PATCH_W - 1) / 2, (PATCH_H - 1) / 2
    ring = np.stack([cx + cx * 0.97 * np.cos(theta), cy + cy * 0.95 * np.sin(theta)], 1)
    return np.concatenate([ring, [[cx, cy]]]).astype(np.float32)


def scaled_layout(scale: int) -> np.ndarray:
    """`patch_layout` for a patch enlarged `scale` times (pixel centres kept consistent with cv2.resize)."""
    return ((patch_layout() + 0.5) * scale - 0.5).astype(np.float32)


def fan_triangles() -> np.ndarray:
    """[20, 3] triangles joining consecutive inner-lip points to the centre vertex (index 20)."""
    k = np.arange(N_INNER)
    return np.stack([k, (k + 1) % N_INNER, np.full(N_INNER, N_INNER)], 1).astype(np.int32)


def patch_mask() -> np.ndarray:
    """[PATCH_H, PATCH_W] float32, 1 inside the contour ellipse of `patch_layout`, 0 outside."""
    lay = patch_layout()
    cx, cy = lay[-1]
    rx, ry = cx * 0.97, cy * 0.95
    yy, xx = np.mgrid[0:PATCH_H, 0:PATCH_W]
    return (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0).astype(np.float32)


def mouth_opening(inner_xy: np.ndarray) -> np.ndarray:
    """Opening (gap between inner-lip midpoints / distance between inner corners) of points [..., 20, 2]."""
    gap = np.linalg.norm(inner_xy[..., 0, :] - inner_xy[..., 10, :], axis=-1)
    width = np.linalg.norm(inner_xy[..., 5, :] - inner_xy[..., 15, :], axis=-1)
    return gap / np.maximum(width, 1e-6)


def inner_vertices(inner_xy: np.ndarray) -> np.ndarray:
    """[21, 2]: the 20 inner-lip points and their mean (the fan centre)."""
    return np.concatenate([inner_xy, inner_xy.mean(0, keepdims=True)]).astype(np.float32)


@dataclass
class MouthPrior:
    """Inner-mouth textures tabulated against mouth opening (exposure-normalised), one per opening bin: the mean
    patch of every training speaker plus the fine detail of one of them (`train_mouth_prior.fit_prior`).

    The mean alone (version 1, PCA of the same patches) was the least-error texture but a uniform blur; the one
    speaker's detail restores tooth edges and rim shading, and never jumps between people from bin to bin.
    """

    openings: np.ndarray  # [B] bin centres of mouth opening (increasing)
    exemplars: np.ndarray  # [B, H*W*3] float32, exposure-normalised RGB patch per bin
    skin_tint: np.ndarray  # [3] median skin RGB / luminance of the training clips
    meta: dict

    def texture(self, opening: float) -> np.ndarray:
        """Normalised patch [PATCH_H, PATCH_W, 3] for this opening (linear between the two nearest bins)."""
        o = self.openings
        k = int(np.clip(np.searchsorted(o, opening) - 1, 0, len(o) - 2)) if len(o) > 1 else 0
        if len(o) == 1:
            flat = self.exemplars[0]
        else:
            t = float(np.clip((opening - o[k]) / max(float(o[k + 1] - o[k]), 1e-6), 0.0, 1.0))
            flat = (1 - t) * self.exemplars[k] + t * self.exemplars[k + 1]
        return flat.reshape(PATCH_H, PATCH_W, 3)

    def save(self, path: str | Path) -> None:
        """Write as a versioned npz (patches stored as float16: the texture needs no more)."""
        arrays = {"openings": self.openings, "exemplars": self.exemplars.astype(np.float16),
                  "skin_tint": self.skin_tint}
        save_npz(path, "MouthPrior", PRIOR_VERSION, arrays, {"patch": [PATCH_H, PATCH_W], **self.meta})

    @classmethod
    def load(cls, path: str | Path) -> "MouthPrior":
        """Read a prior written by `save`."""
        arrays, meta = load_npz(path, "MouthPrior", PRIOR_VERSION)
        return cls(openings=arrays["openings"].astype(np.float32), exemplars=arrays["exemplars"].astype(np.float32),
                   skin_tint=arrays["skin_tint"].astype(np.float32), meta=meta)


@functools.lru_cache(maxsize=1)
def shipped_mouth_prior() -> MouthPrior:
    """The inner-mouth prior shipped with talkface (loaded once)."""
    return MouthPrior.load(PRIOR_PATH)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of RGB values [..., 3]."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


@dataclass(frozen=True)
class ColourStats:
    """What recolours the prior for one person: skin luminance (exposure) and skin tint (light colour)."""

    lip_luma: float
    skin_tint: np.ndarray  # [3]
    skin_luma: float


def colour_stats(image: np.ndarray, outer_lips: np.ndarray, inner_lips: np.ndarray,
                 cheeks: list[np.ndarray]) -> ColourStats:
    """Median lip luminance (between the outer and inner lip contours) and skin tint from the cheek polygons."""
    import cv2

    h, w = image.shape[:2]
    lips = np.zeros((h, w), np.uint8)
    cv2.fillPoly(lips, [np.round(outer_lips).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(inner_lips).astype(np.int32)], 0)
    skin = np.zeros((h, w), np.uint8)
    cv2.fillPoly(skin, [np.round(c).astype(np.int32) for c in cheeks], 1)
    img = image.astype(np.float32)
    lip_px = img[lips > 0] if lips.any() else img.reshape(-1, 3)
    skin_px = img[skin > 0] if skin.any() else img.reshape(-1, 3)
    lip_luma = float(np.median(luminance(lip_px)))
    skin_rgb = np.median(skin_px, axis=0)
    tint = skin_rgb / max(float(luminance(skin_rgb)), 1.0)
    return ColourStats(lip_luma=max(lip_luma, 8.0), skin_tint=tint.astype(np.float32),
                       skin_luma=max(float(luminance(skin_rgb)), 8.0))


def cavity_shade(opening: float) -> float:
    """Brightness factor of the inner mouth at `opening`: 1 - CAVITY_SHADE when barely open, 1 when wide open.

    Without it a slightly open mouth showed a pale lip-toned lens that read as closed lips: on the closed-mouth
    training photos obama_clip1 / kristinoem, `animate` mouth corr vs the real video 0.857 / 0.856 → 0.904 / 0.841
    (shade chosen there; held-out numbers in docs/BENCHMARKS.md)."""
    ramp = (CAVITY_LIT_ABOVE - opening) / (CAVITY_LIT_ABOVE - CAVITY_DARK_BELOW)
    return 1.0 - CAVITY_SHADE * float(np.clip(ramp, 0.0, 1.0))


def person_texture(prior: MouthPrior, opening: float, stats: ColourStats) -> np.ndarray:
    """The prior's patch for `opening`, recoloured to the person and shaded for how far the mouth is open
    (`cavity_shade`): float32 RGB [PATCH_H, PATCH_W, 3] (0..255)."""
    tex = prior.texture(opening) * (stats.skin_luma * cavity_shade(opening))
    # a quarter of the light colour only: skin tint mixes light with skin tone, and a mouth's inside is not skin
    tint = np.clip(stats.skin_tint / np.maximum(prior.skin_tint, 1e-3), 0.8, 1.25)
    tex = tex * (0.75 + 0.25 * tint)
    return np.clip(tex, 0, 255).astype(np.float32)


def compose_open_mouth(prior_tex: np.ndarray, source_patch: np.ndarray | None, source_opening: float,
                       opening: float) -> np.ndarray:
    """Inner-mouth texture for a target opening: the prior, with the photo's own open mouth kept unstretched.

    The photo's inner mouth covers `source_opening / opening` of the patch height: its upper half stays under
    the upper lip and its lower half above the lower lip (teeth ride with their lips); the prior fills the
    newly opened middle, blended over a few rows.
    """
    if source_patch is None or source_opening <= 0:
        return prior_tex
    import cv2

    h, w = source_patch.shape[:2]
    if prior_tex.shape[:2] != (h, w):
        prior_tex = cv2.resize(prior_tex, (w, h), interpolation=cv2.INTER_CUBIC)
    a = float(np.clip(source_opening / max(opening, 1e-6), 0.0, 1.0))
    hs = int(np.clip(round(a * h), 2, h))
    src = cv2.resize(source_patch.astype(np.float32), (w, hs), interpolation=cv2.INTER_AREA)
    top, bottom = hs // 2, hs - hs // 2
    layer = prior_tex.copy()
    layer[:top], layer[h - bottom:] = src[:top], src[top:]
    ramp = max(2, h // 12)
    rows = np.arange(h, dtype=np.float32)
    weight = np.clip(np.maximum((top - rows) / ramp, (rows - (h - bottom - 1)) / ramp), 0.0, 1.0)
    if hs >= h:
        weight[:] = 1.0
    return weight[:, None, None] * layer + (1 - weight[:, None, None]) * prior_tex
