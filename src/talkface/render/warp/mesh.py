"""Mesh helpers for the warp: edge adjacency, regular grids, and a triangulated surround that covers the whole
image around an inner polygon (rings around it plus image-border points), with a motion weight that is 1 on the
polygon and fades smoothly to 0 at the image border, so a warped region blends into a still frame edge.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def edge_neighbours(triangles: np.ndarray) -> np.ndarray:
    """[T, 3] index of the triangle across edge k (vertex k -> k+1) of each triangle, -1 on the mesh boundary.

    Edges shared by more than two triangles (non-manifold) count as boundary on every side.
    """
    tris = np.asarray(triangles, np.int64)
    n = tris.shape[0]
    a = tris.reshape(-1)
    b = np.roll(tris, -1, axis=1).reshape(-1)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * (int(max(tris.max(initial=0), 0)) + 1) + hi
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    out = np.full(3 * n, -1, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    counts = np.diff(np.r_[starts, sorted_key.size])
    pairs = starts[counts == 2]
    e0, e1 = order[pairs], order[pairs + 1]
    out[e0] = e1 // 3
    out[e1] = e0 // 3
    return out.reshape(n, 3).astype(np.int32)


def grid_mesh(height: int, width: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """A regular triangle grid covering [0, width-1] x [0, height-1]: (vertices [V,2], triangles [T,3])."""
    xs = np.linspace(0, width - 1, max(2, int(round((width - 1) / step)) + 1))
    ys = np.linspace(0, height - 1, max(2, int(round((height - 1) / step)) + 1))
    gx, gy = np.meshgrid(xs, ys)
    verts = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    nx = xs.size
    idx = np.arange(ys.size * nx).reshape(ys.size, nx)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    tris = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)]).astype(np.int32)
    return verts, tris


def border_points(height: int, width: int, spacing: float) -> np.ndarray:
    """Points along the image border (pixel-centre coordinates, corners included), about `spacing` apart."""
    def side(length: int) -> np.ndarray:
        return np.linspace(0, length - 1, max(2, int(np.ceil((length - 1) / spacing)) + 1))

    xs, ys = side(width), side(height)
    top = np.stack([xs, np.zeros_like(xs)], 1)
    bottom = np.stack([xs, np.full_like(xs, height - 1)], 1)
    left = np.stack([np.zeros_like(ys[1:-1]), ys[1:-1]], 1)
    right = np.stack([np.full_like(ys[1:-1], width - 1), ys[1:-1]], 1)
    return np.concatenate([top, bottom, left, right]).astype(np.float32)


def polygon_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance of each point to a closed polygon's outline, 0 inside it ([N] from [N,2] and [M,2])."""
    import cv2

    poly = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
    return np.array([max(0.0, -cv2.pointPolygonTest(poly, (float(x), float(y)), True)) for x, y in points],
                    np.float32)


