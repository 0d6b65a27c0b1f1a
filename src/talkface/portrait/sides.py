"""Side completion: texture for the parts of the face the photo sees almost edge-on, taken from the other side.

When the head turns, the cheek that faced away from the camera in the photo comes into view. Its texture in the
photo is a thin strip (a few pixels of skin mixed with the face's rim, hair or background), and the mesh warp
stretches that strip into a wide band of streaks. A face is close to left/right symmetric and mediapipe's mesh is
symmetric too, so every landmark has a mirror partner: where a triangle was seen much more obliquely than its
mirror partner, the mirror partner's texture (flipped, and re-lit by a smooth gain that matches the shading of the
well-seen skin around it) is the better estimate of what that skin looks like.

The same symmetry fixes the shape: the depth of an obliquely seen point is what the photo tells least about (its
image position is exact, where along the viewing ray it lies is a guess), so it is moved along that ray towards its
mirrored partner's position. The photo's projection is unchanged; turned views get a rounder, symmetric cheek
instead of one that swings out too far.

The completion is not baked into the photo: at the photo's own pose the renderer shows the photo unchanged. Per
frame, each side's completed texture is blended into the atlas in proportion to how much more that side faces the
camera than it did in the photo (0 at the photo's pose, 1 once the side is turned well into view), so frames stay
continuous and identical to the photo when nothing turns.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# photo visibility (cos to the camera) at or below which a vertex fully needs help / above which it never does
NEED_FULL, NEED_ZERO = 0.25, 0.6
BETTER_MIN, BETTER_RANGE = 0.05, 0.2  # how much better its mirror partner must be seen to take over
TURN_START, TURN_RANGE = 0.03, 0.2  # mean visibility gain of a side over which its completion fades in
GOOD_VIS = 0.6  # pixels seen at least this frontally are trusted for the shading gain


def mirror_index(mean: np.ndarray) -> np.ndarray:
    """[N] index of each vertex's left/right mirror partner on a symmetric canonical shape [N,3] (x = 0 plane)."""
    pts = np.asarray(mean, np.float64)
    flipped = pts * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(pts[None, :, :] - flipped[:, None, :], axis=-1)
    return np.argmin(d, axis=1).astype(np.int64)


