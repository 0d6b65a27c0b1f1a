"""Mesh warp: exactness, agreement with OpenCV's affine warp, coverage, z-order, anti-aliasing, surround meshes."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from talkface.render.warp import MeshWarper, edge_neighbours, fade_weights, grid_mesh, surround_mesh, warp_mesh

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real 256² RGB photo (or a textured synthetic one when the shared data is absent)."""
    path = DATA / "portraits" / "obama.jpg"
    if path.is_file():
        img = cv2.imread(str(path))[..., ::-1]
        return np.ascontiguousarray(cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA))
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), (5, 5), 1.5)


def test_identity_warp_is_exact(photo):
    verts, tris = grid_mesh(256, 256, 24)
    out = warp_mesh(photo, verts, verts, tris)
    assert np.array_equal(out, photo)


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1).astype(np.float32)


def test_identity_warp_exact_on_irregular_mesh(photo):
    poly = _ellipse(128, 120, 50, 65, 24)
    sur = surround_mesh(poly, 256, 256)
    from scipy.spatial import Delaunay
    inner = Delaunay(poly).simplices
    tris = np.concatenate([sur.triangles, inner])
    out = warp_mesh(photo, sur.vertices, sur.vertices, tris)
    assert np.array_equal(out, photo)


def test_affine_motion_matches_cv2_warp_affine(photo):
    verts, tris = grid_mesh(256, 256, 32)
    a = np.array([[1.06, 0.04, -9.0], [-0.03, 0.95, 6.5]], np.float32)
    moved = verts @ a[:, :2].T + a[:, 2]
    warper = MeshWarper(tris, (256, 256))
    out = warper.warp(photo, verts, moved)
    ref = cv2.warpAffine(photo, a, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    _, _, covered = warper.source_coordinates()
    inside = cv2.erode(covered.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    diff = np.abs(out.astype(int) - ref.astype(int)).max(axis=2)[inside]
    assert inside.mean() > 0.8
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_float_images_keep_precision():
    img = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    verts, tris = grid_mesh(64, 64, 8)
    shifted = verts + np.array([0.5, 0.0], np.float32)
    out = warp_mesh(img, verts, shifted, tris)
    assert out.dtype == np.float32
    # moving right by half a pixel: interior output is the mean of two horizontal neighbours
    expect = (img[10:50, 9:49] + img[10:50, 10:50]) / 2
    assert np.allclose(out[10:50, 10:50, 0], expect, atol=1e-5)


def test_border_stays_fixed_and_no_holes_when_the_inside_moves(photo):
    poly = _ellipse(128, 118, 45, 60, 30)
    sur = surround_mesh(poly, 256, 256)
    from scipy.spatial import Delaunay
    tris = np.concatenate([sur.triangles, Delaunay(poly).simplices.astype(np.int32)])
    # the head turns and shifts: displacement weighted by the fade (1 at the polygon, 0 at the border)
    c = poly.mean(0)
    ang = np.radians(12)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)
    target = (sur.vertices - c) @ rot.T + c + np.array([14, -9], np.float32)
    w = sur.weights.copy()
    w[:sur.n_polygon] = 1.0
    moved = sur.vertices + w[:, None] * (target - sur.vertices)
    warper = MeshWarper(tris, (256, 256))
    out = warper.warp(photo, sur.vertices, moved)
    _, _, covered = warper.source_coordinates()
    assert covered.all(), "a full-cover mesh with a fixed border must leave no holes"
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        assert np.array_equal(out[edge], photo[edge])
    assert np.abs(out.astype(int) - photo.astype(int)).mean() > 2  # the inside did move


def test_nearer_surface_wins_and_swapping_depth_swaps_it():
    img = np.zeros((32, 64, 3), np.uint8)
    img[:, :32] = (255, 0, 0)
    img[:, 32:] = (0, 0, 255)
    # two quads drawn onto the same target square: left half (red) and right half (blue) of the source
    red = np.array([[2, 2], [29, 2], [29, 29], [2, 29]], np.float32)
    blue = red + np.array([32, 0], np.float32)
    target = np.array([[4, 4], [28, 4], [28, 28], [4, 28]], np.float32)
    src = np.concatenate([red, blue])
    dst = np.concatenate([target, target])
    tris = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]], np.int32)
    warper = MeshWarper(tris, (32, 32))
    out = warper.warp(img, src, dst, depth=np.array([1, 1, 1, 1, 2, 2, 2, 2], np.float32))
    assert tuple(out[16, 16]) == (255, 0, 0)
    out = warper.warp(img, src, dst, depth=np.array([2, 2, 2, 2, 1, 1, 1, 1], np.float32))
    assert tuple(out[16, 16]) == (0, 0, 255)