def border_distance(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Distance of each point to the nearest image edge (0 on or beyond it)."""
    p = np.asarray(points, np.float32)
    d = np.minimum.reduce([p[:, 0], p[:, 1], (width - 1) - p[:, 0], (height - 1) - p[:, 1]])
    return np.maximum(d, 0.0)


def fade_weights(points: np.ndarray, polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Motion weight per point: 1 on/inside `polygon`, smoothly down to exactly 0 on the image border.

    w = smoothstep(d_border / (d_border + d_polygon)): smooth in both distances and independent of image size.
    """
    d_poly = polygon_distance(points, polygon)
    d_border = border_distance(points, height, width)
    s = d_border / np.maximum(d_border + d_poly, 1e-6)
    s = np.clip(s, 0.0, 1.0)
    return (s * s * (3.0 - 2.0 * s)).astype(np.float32)


@dataclass
class SurroundMesh:
    """Triangles covering the image outside an inner polygon; vertices = polygon, then rings, then border."""

    vertices: np.ndarray  # [V, 2] float32 pixels
    triangles: np.ndarray  # [T, 3] int32, none inside the inner polygon
    n_polygon: int  # the first n_polygon vertices are the inner polygon, in its order
    is_border: np.ndarray  # [V] bool: on the image border (never moves)
    weights: np.ndarray  # [V] float32 motion weight (1 on the polygon, 0 on the border)


def surround_mesh(polygon: np.ndarray, height: int, width: int, ring_scales: tuple[float, ...] = (1.25, 1.6, 2.1, 2.8),
                  ring_points: int = 24, border_spacing: float | None = None) -> SurroundMesh:
    """Delaunay-triangulate the image outside `polygon` [N,2] (a closed outline, e.g. a face oval).

    Rings are the polygon scaled about its centroid (points outside the image or too close to the border or
    to each other are dropped); the border gets points every `border_spacing` pixels (default: image size / 8).
    Border points that the polygon covers (a face cut by the image edge) are left out: the polygon's own mesh
    covers that part of the border. Raises ValueError if an edge of the polygon did not survive as a mesh edge
    (then the surround and the inner mesh would not join without cracks).
    """
    from scipy.spatial import Delaunay
    import cv2

    poly = np.asarray(polygon, np.float32)
    n = poly.shape[0]
    centre = poly.mean(axis=0)
    spacing = border_spacing or max(height, width) / 8.0
    min_gap = 0.35 * np.median(np.linalg.norm(np.diff(np.r_[poly, poly[:1]], axis=0), axis=1))
    border = border_points(height, width, spacing)
    margin = 0.25 * spacing
    rings = []
    for s in ring_scales:
        idx = np.linspace(0, n, ring_points, endpoint=False).astype(int)
        pts = centre + (poly[idx] - centre) * s
        inside = border_distance(pts, height, width) > margin
        inside &= (pts[:, 0] > 0) & (pts[:, 1] > 0) & (pts[:, 0] < width - 1) & (pts[:, 1] < height - 1)
        rings.append(pts[inside])
    extra = np.concatenate(rings + [border]) if rings else border
    # a polygon reaching past the image edge (a face cut by the frame) covers some border points: drop them,
    # and any point hugging the outline, or the triangulation could not keep the outline's edges
    outline = poly.reshape(-1, 1, 2)
    clear = np.array([cv2.pointPolygonTest(outline, (float(x), float(y)), True) < -max(min_gap, 1.0) for x, y in extra])
    extra = extra[clear]
    keep = []
    placed = list(poly)
    for p in extra:
        if np.min(np.linalg.norm(np.asarray(placed) - p, axis=1)) > max(min_gap, 1.0):
            keep.append(p)
            placed.append(p)
    verts = np.concatenate([poly, np.asarray(keep, np.float32).reshape(-1, 2)]).astype(np.float32)
    tri = Delaunay(verts.astype(np.float64)).simplices.astype(np.int32)
    _check_polygon_edges(tri, n)  # before removing the inside: outline edges on the hull have no outer triangle
    cen = verts[tri].mean(axis=1)
    inside = np.array([cv2.pointPolygonTest(outline, (float(x), float(y)), False) > 0 for x, y in cen])
    tri = tri[~inside]
    is_border = np.zeros(len(verts), bool)
    is_border[n:] = border_distance(verts[n:], height, width) <= 1e-3
    weights = fade_weights(verts, poly, height, width)
    weights[is_border] = 0.0
    return SurroundMesh(vertices=verts, triangles=_orient(tri, verts), n_polygon=n, is_border=is_border,
                        weights=weights)


def _check_polygon_edges(tri: np.ndarray, n: int) -> None:
    """Raise ValueError unless every polygon edge (i, i+1) is an edge of some triangle."""
    edges = set()
    for a, b, c in tri:
        for u, v in ((a, b), (b, c), (c, a)):
            edges.add((min(u, v), max(u, v)))
    missing = [(i, (i + 1) % n) for i in range(n) if (min(i, (i + 1) % n), max(i, (i + 1) % n)) not in edges]
    if missing:
        raise ValueError(f"surround triangulation lost {len(missing)} polygon edge(s), e.g. {missing[0]}")


def _orient(tri: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Reorder triangles so all have positive signed area (x right, y down)."""
    a, b, c = verts[tri[:, 0]], verts[tri[:, 1]], verts[tri[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    out = tri.copy()
    flip = area < 0
    out[flip, 1], out[flip, 2] = tri[flip, 2], tri[flip, 1]
    return out