def vertex_normals(shape: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """[N,3] unit vertex normals of a mesh whose triangles have positive area in the frontal (x right, y down)
    view; the normals then point away from the camera (+z), so `visibility` can read them directly."""
    p = np.asarray(shape, np.float64)
    t = np.asarray(triangles, np.int64)
    face_n = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
    n = np.zeros_like(p)
    for k in range(3):
        np.add.at(n, t[:, k], face_n)
    return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def visibility(normals: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Cosine between each rotated normal and the viewing direction (1 = facing the camera, <= 0 = edge-on/away)."""
    return (np.asarray(normals, np.float64) @ np.asarray(rotation, np.float64).T)[:, 2].astype(np.float32)


def _smooth01(x: np.ndarray) -> np.ndarray:
    """Smoothstep of x clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _raster_per_triangle(values: np.ndarray, xy: np.ndarray, triangles: np.ndarray, size: int) -> np.ndarray:
    """[size, size] float32 image of per-vertex `values` (triangle means), drawn at pixel positions `xy`."""
    img = np.zeros((size, size), np.float32)
    means = np.asarray(values, np.float64)[triangles].mean(1)
    corners = np.round(np.asarray(xy)[triangles] * 4).astype(np.int32)
    for tri, v in zip(corners, means):
        cv2.fillConvexPoly(img, tri, float(v), lineType=cv2.LINE_8, shift=2)
    return img


def blur_large(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a large `sigma`, computed at a reduced size (the result is smooth anyway) and resized
    back: a full-size blur of sigma ~20 px costs ~0.5 s per 512² image."""
    k = max(1, int(sigma // 4))
    if k == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(w // k, 1), max(h // k, 1)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _normalised_blur(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Weighted Gaussian average of `image` [H,W,C] with per-pixel `weight` [H,W] (normalised convolution)."""
    wb = blur_large(weight, sigma)
    ib = blur_large(image * weight[..., None], sigma)
    return ib / np.maximum(wb, 1e-4)[..., None]


@dataclass
class SideCompletion:
    """Per side (0: canonical x < 0, 1: x > 0) a soft pixel mask of where the photo's texture is replaced, the
    replacement texture, and the vertices whose visibility gain decides the per-frame blend weight."""

    box: tuple[int, int, int, int]  # (x0, x1, y0, y1) crop pixels where any alpha is non-zero (x1, y1 exclusive)
    texture: np.ndarray  # [h, w, 3] uint8 inside `box`: the mirror-completed, re-lit face texture
    alpha: np.ndarray  # [2, h, w] float32 inside `box`: replacement weight per side at full turn
    normals: np.ndarray  # [478, 3] canonical vertex normals of the photo's shape
    src_visibility: np.ndarray  # [478] visibility in the photo
    side_weights: np.ndarray  # [2, 478] how much each vertex counts for its side's turn measure (sums to 1)
    shape_offset: np.ndarray  # [478, 3] canonical cm added to every rendered shape (depth along the photo's rays)

    def weights(self, rotation: np.ndarray) -> np.ndarray:
        """[2] blend weight of each side's completion for a head rotation matrix [3,3] (0 at the photo's pose)."""
        gain = self.side_weights @ (visibility(self.normals, rotation) - self.src_visibility)
        return _smooth01((gain - TURN_START) / TURN_RANGE).astype(np.float32)


def build_side_completion(crop: np.ndarray, src_face: np.ndarray, shape: np.ndarray, rotation: np.ndarray,
                          triangles: np.ndarray, face_size: float) -> SideCompletion | None:
    """The side completion of one photo (see module doc), or None when no part of the face needs it.

    `src_face` [478,2] are the landmarks in crop pixels, `shape` [478,3] the photo's canonical landmarks,
    `rotation` [3,3] the photo's head rotation, `triangles` the face triangles oriented like the canonical face.
    """
    from ..face import canonical_face
    from ..render.warp import MeshWarper

    size = crop.shape[0]
    mirror = mirror_index(canonical_face().mean)
    normals = vertex_normals(shape, triangles)
    vis = visibility(normals, rotation)
    need = _smooth01((NEED_ZERO - vis) / (NEED_ZERO - NEED_FULL))
    better = _smooth01((vis[mirror] - vis - BETTER_MIN) / BETTER_RANGE)
    amount = (need * better).astype(np.float32)
    if amount.max() < 1e-3:
        return None
    # the mirror image: every face triangle filled from its mirror partner in the horizontally flipped crop
    flipped = np.ascontiguousarray(crop[:, ::-1])
    src = np.stack([size - 1 - src_face[mirror, 0], src_face[mirror, 1]], 1).astype(np.float32)
    mirrored = MeshWarper(triangles, (size, size)).warp(flipped.astype(np.float32), src, src_face[:478])
    # re-light: match the mirror's smooth shading to the photo's, both estimated from well-seen skin only
    face_mask = _raster_per_triangle(np.ones(len(src_face)), src_face, triangles, size)
    good = face_mask * (_raster_per_triangle(vis, src_face, triangles, size) >= GOOD_VIS)
    good_mirror = face_mask * (_raster_per_triangle(vis[mirror], src_face, triangles, size) >= GOOD_VIS)
    sigma = max(0.08 * face_size, 2.0)
    img = crop.astype(np.float32)
    # (continuing the well-seen skin smoothly outwards where the mirror is no better, i.e. a frontal photo's
    # outer cheek strips, was tried: 11.7 -> 12.7 face MAE on liveportrait_d3's turned frames, so it is not done)
    gain = (_normalised_blur(img, good, sigma) + 1.0) / (_normalised_blur(mirrored, good_mirror, sigma) + 1.0)
    texture = np.clip(mirrored * np.clip(gain, 0.6, 1.6) + 0.5, 0, 255).astype(np.uint8)
    # only skin is worth copying: mirror pixels far from the photo's well-seen skin colour (hair over one side of
    # the forehead, an earring) keep the photo's own texture
    skin = np.median(img[good > 0], axis=0) if (good > 0).any() else np.median(img.reshape(-1, 3), axis=0)
    spread = max(float(np.median(np.abs(img[good > 0] - skin))) if (good > 0).any() else 20.0, 8.0)
    skin_like = np.exp(-0.5 * (np.linalg.norm(texture - skin, axis=-1) / (4.0 * spread)) ** 2).astype(np.float32)
    del mirrored, gain, img
    canon_x = canonical_face().mean[:, 0]
    alpha = np.zeros((2, size, size), np.float32)
    side_weights = np.zeros((2, len(vis)), np.float32)
    feather = max(0.01 * face_size, 1.0)
    for s, on_side in enumerate((canon_x < 0, canon_x > 0)):
        a = np.where(on_side, amount, 0.0)
        raster = _raster_per_triangle(a, src_face, triangles, size)
        alpha[s] = np.clip(cv2.GaussianBlur(raster * skin_like, (0, 0), feather), 0, 1)
        side_weights[s] = a / max(float(a.sum()), 1e-6)
    ys, xs = np.nonzero(alpha.max(0) > 1e-3)
    if not len(xs):
        return None
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    return SideCompletion(box=(x0, x1, y0, y1), texture=np.ascontiguousarray(texture[y0:y1, x0:x1]),
                          alpha=np.ascontiguousarray(alpha[:, y0:y1, x0:x1]), normals=normals, src_visibility=vis,
                          side_weights=side_weights,
                          shape_offset=symmetric_depth_offset(shape, rotation, amount, mirror))


def symmetric_depth_offset(shape: np.ndarray, rotation: np.ndarray, amount: np.ndarray,
                           mirror: np.ndarray) -> np.ndarray:
    """[N,3] offsets moving each point along the photo's viewing ray (canonical direction R^T z) by `amount` of
    the way to its mirrored partner's position along that ray; the photo's projection of the shape is unchanged."""
    p = np.asarray(shape, np.float64)
    ray = np.asarray(rotation, np.float64).T @ np.array([0.0, 0.0, 1.0])
    target = p[mirror] * np.array([-1.0, 1.0, 1.0])
    along = (target - p) @ ray
    return (np.asarray(amount, np.float64)[:, None] * along[:, None] * ray[None]).astype(np.float32)