def test_back_facing_triangles_lose_to_front_facing_ones():
    img = np.zeros((32, 64, 3), np.uint8)
    img[:, :32] = 200
    img[:, 32:] = 50
    front = np.array([[4, 4], [28, 4], [16, 28]], np.float32)  # positive signed area (x right, y down)
    src = np.concatenate([front, front + np.array([32, 0], np.float32)])
    dst = np.concatenate([front, front[[0, 2, 1]]])  # the second lands on the same place mirrored: folded over
    tris = np.array([[0, 1, 2], [3, 4, 5]], np.int32)
    depth = np.array([5, 5, 5, 0, 0, 0], np.float32)  # the folded one is nearer, yet the unfolded one must show
    warper = MeshWarper(tris, (32, 32))
    assert warper.warp(img, src, dst, depth=depth)[12, 16, 0] == 200
    # without the fold (same winding as its source) the nearer one wins
    unfolded = np.concatenate([front, front])
    src2 = np.concatenate([front, front + np.array([32, 0], np.float32)])
    assert warper.warp(img, src2, unfolded, depth=depth)[12, 16, 0] == 50


def test_silhouette_edges_are_anti_aliased():
    img = np.full((16, 16, 3), 255, np.uint8)
    # a square whose right edge sits at x = 10.25 over an uncovered (black-filled) background
    src = np.array([[0, 0], [15, 0], [15, 15], [0, 15]], np.float32)
    dst = np.array([[-2, -2], [10.25, -2], [10.25, 20], [-2, 20]], np.float32)
    tris = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    out = warp_mesh(img, src, dst, tris, out_size=(16, 16), fill=0)
    row = out[8, :, 0].astype(int)
    assert row[9] == 255 and row[12] == 0
    # box-filter coverage: pixel 10 covers [9.5, 10.5] -> 75 % inside; pixel 11 -> 0 %
    assert abs(row[10] - 0.75 * 255) <= 3
    assert row[11] == 0


def test_edge_neighbours_are_symmetric():
    verts, tris = grid_mesh(40, 40, 10)
    nb = edge_neighbours(tris)
    for t in range(len(tris)):
        for k in range(3):
            n = nb[t, k]
            if n >= 0:
                assert t in nb[n]
    boundary = (nb < 0).sum()
    assert boundary == 4 * 4  # 4 sides x 4 cells


def test_surround_mesh_covers_the_image_outside_the_polygon():
    poly = _ellipse(100, 90, 40, 50, 36)
    sur = surround_mesh(poly, 200, 220)
    v, t = sur.vertices, sur.triangles
    a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
    area = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))
    assert (area > 0).all()
    poly_area = 0.5 * abs(np.dot(poly[:, 0], np.roll(poly[:, 1], -1)) - np.dot(poly[:, 1], np.roll(poly[:, 0], -1)))
    assert abs(area.sum() + poly_area - 219 * 199) < 1.0
    assert np.allclose(sur.weights[:sur.n_polygon], 1.0)
    assert np.all(sur.weights[sur.is_border] == 0.0)
    assert sur.is_border.sum() >= 4


def test_fade_weights_fall_smoothly_from_polygon_to_border():
    poly = np.array([[40, 40], [60, 40], [60, 60], [40, 60]], np.float32)
    xs = np.linspace(60, 99, 40)
    pts = np.stack([xs, np.full_like(xs, 50)], 1)
    w = fade_weights(pts, poly, 100, 100)
    assert w[0] == pytest.approx(1.0) and w[-1] == pytest.approx(0.0)
    assert np.all(np.diff(w) <= 1e-6)
    assert np.abs(np.diff(w, 2)).max() < 0.01  # no kinks
