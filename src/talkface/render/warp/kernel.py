"""Numba kernels of the piecewise-affine mesh warp: z-buffered backward mapping with anti-aliased silhouettes.

Two passes over the output image, each parallel over rows so no two threads write the same pixel:
1. `_rasterize` walks every target triangle over the row bands it touches and keeps, per pixel, the front-most
   triangle's source position (u, v) and depth (a z-buffer on pixel centres, so a mesh that covers the image
   leaves no holes and shared edges leave no seams: the piecewise-affine map is continuous there).
   Triangles whose target orientation is flipped relative to their source orientation (folded over, i.e.
   back-facing) lose to the others. Only *silhouette* edges (mesh boundary, or between a folded and an unfolded
   triangle) can show a step, so
   only they are anti-aliased: a pixel whose centre lies within half a pixel inside such an edge records its
   coverage and the outward neighbour to blend with; a pixel within half a pixel outside records the
   triangle as an "overlay" with its partial coverage.
2. `_resolve` samples the source bilinearly at (u, v) and applies both blends (box-filter coverage of a
   straight edge, so the two sides of a silhouette sum to one).

Coordinates are pixel centres at integers (as in cv2.warpAffine): pixel (x, y) sits at x, y.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

BACKFACE_PENALTY = np.float32(1e6)
FAR = np.float32(1e30)  # "nothing here" depth: finite, because fastmath lets the compiler assume no infinities
_INSIDE_EPS = np.float32(1e-3)  # pixels this close outside an edge count as inside: no cracks from rounding
_MIN_AREA = 1e-6  # twice the area (px²) below which a triangle is degenerate: invisible, skipped
# per-pixel state byte (the `aa_dir` buffer): bits 0-1 the 4-neighbour to blend with, then flags
_AA = 4  # the front triangle's silhouette edge crosses this pixel: blend with that neighbour
_OVERLAY = 8  # a triangle's silhouette passes just outside this pixel: maybe overlay it
_UNCOVERED = 16  # no triangle's inside reached this pixel centre (yet)


@njit(cache=True, fastmath=True, error_model="numpy")
def triangle_setup(dst_xy, src_xy, depth, tris, neighbours):
    """Per triangle: affine maps (u, v, z), three edge distance functions, bbox and silhouette flags.

    Returns coef [T, 18] (u, v, z, e0, e1, e2 as a*x + b*y + c), bbox [T, 4] (x0, x1, y0, y1),
    flags [T, 4] int32 (valid, folded, silhouette mask bits for edges 0..2, any silhouette).
    Edge k runs from vertex k to vertex k+1; its distance is positive inside the triangle. A triangle is folded
    when its target winding differs from its source winding (a degenerate source counts as unfolded).
    """
    n = tris.shape[0]
    coef = np.zeros((n, 18), np.float32)
    bbox = np.zeros((n, 4), np.int32)
    flags = np.zeros((n, 4), np.int32)
    orient = np.zeros(n, np.int8)
    for t in range(n):
        i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
        x0, y0 = dst_xy[i0, 0], dst_xy[i0, 1]
        x1, y1 = dst_xy[i1, 0], dst_xy[i1, 1]
        x2, y2 = dst_xy[i2, 0], dst_xy[i2, 1]
        area = (np.float64(x1) - x0) * (np.float64(y2) - y0) - (np.float64(x2) - x0) * (np.float64(y1) - y0)
        u0, v0 = np.float64(src_xy[i0, 0]), np.float64(src_xy[i0, 1])
        src_area = (src_xy[i1, 0] - u0) * (src_xy[i2, 1] - v0) - (src_xy[i2, 0] - u0) * (src_xy[i1, 1] - v0)
        if abs(area) > _MIN_AREA:
            orient[t] = 1 if area > 0 else -1
            if src_area < -_MIN_AREA:
                orient[t] = -orient[t]
    for t in range(n):
        if orient[t] == 0:
            continue
        i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
        x0, y0 = np.float64(dst_xy[i0, 0]), np.float64(dst_xy[i0, 1])
        x1, y1 = np.float64(dst_xy[i1, 0]), np.float64(dst_xy[i1, 1])
        x2, y2 = np.float64(dst_xy[i2, 0]), np.float64(dst_xy[i2, 1])
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        # barycentric weight of vertex k as a*x + b*y + c
        a0, b0 = (y1 - y2) / area, (x2 - x1) / area
        c0 = (x1 * y2 - x2 * y1) / area
        a1, b1 = (y2 - y0) / area, (x0 - x2) / area
        c1 = (x2 * y0 - x0 * y2) / area
        a2, b2, c2 = -a0 - a1, -b0 - b1, 1.0 - c0 - c1
        for m in range(3):
            if m == 0:
                q0, q1, q2 = src_xy[i0, 0], src_xy[i1, 0], src_xy[i2, 0]
            elif m == 1:
                q0, q1, q2 = src_xy[i0, 1], src_xy[i1, 1], src_xy[i2, 1]
            else:
                q0, q1, q2 = depth[i0], depth[i1], depth[i2]
            coef[t, 3 * m] = a0 * q0 + a1 * q1 + a2 * q2
            coef[t, 3 * m + 1] = b0 * q0 + b1 * q1 + b2 * q2
            coef[t, 3 * m + 2] = c0 * q0 + c1 * q1 + c2 * q2
        s = 1.0 if area > 0 else -1.0
        xs = (x0, x1, x2)
        ys = (y0, y1, y2)
        sil = 0
        for k in range(3):
            xa, ya = xs[k], ys[k]
            xb, yb = xs[(k + 1) % 3], ys[(k + 1) % 3]
            ln = np.sqrt((xb - xa) ** 2 + (yb - ya) ** 2)
            # signed distance of p to edge a->b, positive on the side of the third vertex
            ea = -(yb - ya) / ln * s
            eb = (xb - xa) / ln * s
            coef[t, 9 + 3 * k] = ea
            coef[t, 10 + 3 * k] = eb
            coef[t, 11 + 3 * k] = -(ea * xa + eb * ya)
            nb = neighbours[t, k]
            if nb < 0 or orient[nb] != orient[t]:
                sil |= 1 << k
        flags[t, 0] = 1
        flags[t, 1] = 1 if orient[t] < 0 else 0  # folded relative to the source
        flags[t, 2] = sil
        flags[t, 3] = 1 if sil != 0 else 0
        pad = 1.0 if sil != 0 else 0.0
        bbox[t, 0] = int(np.floor(min(x0, x1, x2) - pad))
        bbox[t, 1] = int(np.ceil(max(x0, x1, x2) + pad))
        bbox[t, 2] = int(np.floor(min(y0, y1, y2) - pad))
        bbox[t, 3] = int(np.ceil(max(y0, y1, y2) + pad))
    return coef, bbox, flags


@njit(cache=True, fastmath=True)
def _row_span(a0, c0, a1, c1, a2, c2, margin):
    """The x interval where all three edge distances a_k * x + c_k are >= -margin (lo > hi when empty)."""
    lo = np.float32(-1e9)
    hi = np.float32(1e9)
    for k in range(3):
        a = a0 if k == 0 else (a1 if k == 1 else a2)
        c = c0 if k == 0 else (c1 if k == 1 else c2)
        if a > 1e-12:
            lo = max(lo, (-margin - c) / a)
        elif a < -1e-12:
            hi = min(hi, (-margin - c) / a)
        elif c < -margin:
            return np.float32(1.0), np.float32(0.0)
    return lo, hi


@njit(parallel=True, cache=True, fastmath=True)
def rasterize(coef, bbox, flags, zbuf, ubuf, vbuf, aa_alpha, aa_dir, ov_alpha, ov_u, ov_v, ov_z,
              band_height):
    """Fill the per-pixel buffers (see module doc); bands of `band_height` rows run in parallel."""
    h, w = zbuf.shape
    n_bands = (h + band_height - 1) // band_height
    n = coef.shape[0]
    for band in prange(n_bands):
        r0 = np.int64(band) * band_height
        r1 = min(h, r0 + band_height)
        for y in range(r0, r1):
            for x in range(w):
                zbuf[y, x] = FAR
                aa_alpha[y, x] = 1.0
                aa_dir[y, x] = _UNCOVERED
                ov_alpha[y, x] = 0.0
                ov_z[y, x] = FAR
        for t in range(n):
            if flags[t, 0] == 0:
                continue
            ty0 = max(bbox[t, 2], r0)
            ty1 = min(bbox[t, 3], r1 - 1)
            if ty0 > ty1:
                continue
            tx0 = max(bbox[t, 0], 0)
            tx1 = min(bbox[t, 1], w - 1)
            if tx0 > tx1:
                continue
            penalty = BACKFACE_PENALTY if flags[t, 1] == 1 else np.float32(0.0)
            sil = flags[t, 2]
            au, bu, cu = coef[t, 0], coef[t, 1], coef[t, 2]
            av, bv, cv = coef[t, 3], coef[t, 4], coef[t, 5]
            az, bz, cz = coef[t, 6], coef[t, 7], coef[t, 8]
            e0a, e0b, e0c = coef[t, 9], coef[t, 10], coef[t, 11]
            e1a, e1b, e1c = coef[t, 12], coef[t, 13], coef[t, 14]
            e2a, e2b, e2c = coef[t, 15], coef[t, 16], coef[t, 17]
            margin = np.float32(0.5) if sil != 0 else _INSIDE_EPS
            for y in range(ty0, ty1 + 1):
                fy = np.float32(y)
                lo, hi = _row_span(e0a, e0b * fy + e0c, e1a, e1b * fy + e1c, e2a, e2b * fy + e2c, margin)
                x_lo = max(tx0, int(np.ceil(lo - 1e-3))) if lo > -1e8 else tx0
                x_hi = min(tx1, int(np.floor(hi + 1e-3))) if hi < 1e8 else tx1
                for x in range(x_lo, x_hi + 1):
                    fx = np.float32(x)
                    d0 = e0a * fx + e0b * fy + e0c
                    d1 = e1a * fx + e1b * fy + e1c
                    d2 = e2a * fx + e2b * fy + e2c
                    dmin = min(d0, d1, d2)
                    if dmin >= -_INSIDE_EPS:
                        z = az * fx + bz * fy + cz + penalty
                        if z < zbuf[y, x]:
                            zbuf[y, x] = z
                            ubuf[y, x] = au * fx + bu * fy + cu
                            vbuf[y, x] = av * fx + bv * fy + cv
                            alpha = np.float32(1.0)
                            dcode = -1
                            if sil != 0:
                                for k in range(3):
                                    if (sil >> k) & 1:
                                        dk = d0 if k == 0 else (d1 if k == 1 else d2)
                                        if dk < 0.5 and 0.5 + max(dk, 0.0) < alpha:
                                            alpha = 0.5 + max(dk, np.float32(0.0))
                                            ea = coef[t, 9 + 3 * k]
                                            eb = coef[t, 10 + 3 * k]
                                            # outward normal is -(ea, eb): pick the dominant 4-neighbour
                                            if abs(ea) >= abs(eb):
                                                dcode = 0 if ea < 0 else 1  # 0: +x, 1: -x
                                            else:
                                                dcode = 2 if eb < 0 else 3  # 2: +y, 3: -y
                            aa_alpha[y, x] = alpha
                            state = aa_dir[y, x] & _OVERLAY
                            if dcode >= 0:
                                state |= _AA | dcode
                            aa_dir[y, x] = state
                    elif sil != 0 and dmin > -0.5:
                        # outside: overlay only if every edge we are outside of is a silhouette edge
                        ok = True
                        if d0 < 0 and not (sil & 1):
                            ok = False
                        if d1 < 0 and not (sil & 2):
                            ok = False
                        if d2 < 0 and not (sil & 4):
                            ok = False
                        if ok:
                            z = az * fx + bz * fy + cz + penalty
                            if z < ov_z[y, x]:
                                ov_z[y, x] = z
                                ov_alpha[y, x] = 0.5 + dmin
                                ov_u[y, x] = au * fx + bu * fy + cu
                                ov_v[y, x] = av * fx + bv * fy + cv
                                aa_dir[y, x] |= _OVERLAY


@njit(cache=True, fastmath=True)
def _bilinear_at(src, u, v):
    """Integer corners and weights for a bilinear sample at (u, v), clamped to the image (border replicate)."""
    h, w = src.shape[0], src.shape[1]
    u = min(max(u, np.float32(0.0)), np.float32(w - 1))
    v = min(max(v, np.float32(0.0)), np.float32(h - 1))
    x0 = min(int(u), max(w - 2, 0))
    y0 = min(int(v), max(h - 2, 0))
    return x0, y0, min(x0 + 1, w - 1), min(y0 + 1, h - 1), u - x0, v - y0


@njit(cache=True, fastmath=True)
def _lerp2(src, x0, y0, x1, y1, fx, fy, c):
    """Bilinear blend of channel c from the four corners given by `_bilinear_at`."""
    top = np.float32(src[y0, x0, c]) * (1 - fx) + np.float32(src[y0, x1, c]) * fx
    bot = np.float32(src[y1, x0, c]) * (1 - fx) + np.float32(src[y1, x1, c]) * fx
    return top * (1 - fy) + bot * fy


@njit(cache=True, fastmath=True)
def _resolve_pixel(src, zbuf, ubuf, vbuf, aa_alpha, aa_dir, ov_alpha, ov_u, ov_v, ov_z, fill, out, round_output, y, x):
    """The general case of `resolve` for one pixel: uncovered, or on a silhouette (blends)."""
    h, w = zbuf.shape
    nc = out.shape[2]
    zp = zbuf[y, x]
    covered = zp < FAR
    a = aa_alpha[y, x]
    qx, qy = x, y
    state = aa_dir[y, x]
    d = state & 3
    blend_q = False
    if covered and a < 1.0 and (state & _AA):
        if d == 0:
            qx = x + 1
        elif d == 1:
            qx = x - 1
        elif d == 2:
            qy = y + 1
        else:
            qy = y - 1
        blend_q = 0 <= qx < w and 0 <= qy < h and zbuf[qy, qx] > zp
    oa = ov_alpha[y, x]
    use_ov = oa > 0.0 and ov_z[y, x] < zp
    if covered:
        x0, y0, x1, y1, fx, fy = _bilinear_at(src, ubuf[y, x], vbuf[y, x])
    else:
        x0, y0, x1, y1, fx, fy = 0, 0, 0, 0, np.float32(0.0), np.float32(0.0)
    q_covered = blend_q and zbuf[qy, qx] < FAR
    if q_covered:
        qx0, qy0, qx1, qy1, qfx, qfy = _bilinear_at(src, ubuf[qy, qx], vbuf[qy, qx])
    else:
        qx0, qy0, qx1, qy1, qfx, qfy = 0, 0, 0, 0, np.float32(0.0), np.float32(0.0)
    if use_ov:
        ox0, oy0, ox1, oy1, ofx, ofy = _bilinear_at(src, ov_u[y, x], ov_v[y, x])
    else:
        ox0, oy0, ox1, oy1, ofx, ofy = 0, 0, 0, 0, np.float32(0.0), np.float32(0.0)
    for c in range(nc):
        if covered:
            val = _lerp2(src, x0, y0, x1, y1, fx, fy, c)
            if blend_q:
                other = _lerp2(src, qx0, qy0, qx1, qy1, qfx, qfy, c) if q_covered else fill[c]
                val = a * val + (1 - a) * other
        else:
            val = fill[c]
        if use_ov:
            val = oa * _lerp2(src, ox0, oy0, ox1, oy1, ofx, ofy, c) + (1 - oa) * val
        if round_output:
            val = min(max(val + np.float32(0.5), np.float32(0.0)), np.float32(255.0))
        out[y, x, c] = val


@njit(parallel=True, cache=True, fastmath=True)
def resolve(src, zbuf, ubuf, vbuf, aa_alpha, aa_dir, ov_alpha, ov_u, ov_v, ov_z, fill, out, round_output):
    """Sample the source for every output pixel and apply the silhouette blends (see module doc).

    Interior pixels (covered, no blend) take an inlined bilinear fast path; the rest go to `_resolve_pixel`.
    """
    h, w = zbuf.shape
    sh, sw = src.shape[0], src.shape[1]
    nc = out.shape[2]
    umax, vmax = np.float32(sw - 1), np.float32(sh - 1)
    for yy in prange(h):
        y = np.int64(yy)
        for x in range(w):
            if aa_dir[y, x] == 0:  # covered, no silhouette near: plain bilinear sample
                u = min(max(ubuf[y, x], np.float32(0.0)), umax)
                v = min(max(vbuf[y, x], np.float32(0.0)), vmax)
                x0 = min(int(u), max(sw - 2, 0))
                y0 = min(int(v), max(sh - 2, 0))
                x1 = min(x0 + 1, sw - 1)
                y1 = min(y0 + 1, sh - 1)
                fx = u - x0
                fy = v - y0
                for c in range(nc):
                    top = np.float32(src[y0, x0, c]) * (1 - fx) + np.float32(src[y0, x1, c]) * fx
                    bot = np.float32(src[y1, x0, c]) * (1 - fx) + np.float32(src[y1, x1, c]) * fx
                    val = top * (1 - fy) + bot * fy
                    if round_output:
                        val = min(max(val + np.float32(0.5), np.float32(0.0)), np.float32(255.0))
                    out[y, x, c] = val
            else:
                _resolve_pixel(src, zbuf, ubuf, vbuf, aa_alpha, aa_dir, ov_alpha, ov_u, ov_v, ov_z, fill, out,
                               round_output, y, x)
