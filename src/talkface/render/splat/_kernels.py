"""Numba kernels of the CPU rasterizer: tile binning, forward compositing, backward and per-Gaussian reduce.

Layout shared by all kernels (float32 everywhere, constants are float32 globals so nothing promotes to float64):
- `params [N, 10]`: mean_x, mean_y, conic a, b, c (inverse 2D covariance [[a, b], [b, c]]), opacity, 4 features
  (r, g, b, camera depth). A Gaussian's weight at pixel centre (u, v) is
  alpha = min(0.99, opacity * exp(-(a dx^2 / 2 + b dx dy + c dy^2 / 2))), dx = u - mean_x, dy = v - mean_y;
  pairs with alpha < 1/255 are skipped and a pixel stops before the Gaussian that would push its transmittance
  below 1e-4 (the 3DGS rules).
- Tiles are 16x16 pixels, each split into four 8x8 sub-tiles; every (tile, Gaussian) intersection carries a 4-bit
  mask of the sub-tiles its alpha >= 1/255 ellipse touches, so the kernels skip sub-tiles a Gaussian cannot reach.
- Pixel (row v, column u) is sampled at image coordinate (u, v): OpenCV's pixel-centre convention.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

TILE = 16
SUB = 8
SUB_PIXELS = SUB * SUB
N_PARAMS = 10
N_GRADS = 10  # per intersection: 4 feature sums, opacity, S_x, S_y, S_xx, S_xy, S_yy

ALPHA_MIN = np.float32(1.0 / 255.0)
ALPHA_MAX = np.float32(0.99)
T_MIN = np.float32(1e-4)
EXP_FLOOR = np.float32(-8.0)  # exp(-8) * 1 < 1/255, so anything clamped here is skipped anyway
CULL_MARGIN = np.float32(1e-3)  # widens the culling ellipse past the polynomial exp's error
CHECK_EVERY = 16
REDUCE_BLOCK = 512  # Gaussians per parallel work item in the final reduce  # forward checks "every pixel of the sub-tile finished" after this many pairs

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_HALF = np.float32(0.5)
_SIXTEENTH = np.float32(1.0 / 16.0)
_C2 = np.float32(1.0 / 2.0)
_C3 = np.float32(1.0 / 6.0)
_C4 = np.float32(1.0 / 24.0)
_C5 = np.float32(1.0 / 120.0)
_C6 = np.float32(1.0 / 720.0)
_C7 = np.float32(1.0 / 5040.0)
_BIG_K = np.int32(2**31 - 1)


@njit(inline="always", fastmath=True, cache=True)
def exp_neg(p):
    """exp(-p) for p >= 0 as a branch-free polynomial (llvmlite has no SVML, so math.exp would not vectorize).

    exp(x) = exp(x/16)^16 with a degree-7 Taylor series on [-0.5, 0]; relative error < 5e-6 on [0, 8] in float32, and
    inputs past 8 are clamped (the result is then below the 1/255 alpha threshold for any opacity <= 1).
    """
    x = max(-p, EXP_FLOOR) * _SIXTEENTH
    y = _F1 + x * (_F1 + x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * _C7))))))
    y = y * y
    y = y * y
    y = y * y
    return y * y


@njit(inline="always", fastmath=True, cache=True)
def _edge_min(a, b, c, slope, fixed, lo, hi, fixed_is_x):
    """Minimum of q = (a dx^2 + 2 b dx dy + c dy^2) / 2 along one rectangle edge (one coordinate fixed); slope is
    b / c for a fixed dx (the free dy minimising q is -slope * dx) and b / a for a fixed dy."""
    t = min(max(-slope * fixed, lo), hi)
    if fixed_is_x:
        return _HALF * (a * fixed * fixed + np.float32(2.0) * b * fixed * t + c * t * t)
    return _HALF * (a * t * t + np.float32(2.0) * b * t * fixed + c * fixed * fixed)


@njit(inline="always", fastmath=True, cache=True)
def rect_min_quadratic(a, b, c, x0, x1, y0, y1):
    """Exact minimum of the conic's quadratic form over the offset rectangle [x0, x1] x [y0, y1] (convex, so 0 inside,
    else on an edge)."""
    if x0 <= 0 <= x1 and y0 <= 0 <= y1:
        return _F0
    b_over_c = b / c
    b_over_a = b / a
    m = _edge_min(a, b, c, b_over_c, x0, y0, y1, True)
    m = min(m, _edge_min(a, b, c, b_over_c, x1, y0, y1, True))
    m = min(m, _edge_min(a, b, c, b_over_a, y0, x0, x1, False))
    return min(m, _edge_min(a, b, c, b_over_a, y1, x0, x1, False))


@njit(inline="always", fastmath=True, cache=True)
def _power_limit(opacity):
    """Largest quadratic-form value at which opacity * exp(-q) still reaches the 1/255 alpha threshold (or -1)."""
    if not (opacity >= ALPHA_MIN):
        return np.float32(-1.0)
    return min(np.float32(math.log(opacity / ALPHA_MIN)) + CULL_MARGIN, -EXP_FLOOR)


@njit(inline="always", fastmath=True, cache=True)
def _subtile_mask(params, g, tx, ty, width, height, qmax, box):
    """4-bit mask of the 8x8 sub-tiles of tile (tx, ty) where Gaussian g's alpha can reach 1/255 (sub-tiles outside
    the ellipse's pixel box are rejected without the exact test)."""
    mx = params[g, 0]
    my = params[g, 1]
    a = params[g, 2]
    b = params[g, 3]
    c = params[g, 4]
    mask = 0
    for s in range(4):
        px0 = tx * TILE + (s % 2) * SUB
        py0 = ty * TILE + (s // 2) * SUB
        px1 = min(px0 + SUB, width) - 1
        py1 = min(py0 + SUB, height) - 1
        if px0 > box[1] or px1 < box[0] or py0 > box[3] or py1 < box[2]:
            continue
        q = rect_min_quadratic(a, b, c, np.float32(px0) - mx, np.float32(px1) - mx,
                               np.float32(py0) - my, np.float32(py1) - my)
        if q <= qmax:
            mask |= 1 << s
    return mask


@njit(inline="always", fastmath=True, cache=True)
def _pixel_box(params, g, width, height, qmax):
    """Inclusive pixel box (u0, u1, v0, v1) of Gaussian g's cull ellipse, clipped to the image (empty: u0 > u1)."""
    a = params[g, 2]
    b = params[g, 3]
    c = params[g, 4]
    det = a * c - b * b
    if not (det > 0 and a > 0 and c > 0):
        return 0, -1, 0, -1
    rx = math.sqrt(np.float32(2.0) * qmax * c / det)
    ry = math.sqrt(np.float32(2.0) * qmax * a / det)
    mx = params[g, 0]
    my = params[g, 1]
    u0 = max(math.ceil(mx - rx), 0.0)
    u1 = min(math.floor(mx + rx), width - 1.0)
    v0 = max(math.ceil(my - ry), 0.0)
    v1 = min(math.floor(my + ry), height - 1.0)
    if not (u0 <= u1 and v0 <= v1):  # also false for NaN
        return 0, -1, 0, -1
    return int(u0), int(u1), int(v0), int(v1)


@njit(parallel=True, cache=True, fastmath=True)
def tile_box_sizes(params, valid, width, height):
    """Tiles in each Gaussian's cull-ellipse bounding box [N] (an upper bound on its intersections; 0 if culled)."""
    n = params.shape[0]
    sizes = np.zeros(n, np.int64)
    for g in prange(n):
        if not valid[g]:
            continue
        qmax = _power_limit(params[g, 5])
        if qmax < 0:
            continue
        box = _pixel_box(params, g, width, height, qmax)
        if box[0] <= box[1]:
            sizes[g] = (box[1] // TILE - box[0] // TILE + 1) * (box[3] // TILE - box[2] // TILE + 1)
    return sizes


@njit(parallel=True, cache=True, fastmath=True)
def cull_tiles(params, box_start, width, height, tiles_x, cand_tile, cand_mask):
    """Exact ellipse-rectangle tests of every tile in each Gaussian's box: Gaussian g writes its touched tiles and
    sub-tile masks from slot box_start[g] of cand_tile / cand_mask; returns how many it wrote [N]."""
    n = params.shape[0]
    counts = np.zeros(n, np.int64)
    for g in prange(n):
        k = box_start[g]
        if box_start[g + 1] == k:
            continue
        qmax = _power_limit(params[g, 5])
        box = _pixel_box(params, g, width, height, qmax)
        for ty in range(box[2] // TILE, box[3] // TILE + 1):
            for tx in range(box[0] // TILE, box[1] // TILE + 1):
                m = _subtile_mask(params, g, tx, ty, width, height, qmax, box)
                if m != 0:
                    cand_tile[k] = ty * tiles_x + tx
                    cand_mask[k] = m
                    k += 1
        counts[g] = k - box_start[g]
    return counts


@njit(parallel=True, cache=True, fastmath=True)
def gather_by_depth(counts, box_start, rank, offsets, cand_tile, cand_mask, isect_tile, isect_gid, isect_mask):
    """Copy each Gaussian's touched tiles into the depth-ordered list (slots offsets[rank[g]]:...)."""
    for g in prange(counts.size):
        src = box_start[g]
        dst = offsets[rank[g]]
        for i in range(counts[g]):
            isect_tile[dst + i] = cand_tile[src + i]
            isect_gid[dst + i] = g
            isect_mask[dst + i] = cand_mask[src + i]


@njit(cache=True)
def sort_by_tile(isect_tile, isect_gid, isect_mask, n_tiles):
    """Stable counting sort of the depth-ordered intersections by tile: tile ranges [n_tiles + 1], Gaussian ids and
    sub-tile masks (front to back inside each tile)."""
    tile_start = np.zeros(n_tiles + 1, np.int64)
    for k in range(isect_tile.size):
        tile_start[isect_tile[k] + 1] += 1
    for t in range(n_tiles):
        tile_start[t + 1] += tile_start[t]
    fill = tile_start[:-1].copy()
    gid = np.empty_like(isect_gid)
    mask = np.empty_like(isect_mask)
    for k in range(isect_tile.size):
        t = isect_tile[k]
        j = fill[t]
        fill[t] = j + 1
        gid[j] = isect_gid[k]
        mask[j] = isect_mask[k]
    return tile_start, gid, mask


@njit(parallel=True, cache=True, fastmath=True)
def forward(params, tile_start, gid, mask, width, height, tiles_x, feat, trans, last, sub_end):
    """Front-to-back alpha compositing of every 8x8 sub-tile; writes features [H, W, 4], final transmittance
    [H, W], the intersection index each pixel stopped at [H, W] and where each sub-tile's loop ended [n_tiles, 4]."""
    n_tiles = tile_start.size - 1
    for t in prange(n_tiles):
        ty = t // tiles_x
        tx = t - ty * tiles_x
        k0 = tile_start[t]
        k1 = tile_start[t + 1]
        scratch = np.empty((7, SUB_PIXELS), np.float32)
        stop = np.empty(SUB_PIXELS, np.int32)
        for s in range(4):
            x0 = tx * TILE + (s % 2) * SUB
            y0 = ty * TILE + (s // 2) * SUB
            if x0 >= width or y0 >= height:
                sub_end[t, s] = k0
                continue
            sub_end[t, s] = _forward_subtile(params, gid, mask, k0, k1, s, x0, y0, width, height, scratch, stop)
            _store_subtile(scratch, stop, x0, y0, width, height, feat, trans, last)


@njit(inline="always", fastmath=True, cache=True)
def _init_pixels(px, py, stop, x0, y0, width, height, open_value):
    """Pixel-centre coordinates of an 8x8 sub-tile; pixels outside the image start finished (stop = -1)."""
    for j in range(SUB_PIXELS):
        u = x0 + (j % SUB)
        v = y0 + (j // SUB)
        px[j] = np.float32(u)
        py[j] = np.float32(v)
        stop[j] = open_value if (u < width and v < height) else np.int32(-1)


@njit(inline="always", fastmath=True, cache=True)
def _forward_subtile(params, gid, mask, k0, k1, s, x0, y0, width, height, scratch, stop):
    """Composite intersections k0:k1 (those whose mask has bit s) into one sub-tile; returns the loop's end index."""
    px = scratch[0]
    py = scratch[1]
    T = scratch[2]
    c0 = scratch[3]
    c1 = scratch[4]
    c2 = scratch[5]
    c3 = scratch[6]
    _init_pixels(px, py, stop, x0, y0, width, height, _BIG_K)
    for j in range(SUB_PIXELS):
        T[j] = _F1
        c0[j] = _F0
        c1[j] = _F0
        c2[j] = _F0
        c3[j] = _F0
    bit = 1 << s
    since_check = 0
    for k in range(k0, k1):
        if (mask[k] & bit) == 0:
            continue
        g = gid[k]
        mx = params[g, 0]
        my = params[g, 1]
        ha = _HALF * params[g, 2]
        b = params[g, 3]
        hc = _HALF * params[g, 4]
        o = params[g, 5]
        f0 = params[g, 6]
        f1 = params[g, 7]
        f2 = params[g, 8]
        f3 = params[g, 9]
        kk = np.int32(k)
        for j in range(SUB_PIXELS):
            dx = px[j] - mx
            dy = py[j] - my
            alpha = min(o * exp_neg(ha * dx * dx + b * dx * dy + hc * dy * dy), ALPHA_MAX)
            Tj = T[j]
            Tn = Tj * (_F1 - alpha)
            live = (alpha >= ALPHA_MIN) & (kk < stop[j])
            ends = live & (Tn < T_MIN)
            use = live & (Tn >= T_MIN)
            w = alpha * Tj if use else _F0
            c0[j] += w * f0
            c1[j] += w * f1
            c2[j] += w * f2
            c3[j] += w * f3
            T[j] = Tn if use else Tj
            stop[j] = kk if ends else stop[j]
        since_check += 1
        if since_check == CHECK_EVERY:
            since_check = 0
            if _all_stopped(stop):
                return k + 1
    return k1


@njit(inline="always", fastmath=True, cache=True)
def _all_stopped(stop):
    """True when every pixel of the sub-tile has terminated (its stop index is no longer the open value)."""
    n_open = 0
    for j in range(SUB_PIXELS):
        n_open += stop[j] == _BIG_K
    return n_open == 0


@njit(inline="always", fastmath=True, cache=True)
def _store_subtile(scratch, stop, x0, y0, width, height, feat, trans, last):
    """Copy a finished sub-tile's pixels into the output images."""
    for j in range(SUB_PIXELS):
        u = x0 + (j % SUB)
        v = y0 + (j // SUB)
        if u < width and v < height:
            feat[v, u, 0] = scratch[3, j]
            feat[v, u, 1] = scratch[4, j]
            feat[v, u, 2] = scratch[5, j]
            feat[v, u, 3] = scratch[6, j]
            trans[v, u] = scratch[2, j]
            last[v, u] = stop[j]


@njit(parallel=True, cache=True, fastmath=True)
def backward(params, tile_start, gid, mask, width, height, tiles_x, feat, trans, last, sub_end, grad_feat,
             grad_alpha, isect_grads):
    """Gradient sums of every intersection [n_isect, 10] (each tile owns its slots: no atomics), replaying the
    forward front to back with the stored stop indices; the rest of each pixel's colour comes from the forward
    output, so no division-by-(1 - alpha) transmittance recovery is needed."""
    n_tiles = tile_start.size - 1
    for t in prange(n_tiles):
        ty = t // tiles_x
        tx = t - ty * tiles_x
        k0 = tile_start[t]
        for k in range(k0, tile_start[t + 1]):
            for i in range(N_GRADS):
                isect_grads[k, i] = _F0
        scratch = np.empty((9, SUB_PIXELS), np.float32)
        stop = np.empty(SUB_PIXELS, np.int32)
        for s in range(4):
            x0 = tx * TILE + (s % 2) * SUB
            y0 = ty * TILE + (s // 2) * SUB
            if x0 >= width or y0 >= height:
                continue
            _load_backward_pixels(scratch, stop, x0, y0, width, height, feat, trans, last, grad_feat, grad_alpha)
            _backward_subtile(params, gid, mask, k0, sub_end[t, s], s, scratch, stop, isect_grads)


@njit(inline="always", fastmath=True, cache=True)
def _load_backward_pixels(scratch, stop, x0, y0, width, height, feat, trans, last, grad_feat, grad_alpha):
    """Per-pixel state for the backward replay: coordinates, T = 1, running sum 0, dL/dfeature and
    K = dL/dC . C - dL/dalpha * T_final (the part of dL/dalpha_i that depends on what lies behind Gaussian i)."""
    px = scratch[0]
    py = scratch[1]
    _init_pixels(px, py, stop, x0, y0, width, height, np.int32(-1))
    for j in range(SUB_PIXELS):
        u = x0 + (j % SUB)
        v = y0 + (j // SUB)
        scratch[2, j] = _F1
        scratch[3, j] = _F0
        if u < width and v < height:
            g0 = grad_feat[v, u, 0]
            g1 = grad_feat[v, u, 1]
            g2 = grad_feat[v, u, 2]
            g3 = grad_feat[v, u, 3]
            scratch[4, j] = g0
            scratch[5, j] = g1
            scratch[6, j] = g2
            scratch[7, j] = g3
            scratch[8, j] = (g0 * feat[v, u, 0] + g1 * feat[v, u, 1] + g2 * feat[v, u, 2] + g3 * feat[v, u, 3]
                             - grad_alpha[v, u] * trans[v, u])
            stop[j] = last[v, u]
        else:
            for i in range(4, 9):
                scratch[i, j] = _F0


@njit(inline="always", fastmath=True, cache=True)
def _backward_subtile(params, gid, mask, k0, k1, s, scratch, stop, isect_grads):
    """Accumulate one sub-tile's gradient sums into the intersection rows k0:k1 that have mask bit s."""
    px = scratch[0]
    py = scratch[1]
    T = scratch[2]
    q = scratch[3]
    g0 = scratch[4]
    g1 = scratch[5]
    g2 = scratch[6]
    g3 = scratch[7]
    K = scratch[8]
    bit = 1 << s
    for k in range(k0, k1):
        if (mask[k] & bit) == 0:
            continue
        g = gid[k]
        mx = params[g, 0]
        my = params[g, 1]
        ha = _HALF * params[g, 2]
        b = params[g, 3]
        hc = _HALF * params[g, 4]
        o = params[g, 5]
        f0 = params[g, 6]
        f1 = params[g, 7]
        f2 = params[g, 8]
        f3 = params[g, 9]
        kk = np.int32(k)
        s_f0 = _F0
        s_f1 = _F0
        s_f2 = _F0
        s_f3 = _F0
        s_o = _F0
        s_x = _F0
        s_y = _F0
        s_xx = _F0
        s_xy = _F0
        s_yy = _F0
        for j in range(SUB_PIXELS):
            dx = px[j] - mx
            dy = py[j] - my
            G = exp_neg(ha * dx * dx + b * dx * dy + hc * dy * dy)
            raw = o * G
            alpha = min(raw, ALPHA_MAX)
            live = (alpha >= ALPHA_MIN) & (kk < stop[j])
            Tj = T[j]
            gf = g0[j] * f0 + g1[j] * f1 + g2[j] * f2 + g3[j] * f3
            w = alpha * Tj if live else _F0
            qn = q[j] + w * gf
            one_minus = _F1 - alpha
            d_alpha = Tj * gf - (K[j] - qn) / one_minus
            d_alpha = d_alpha if (live & (raw < ALPHA_MAX)) else _F0
            s_f0 += w * g0[j]
            s_f1 += w * g1[j]
            s_f2 += w * g2[j]
            s_f3 += w * g3[j]
            s_o += d_alpha * G
            d_p = -alpha * d_alpha
            t_x = d_p * dx
            t_y = d_p * dy
            s_x += t_x
            s_y += t_y
            s_xx += t_x * dx
            s_xy += t_x * dy
            s_yy += t_y * dy
            T[j] = Tj * one_minus if live else Tj
            q[j] = qn
        isect_grads[k, 0] += s_f0
        isect_grads[k, 1] += s_f1
        isect_grads[k, 2] += s_f2
        isect_grads[k, 3] += s_f3
        isect_grads[k, 4] += s_o
        isect_grads[k, 5] += s_x
        isect_grads[k, 6] += s_y
        isect_grads[k, 7] += s_xx
        isect_grads[k, 8] += s_xy
        isect_grads[k, 9] += s_yy


@njit(parallel=True, cache=True, fastmath=True)
def reduce_gradients(params, gid, isect_grads, n_chunks, grad_params):
    """Per-Gaussian gradients [N, 10] (means2d, conic a/b/c, opacity, features) from the intersection sums.

    Call with static scheduling (chunksize 0). Each of `n_chunks` threads streams a contiguous run of intersections into its own [N, 10] partial sum (reads
    stay sequential, the scattered adds hit a cache-resident buffer, no atomics); the partials are then summed and
    turned into gradients w.r.t. the 2D mean and conic.
    """
    n = params.shape[0]
    m = gid.size
    partial = np.zeros((n_chunks, n, N_GRADS), np.float32)
    for c in prange(n_chunks):
        for k in range(m * c // n_chunks, m * (c + 1) // n_chunks):
            g = gid[k]
            for i in range(N_GRADS):
                partial[c, g, i] += isect_grads[k, i]
    for block in prange((n + REDUCE_BLOCK - 1) // REDUCE_BLOCK):
        for g in range(block * REDUCE_BLOCK, min(n, (block + 1) * REDUCE_BLOCK)):
            for c in range(1, n_chunks):
                for i in range(N_GRADS):
                    partial[0, g, i] += partial[c, g, i]
            acc = partial[0, g]
            a = params[g, 2]
            b = params[g, 3]
            cc = params[g, 4]
            grad_params[g, 0] = -(a * acc[5] + b * acc[6])
            grad_params[g, 1] = -(b * acc[5] + cc * acc[6])
            grad_params[g, 2] = _HALF * acc[7]
            grad_params[g, 3] = acc[8]
            grad_params[g, 4] = _HALF * acc[9]
            grad_params[g, 5] = acc[4]
            for i in range(4):
                grad_params[g, 6 + i] = acc[i]
