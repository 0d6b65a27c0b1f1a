"""Piecewise-affine mesh warp of an image: target triangles are filled by backward-mapping into the source.

`MeshWarper` owns the per-pixel work buffers for one output size, so rendering a stream of frames allocates
nothing per frame; `warp_mesh` is the one-call form.
"""
from __future__ import annotations

import numpy as np

from . import kernel
from .mesh import edge_neighbours


class MeshWarper:
    """Warp images through a fixed triangle topology into `out_size` = (height, width) frames."""

    def __init__(self, triangles: np.ndarray, out_size: tuple[int, int], band_height: int = 8):
        self.triangles = np.ascontiguousarray(triangles, dtype=np.int32)
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            raise ValueError(f"triangles must be [T, 3], got {self.triangles.shape}")
        self.neighbours = edge_neighbours(self.triangles)
        self.out_size = (int(out_size[0]), int(out_size[1]))
        self.band_height = int(band_height)
        h, w = self.out_size
        f32 = np.float32
        self._zbuf, self._u, self._v = np.empty((h, w), f32), np.empty((h, w), f32), np.empty((h, w), f32)
        self._aa_alpha, self._aa_dir = np.empty((h, w), f32), np.empty((h, w), np.int8)
        self._ov_alpha, self._ov_u = np.empty((h, w), f32), np.empty((h, w), f32)
        self._ov_v, self._ov_z = np.empty((h, w), f32), np.empty((h, w), f32)

    def warp(self, image: np.ndarray, src_xy: np.ndarray, dst_xy: np.ndarray, depth: np.ndarray | None = None,
             fill: float | tuple = 0, out: np.ndarray | None = None) -> np.ndarray:
        """Render `image` moved from vertex positions `src_xy` [V,2] to `dst_xy` [V,2] (pixels, x right, y down).

        `depth` [V] (smaller = nearer) decides which surface shows where the target mesh overlaps itself;
        triangles whose winding flips between source and target are folded over (back-facing) and lose to
        the others whatever their depth. Pixels no triangle covers get `fill`.
        uint8 images give uint8 output (rounded); float images give float32.
        """
        image = _as_hwc(image)
        src_xy = np.ascontiguousarray(src_xy, dtype=np.float32)
        dst_xy = np.ascontiguousarray(dst_xy, dtype=np.float32)
        if src_xy.shape != dst_xy.shape or src_xy.ndim != 2 or src_xy.shape[1] != 2:
            raise ValueError(f"src_xy and dst_xy must both be [V, 2], got {src_xy.shape} and {dst_xy.shape}")
        n_vertices = src_xy.shape[0]
        if self.triangles.size and int(self.triangles.max()) >= n_vertices:
            raise ValueError("a triangle references a vertex beyond the vertex arrays")
        depth = np.zeros(n_vertices, np.float32) if depth is None else np.ascontiguousarray(depth, np.float32)
        h, w = self.out_size
        nc = image.shape[2]
        round_output = image.dtype == np.uint8
        if out is None:
            out = np.empty((h, w, nc), np.uint8 if round_output else np.float32)
        fill_arr = np.broadcast_to(np.asarray(fill, np.float32), (nc,)).copy()
        coef, bbox, flags = kernel.triangle_setup(dst_xy, src_xy, depth, self.triangles, self.neighbours)
        kernel.rasterize(coef, bbox, flags, self._zbuf, self._u, self._v, self._aa_alpha,
                         self._aa_dir, self._ov_alpha, self._ov_u, self._ov_v, self._ov_z, self.band_height)
        kernel.resolve(image, self._zbuf, self._u, self._v, self._aa_alpha, self._aa_dir, self._ov_alpha,
                       self._ov_u, self._ov_v, self._ov_z, fill_arr, out, round_output)
        return out

    def source_coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, v, covered) of the last warp: where each output pixel was sampled from (front surface only)."""
        covered = self._zbuf < kernel.FAR
        return self._u.copy(), self._v.copy(), covered


def warp_mesh(image: np.ndarray, src_xy: np.ndarray, dst_xy: np.ndarray, triangles: np.ndarray,
              depth: np.ndarray | None = None, out_size: tuple[int, int] | None = None,
              fill: float | tuple = 0) -> np.ndarray:
    """One-call mesh warp (see `MeshWarper.warp`); output size defaults to the image's."""
    image = _as_hwc(image)
    size = out_size or image.shape[:2]
    out = MeshWarper(triangles, size).warp(image, src_xy, dst_xy, depth=depth, fill=fill)
    return out


def _as_hwc(image: np.ndarray) -> np.ndarray:
    """A C-contiguous [H, W, C] view of a uint8 or float image (float64 becomes float32)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W] or [H, W, C], got {image.shape}")
    if image.dtype != np.uint8 and image.dtype != np.float32:
        image = image.astype(np.float32)
    return np.ascontiguousarray(image)
