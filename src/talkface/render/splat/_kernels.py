"""Numba kernels of the CPU rasterizer: tile binning, forward compositing, backward and per-Gaussian reduce.

Layout shared by all kernels (float32 everywhere, constants are float32 globals so nothing promotes to float64):
- `params [N, 11]`: mean_x, mean_y, conic a, b, c (inverse 2D covariance [[a, b], [b, c]]), opacity, 4 features
  (r, g, b, camera depth), log(opacity) / 16; rows sorted front to back (Gaussian ids in the tile lists are row
  indices). A Gaussian's weight at pixel centre (u, v) is
  alpha = min(0.99, opacity * exp(-(a dx^2 / 2 + b dx dy + c dy^2 / 2))), dx = u - mean_x, dy = v - mean_y;
  pairs with alpha < 1/255 are skipped and a pixel stops before the Gaussian that would push its transmittance
  below 1e-4 (the 3DGS rules).
- Tiles are 16x16 pixels, each split into four 8x8 sub-tiles; every (tile, Gaussian) intersection carries a 4-bit
  mask of the sub-tiles its alpha >= 1/255 ellipse touches, so the kernels skip sub-tiles a Gaussian cannot reach.
- Pixel (row v, column u) is sampled at image coordinate (u, v): OpenCV's pixel-centre convention.

Compositing kernels (the hot loops): the 256 pixels of a tile live in a float32 scratch array (one row per
per-pixel quantity, sub-tiles stored contiguously, 64-byte aligned). Inner loops use unsigned offsets and fixed trip
counts so that LLVM emits AVX-512 code without negative-index or aliasing checks.
- Forward: one parallel work item per thread, which composites its share of the tiles with one set of buffers.
  A tile's intersections are dealt (branch-free) into one list per sub-tile, and each sub-tile runs down its list
  two Gaussians at a time: two vectorised alpha passes (independent per lane, so several exponentials are in
  flight), then one compositing pass that loads and stores each pixel's state once for both (on this CPU the
  stores bound that loop). Terminated pixels keep their transmittance negated instead of a per-pixel stop test;
  the stop index is looked up from a per-pixel pair counter when the tile is written out.
- Backward: same split over threads; each intersection's Gaussian is loaded once per tile and run over the
  contiguous pixels of its live sub-tiles, again in two passes (exponentials, then the gradient replay).
- Image I/O: a tile's 16-pixel image rows are moved between the images and the scratch's sub-tile rows with one
  vector load / store per row and image (small LLVM-IR intrinsics; the feature image is (de)interleaved in
  registers), not pixel by pixel. The forward writes them non-temporally when the outputs are 64-byte aligned (the
  wrapper allocates them so): the output lines are then never read in just to be overwritten.
- Fixed per-tile costs (they dominate sparse scenes, where most tiles are empty): tiles no Gaussian reaches are
  written from constant vectors without scratch set-up in the forward and skipped in the backward; a sub-tile's
  stop-index look-up (a gather) runs only if one of its pixels terminated; the flat image views are made once per
  call, not per tile (each reshape is a runtime call plus two atomic reference counts).
"""
from __future__ import annotations

import math
import platform

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

TILE = 16
SUB = 8
SUB_PIXELS = SUB * SUB
N_PARAMS = 11  # the last column, log(opacity) / 16, lets the kernels fold the opacity into the exponent
N_GRADS = 10  # per intersection: 4 feature sums, opacity, S_x, S_y, S_xx, S_xy, S_yy

ALPHA_MIN = np.float32(1.0 / 255.0)
ALPHA_MAX = np.float32(0.99)
T_MIN = np.float32(1e-4)
EXP_FLOOR = np.float32(-8.0)  # exp(-8) * 1 < 1/255, so anything clamped here is skipped anyway
CULL_MARGIN = np.float32(1e-3)  # widens the culling ellipse past the polynomial exp's error
CHECK_EVERY = 16  # the forward checks "every pixel of the sub-tile finished" after this many of its pairs
REDUCE_BLOCK = 512  # Gaussians per parallel work item in the final reduce

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_HALF = np.float32(0.5)
_SIXTEENTH = np.float32(1.0 / 16.0)
_M16 = np.float32(-1.0 / 16.0)
_M32 = np.float32(-1.0 / 32.0)
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
def exp16(x):
    """exp(16 x) for x <= 0 as the same branch-free polynomial as exp_neg, with the 1/16 scale already applied by
    the caller (folded into the per-Gaussian coefficients); x below -0.5 is clamped (the result is then below the
    1/255 alpha threshold)."""
    x = max(x, EXP_FLOOR * _SIXTEENTH)
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


# Pixel layout of a tile in the kernels' scratch: the four 8x8 sub-tiles are stored one after another in the order
# top-left, top-right, bottom-right, bottom-left (positions 0..3), a cycle in which three of the four pairs of
# neighbouring sub-tiles (rows and the right column) are adjacent in memory. A Gaussian's live sub-tiles then mostly
# form one contiguous pixel run, so the per-Gaussian work (parameter loads, broadcasts and, in the backward, the ten
# horizontal lane sums) is paid once per run instead of once per sub-tile.
POS_TO_SUB = np.array([0, 1, 3, 2], np.int64)
TILE_PIXELS = 4 * SUB_PIXELS
_U64_SUB = np.uint64(SUB_PIXELS)  # unsigned offsets/trip counts: no negative-index wraparound code in the loops
_U64_SUB2 = np.uint64(2 * SUB_PIXELS)
_U64_SUB3 = np.uint64(3 * SUB_PIXELS)
_U64_SUB4 = np.uint64(4 * SUB_PIXELS)
_U0 = np.uint64(0)
_U1 = np.uint64(1)  # feature channel offsets in the flat [H * W * 4] image views
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)


def _position_runs() -> np.ndarray:
    """For every 4-bit position mask, its (at most two) runs of consecutive set bits: [16, 4] = first run's start
    and length, second run's start and length (0 if none)."""
    runs = np.zeros((16, 4), np.int64)
    for m in range(16):
        found, p = [], 0
        while p < 4:
            if (m >> p) & 1:
                q = p
                while q < 4 and (m >> q) & 1:
                    q += 1
                found.extend([p, q - p])
                p = q
            else:
                p += 1
        runs[m, :len(found)] = found
    return runs


POSITION_RUNS = _position_runs()


@njit(inline="always", fastmath=True, cache=True)
def _positions(m):
    """Sub-tile bit mask (bit s = sub-tile s) -> position bit mask (bit p = storage position p; sub-tiles 2 and 3
    swap places)."""
    return (m & 3) | ((m & 8) >> 1) | ((m & 4) << 1)


@njit(inline="always", fastmath=True, cache=True)
def _sub_origin(tx, ty, p):
    """Image coordinates (x0, y0) of the top-left pixel of the sub-tile stored at position p of tile (tx, ty)."""
    s = POS_TO_SUB[p]
    return tx * TILE + (s % 2) * SUB, ty * TILE + (s // 2) * SUB


@njit(inline="always", fastmath=True, cache=True)
def _init_tile_pixels(px, py, stop, tx, ty, width, height, open_value):
    """Pixel-centre coordinates of a tile's 256 pixels in position order; pixels outside the image start finished
    (stop = -1). Returns the position mask of sub-tiles with at least one pixel inside the image. The loops have
    fixed trip counts and no branches, so they vectorise."""
    inside = 0
    for p in range(4):
        x0, y0 = _sub_origin(tx, ty, p)
        if x0 < width and y0 < height:
            inside |= 1 << p
        for r in range(SUB):
            for c in range(SUB):
                i = np.uint64(p * SUB_PIXELS + r * SUB + c)
                px[i] = np.float32(x0 + c)
                py[i] = np.float32(y0 + r)
                stop[i] = open_value if (x0 + c < width) & (y0 + r < height) else np.int32(-1)
    return inside


FWD_ROWS = 10  # forward scratch rows: x, y, T, 4 feature sums, pair counter, alphas of two Gaussians
# Row offsets in the flat forward scratch (unsigned: no wraparound checks; rows at constant distances from one base
# pointer let LLVM vectorise without runtime alias checks).
_RX = np.uint64(0 * TILE_PIXELS)
_RY = np.uint64(1 * TILE_PIXELS)
_RT = np.uint64(2 * TILE_PIXELS)
_RF0 = np.uint64(3 * TILE_PIXELS)
_RF1 = np.uint64(4 * TILE_PIXELS)
_RF2 = np.uint64(5 * TILE_PIXELS)
_RF3 = np.uint64(6 * TILE_PIXELS)
_RC = np.uint64(7 * TILE_PIXELS)
_RA = np.uint64(8 * TILE_PIXELS)
_RA2 = np.uint64(9 * TILE_PIXELS)
_U8 = np.uint64(8)
_NEG1 = np.float32(-1.0)
LIST_CHUNK = 64  # intersections appended to the sub-tile lists at a time


@njit(inline="always", cache=True)
def aligned_empty(n, dtype):
    """Uninitialised 1-D array of n items whose data starts on a 64-byte boundary (numba allocates at 32 bytes,
    which makes every other 64-byte vector access straddle two cache lines)."""
    raw = np.empty(n + 64, dtype)
    off = ((-raw.ctypes.data) & 63) // raw.itemsize
    return raw[off:off + n]


def _prefetch_codegen(rw):
    """Code generator of llvm.prefetch for array element arr[idx] (rw = 1: for writing, 0: for reading)."""
    def codegen(context, builder, signature, args):
        aryty, _ = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False, boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(rw), i32(3), i32(1)])  # high locality, data cache
        return context.get_dummy_value()

    return codegen


@intrinsic
def prefetch_write(typingctx, arr, idx):
    """Hint the CPU to fetch the cache line holding arr[idx] (flat index) for writing."""
    return types.void(arr, idx), _prefetch_codegen(1)


@intrinsic
def prefetch_read(typingctx, arr, idx):
    """Hint the CPU to fetch the cache line holding arr[idx] (flat index) for reading."""
    return types.void(arr, idx), _prefetch_codegen(0)


def _element_pointer(context, builder, aryty, ary, idx):
    """LLVM pointer to element idx of a 1-D numba array (no bounds or wraparound checks)."""
    arr = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, arr, [idx], wraparound=False, boundscheck=False)


def _vector_pointer(context, builder, aryty, ary, idx, n):
    """Pointer to n consecutive elements of a 1-D numba array from element idx, typed as an LLVM vector."""
    vt = ir.VectorType(context.get_data_type(aryty.dtype), n)
    return builder.bitcast(_element_pointer(context, builder, aryty, ary, idx), vt.as_pointer())


def _split_store(context, builder, aryty, ary, base, lo, hi, row):
    """Store the 16-element vector `row`: its first 8 elements at ary[base + lo], the last 8 at ary[base + hi]."""
    i32 = ir.IntType(32)
    for half, off in ((0, lo), (1, hi)):
        part = builder.shuffle_vector(row, row, ir.Constant(ir.VectorType(i32, 8), list(range(8 * half, 8 * half + 8))))
        builder.store(part, _vector_pointer(context, builder, aryty, ary, builder.add(base, off), 8), align=4)


def _tile_row(context, builder, sig, args):
    """The 16 pixels of one tile row of scratch plane args[2][args[3]...]: the 8 at offset args[4] followed by the 8
    at args[5] (rows of two side-by-side sub-tiles), as one LLVM vector."""
    lo, hi = (builder.load(_vector_pointer(context, builder, sig.args[2], args[2], builder.add(args[3], off), 8),
                           align=4) for off in (args[4], args[5]))
    return builder.shuffle_vector(lo, hi, ir.Constant(ir.VectorType(ir.IntType(32), 16), list(range(16))))


def _store_vector(context, builder, aryty, ary, idx, value, stream):
    """Store an LLVM vector at element idx of a 1-D numba array; stream: a non-temporal store (the address must
    then be 64-byte aligned; the line is written without being read first)."""
    ptr = builder.bitcast(_element_pointer(context, builder, aryty, ary, idx), value.type.as_pointer())
    if not stream:
        builder.store(value, ptr, align=4)
        return
    store = builder.store(value, ptr, align=64)
    store.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))


def _tile_row_store(stream):
    """Intrinsic dst[di:di + 16] = src[base + lo:base + lo + 8] ++ src[base + hi:base + hi + 8]: one tile row from
    the rows of two side-by-side sub-tiles in the scratch, as a single 64-byte vector store (LLVM would emit
    16 scalar stores)."""
    def typer(typingctx, dst, di, src, base, lo, hi):
        def codegen(context, builder, signature, args):
            row = _tile_row(context, builder, signature, args)
            _store_vector(context, builder, signature.args[0], args[0], args[1], row, stream)
            return context.get_dummy_value()

        return types.void(dst, di, src, base, lo, hi), codegen

    return intrinsic(typer)


def _interleave_pairs(builder, a, b):
    """<a0, b0, a1, b1, ...> of two LLVM vectors of equal length."""
    n = a.type.count
    mask = ir.Constant(ir.VectorType(ir.IntType(32), 2 * n), [i // 2 + n * (i % 2) for i in range(2 * n)])
    return builder.shuffle_vector(a, b, mask)


def _feature_row(context, builder, signature, args):
    """The 64 pixel-interleaved features (pixel i, channel c at 4 i + c) of one tile row whose four channel planes
    lie args[6] apart in the scratch (pixels as in _tile_row): two rounds of pairwise interleaving."""
    planes = []
    for c in range(4):
        shifted = list(args)
        shifted[3] = builder.add(args[3], builder.mul(args[6], ir.Constant(args[6].type, c)))
        planes.append(_tile_row(context, builder, signature, shifted))
    c01 = _interleave_pairs(builder, planes[0], planes[1])  # f0 f1 of each pixel
    c23 = _interleave_pairs(builder, planes[2], planes[3])
    mask = [2 * (i // 4) + (i % 2) + 32 * ((i % 4) // 2) for i in range(64)]
    return builder.shuffle_vector(c01, c23, ir.Constant(ir.VectorType(ir.IntType(32), 64), mask))


def _feature_row_store(stream):
    """Intrinsic dst[di + 4 i + c] = pixel i of channel plane c (planes src[base + c stride...], pixels as in
    _tile_row_store): one tile row of the pixel-interleaved feature image, shuffled in registers, four 64-byte
    stores."""
    def typer(typingctx, dst, di, src, base, lo, hi, stride):
        def codegen(context, builder, signature, args):
            row = _feature_row(context, builder, signature, args)
            _store_vector(context, builder, signature.args[0], args[0], args[1], row, stream)
            return context.get_dummy_value()

        return types.void(dst, di, src, base, lo, hi, stride), codegen

    return intrinsic(typer)


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")  # sfence exists only there


@intrinsic
def store_fence(typingctx):
    """sfence: orders the non-temporal stores before it ahead of every store after it (a locked instruction, such
    as the ones ending the parallel region, does not), so other threads see the written tiles."""
    def codegen(context, builder, signature, args):
        if _X86:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse.sfence")
            builder.call(fn, [])
        else:  # other targets (e.g. arm64 laptops): a full fence also orders non-temporal stores
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


def _fill_row_store(stream):
    """Intrinsic dst[di:di + 16] = value: one 64-byte vector store of a constant (non-temporal if `stream`)."""
    def typer(typingctx, dst, di, value):
        def codegen(context, builder, signature, args):
            item = context.cast(builder, args[2], signature.args[2], signature.args[0].dtype)
            vec = ir.VectorType(item.type, TILE)
            one = builder.insert_element(ir.Constant(vec, None), item, ir.IntType(32)(0))
            splat = builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(ir.IntType(32), TILE), [0] * TILE))
            _store_vector(context, builder, signature.args[0], args[0], args[1], splat, stream)
            return context.get_dummy_value()

        return types.void(dst, di, value), codegen

    return intrinsic(typer)


_store_tile_row = _tile_row_store(False)
_stream_tile_row = _tile_row_store(True)
_store_feature_row = _feature_row_store(False)
_stream_feature_row = _feature_row_store(True)
_store_fill_row = _fill_row_store(False)
_stream_fill_row = _fill_row_store(True)


@intrinsic
def _load_tile_row(typingctx, dst, base, lo, hi, src, si):
    """dst[base + lo:+8] ++ dst[base + hi:+8] = src[si:si + 16]: one 16-pixel image row of a tile (a single vector
    load) split into the rows of two side-by-side 8x8 sub-tiles of the scratch layout."""
    def codegen(context, builder, signature, args):
        row = builder.load(_vector_pointer(context, builder, signature.args[4], args[4], args[5], 16), align=4)
        _split_store(context, builder, signature.args[0], args[0], args[1], args[2], args[3], row)
        return context.get_dummy_value()

    return types.void(dst, base, lo, hi, src, si), codegen


@intrinsic
def _load_feature_row(typingctx, dst, base, lo, hi, stride, src, si):
    """The pixel-interleaved features src[si:si + 64] of one 16-pixel tile row, de-interleaved in registers into
    planes c = 0..3 at dst[base + c stride...] (split into two sub-tile rows as in _load_tile_row)."""
    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        pixels = builder.load(_vector_pointer(context, builder, signature.args[5], args[5], args[6], 64), align=4)
        for c in range(4):
            plane = builder.shuffle_vector(pixels, pixels, ir.Constant(ir.VectorType(i32, 16),
                                                                       [4 * i + c for i in range(16)]))
            base = builder.add(args[1], builder.mul(args[4], ir.Constant(args[4].type, c)))
            _split_store(context, builder, signature.args[0], args[0], base, args[2], args[3], plane)
        return context.get_dummy_value()

    return types.void(dst, base, lo, hi, stride, src, si), codegen


@njit(inline="always", cache=True)
def _max_tile_length(tile_start):
    """Largest number of intersections in one tile."""
    m = 0
    for t in range(tile_start.size - 1):
        m = max(m, tile_start[t + 1] - tile_start[t])
    return m


@njit(parallel=True, cache=True, fastmath=True)
def forward(params, tile_start, gid, mask, width, height, tiles_x, feat, trans, last, sub_end, n_threads):
    """Front-to-back alpha compositing of every tile; writes features [H, W, 4], final transmittance [H, W], the
    intersection index each pixel stopped at [H, W] and where each 8x8 sub-tile's loop ended [n_tiles, 4] (a
    sub-tile stops being visited once all its pixels have terminated, checked every CHECK_EVERY of its pairs).
    One parallel work item per thread (n_threads: numba's current thread count; reading it inside the kernel would
    stop numba from caching it), which composites tiles worker, worker + n_threads, ... with one set of scratch
    buffers: every thread gets a share of every image region (the face centre costs far more than the corners),
    so the split stays balanced whatever the content."""
    n_tiles = tile_start.size - 1
    max_len = _max_tile_length(tile_start)
    stream = _can_stream(width, feat, trans, last)
    f1 = feat.reshape(-1)  # flat views made once: a reshape per tile costs a runtime call and two atomic refcounts
    t1 = trans.reshape(-1)
    l1 = last.reshape(-1)
    p1 = params.reshape(-1)
    for worker in prange(n_threads):
        scratch = aligned_empty(FWD_ROWS * TILE_PIXELS, np.float32)
        lists = np.empty((4, max_len + 1), np.int32)
        state = np.empty((4, 4), np.int64)
        local = aligned_empty(2 * TILE_PIXELS, np.float32)
        stop = aligned_empty(TILE_PIXELS, np.int32)
        _init_tile_pixels(local[:_U64_SUB4], local[_U64_SUB4:], stop, 0, 0, TILE, TILE, _BIG_K)
        for t in range(worker, n_tiles, n_threads):
            if t + n_threads < n_tiles and not stream:
                _prefetch_tile_outputs(t + n_threads, tiles_x, width, height, f1, t1, l1)
            _forward_tile(params, tile_start, gid, mask, t, tiles_x, width, height, scratch, lists, state, local,
                          stop, p1, f1, t1, l1, sub_end, stream)
        if stream:
            store_fence()


@njit(inline="always", fastmath=True, cache=True)
def _write_blank_tile(tx, ty, width, f1, t1, l1, stream):
    """Output rows of an interior tile no Gaussian reaches (T = 1, zero features, stop _BIG_K), stored straight from
    constant vectors: most tiles of a sparse scene need no scratch set-up, read-back or shuffles."""
    for r in range(TILE):
        pix = (ty * TILE + r) * width + tx * TILE
        if stream:
            _stream_fill_row(t1, pix, _F1)
            _stream_fill_row(l1, pix, _BIG_K)
            for q in range(4):
                _stream_fill_row(f1, pix * 4 + q * TILE, _F0)
        else:
            _store_fill_row(t1, pix, _F1)
            _store_fill_row(l1, pix, _BIG_K)
            for q in range(4):
                _store_fill_row(f1, pix * 4 + q * TILE, _F0)


@njit(inline="always", cache=True)
def _can_stream(width, feat, trans, last):
    """True when every 16-pixel tile row of the outputs starts on a 64-byte boundary (64-byte aligned images, width
    a multiple of 16), so that tiles can be written with non-temporal stores."""
    aligned = (feat.ctypes.data | trans.ctypes.data | last.ctypes.data) & 63
    return aligned == 0 and width % TILE == 0


@njit(inline="always", cache=True)
def _prefetch_tile_outputs(t, tiles_x, width, height, f1, t1, l1):
    """Ask for the output cache lines of tile t ahead of its store (its row segments are scattered over the
    images, so the stores would otherwise wait for each line)."""
    ty = t // tiles_x
    tx = t - ty * tiles_x
    x0 = tx * TILE
    for y in range(ty * TILE, min(ty * TILE + TILE, height)):
        pix = y * width + x0
        for q in range(0, 4 * min(TILE, width - x0), 16):
            prefetch_write(f1, pix * 4 + q)
        prefetch_write(t1, pix)
        prefetch_write(l1, pix)


@njit(inline="always", fastmath=True, cache=True)
def _forward_tile(params, tile_start, gid, mask, t, tiles_x, width, height, scratch, lists, state, local, stop,
                  p1, f1, t1, l1, sub_end, stream):
    """Composite tile t: its intersections are appended LIST_CHUNK at a time to one list per sub-tile (branch-free),
    then each open sub-tile runs through its new entries, two Gaussians per pass over its pixels. An empty interior
    tile is written out directly. p1, f1, t1, l1: flat views of params and the output images."""
    ty = t // tiles_x
    tx = t - ty * tiles_x
    k0 = tile_start[t]
    k1 = tile_start[t + 1]
    if k0 == k1 and (tx + 1) * TILE <= width and (ty + 1) * TILE <= height:
        for s in range(4):
            sub_end[t, s] = k0
        _write_blank_tile(tx, ty, width, f1, t1, l1, stream)
        return
    alive = _init_forward_tile(scratch, stop, local, tx, ty, width, height)
    for p in range(4):
        sub_end[t, POS_TO_SUB[p]] = k1 if (alive >> p) & 1 else k0
        state[0, p] = 0  # list length
        state[1, p] = 0  # entries composited
        state[2, p] = 0  # pairs since the last termination check
        state[3, p] = p * SUB_PIXELS  # first scratch column (re-read per pass, see _run_sub_tile)
    k = k0
    while k < k1 and alive != 0:
        kc = min(k + LIST_CHUNK, k1)
        _append_sub_lists(mask, k, kc, lists, state)
        _prefetch_params(p1, gid, k, kc)
        for p in range(4):
            if (alive >> p) & 1:
                end = _run_sub_tile(params, gid, lists[p], state, p, scratch, kc == k1)
                if end >= 0:
                    sub_end[t, POS_TO_SUB[p]] = end + 1
                    alive &= ~(1 << p)
        k = kc
    _store_forward_tile(scratch, lists, stop, tx, ty, width, height, f1, t1, l1, stream)


@njit(inline="always", fastmath=True, cache=True)
def _init_forward_tile(scratch, stop, local, tx, ty, width, height):
    """Forward scratch of tile (tx, ty): pixel coordinates (the in-tile offsets `local` shifted by the tile origin,
    exact in float32), T = 1 (-1 = already finished for pixels outside the image, through the general path for
    tiles on the border), zero feature sums and counters. Returns the position mask of sub-tiles with pixels in
    the image."""
    for i in range(_U64_SUB4):
        scratch[_RT + i] = _F1
    for i in range(_U64_SUB4 * _U4):
        scratch[_RF0 + i] = _F0
    for i in range(_U64_SUB4):
        scratch[_RC + i] = _F0
    if (tx + 1) * TILE > width or (ty + 1) * TILE > height:
        alive = _init_tile_pixels(scratch[_RX:_RX + _U64_SUB4], scratch[_RY:_RY + _U64_SUB4], stop, tx, ty, width,
                                  height, _BIG_K)
        for i in range(_U64_SUB4):
            scratch[_RT + i] = _F1 if stop[i] == _BIG_K else _NEG1
        return alive
    x0 = np.float32(tx * TILE)
    y0 = np.float32(ty * TILE)
    for i in range(_U64_SUB4):
        scratch[_RX + i] = local[i] + x0
        scratch[_RY + i] = local[_U64_SUB4 + i] + y0
    return 15


@njit(inline="always", cache=True)
def _prefetch_params(p1, gid, k0, k1):
    """Ask for the parameter rows of intersections k0..k1-1 before the sub-tiles read them (rows are scattered)."""
    for k in range(k0, k1):
        r = np.int64(gid[k]) * N_PARAMS
        prefetch_read(p1, r)
        prefetch_read(p1, r + N_PARAMS - 1)


@njit(inline="always", fastmath=True, cache=True)
def _append_sub_lists(mask, k0, k1, lists, state):
    """Append intersections k0..k1-1 to the lists of the storage positions their sub-tile masks cover (every
    list slot is written, only the lengths depend on the mask: no branches)."""
    n0 = state[0, 0]
    n1 = state[0, 1]
    n2 = state[0, 2]
    n3 = state[0, 3]
    for k in range(k0, k1):
        m = np.int64(mask[k])
        kk = np.int32(k)
        lists[0, n0] = kk
        lists[1, n1] = kk
        lists[2, n2] = kk
        lists[3, n3] = kk
        n0 += m & 1
        n1 += (m >> 1) & 1
        n2 += (m >> 3) & 1  # position 2 holds sub-tile 3, position 3 sub-tile 2
        n3 += (m >> 2) & 1
    state[0, 0] = n0
    state[0, 1] = n1
    state[0, 2] = n2
    state[0, 3] = n3


@njit(inline="always", fastmath=True, cache=True)
def _run_sub_tile(params, gid, entries, state, p, scratch, final):
    """Composite the new list entries of the sub-tile at position p two at a time (a lone last entry only once the
    list is complete); after every CHECK_EVERY of them, test whether all its pixels have terminated. Returns the
    intersection index at which it finished, or -1."""
    since = state[2, p]
    i = state[1, p]
    n = state[0, p]
    while i + 1 < n or (final and i < n):
        # re-read from memory each pass: a loop-invariant column would let LLVM keep all 64 pixels' state in
        # registers across passes, which spills
        base = np.uint64(state[3, p])
        if i + 1 < n:
            _composite_two(params, gid[entries[i]], gid[entries[i + 1]], base, scratch)
            i += 2
            since += 2
        else:
            _composite_one(params, gid[entries[i]], base, scratch)
            i += 1
            since += 1
        if since == CHECK_EVERY:
            since = 0
            if _all_finished(scratch, base):
                state[1, p] = i
                state[2, p] = 0
                return entries[i - 1]
    state[1, p] = i
    state[2, p] = since
    return -1


@njit(inline="always", fastmath=True, cache=True)
def _alphas(params, g, base, row, scratch):
    """Pass 1: alpha of Gaussian g at the 64 pixels base:base + 64 into scratch row `row` (independent per lane,
    so the exponentials of several pixels and Gaussians are in flight together).

    qa, qb, qc are the conic's a / 2, b, c / 2 times -1/16 and ql = log(opacity) / 16, so that
    exp16(dx (qa dx + qb dy) + qc dy^2 + ql) = opacity * exp(-power): the opacity costs an add, not a multiply."""
    mx = params[g, 0]
    my = params[g, 1]
    qa = params[g, 2] * _M32
    qb = params[g, 3] * _M16
    qc = params[g, 4] * _M32
    ql = params[g, 10]
    for jj in range(_U64_SUB):
        j = base + jj
        dx = scratch[_RX + j] - mx
        dy = scratch[_RY + j] - my
        scratch[row + j] = min(exp16(dx * (qa * dx + qb * dy) + (qc * dy * dy + ql)), ALPHA_MAX)


@njit(inline="always", fastmath=True, cache=True)
def _blend(alpha, T):
    """One front-to-back step of a pixel: (weight, new T, 1 if the pixel went on). T > 0 while the pixel is open;
    the Gaussian that would push it below T_MIN terminates it instead, and T is stored negated (|T| is the final
    transmittance), so max(T, 0) = 0 mutes every later Gaussian without a per-pixel stop index. Alphas below
    ALPHA_MIN are skipped."""
    a = alpha if alpha >= ALPHA_MIN else _F0
    Tp = max(T, _F0)
    Tn = Tp * (_F1 - a)
    ok = Tn >= T_MIN
    w = a * Tp if ok else _F0
    return w, (Tn if ok else min(T, -T)), (_F1 if ok else _F0)


@njit(inline="always", fastmath=True, cache=True)
def _composite_two(params, g, h, base, scratch):
    """Gaussians g then h over the 64 pixels base:base + 64: both alpha passes, then one compositing pass that
    loads and stores each pixel's T, feature sums and counter once for the two (the stores bound this loop)."""
    _alphas(params, g, base, _RA, scratch)
    _alphas(params, h, base, _RA2, scratch)
    g0 = params[g, 6]
    g1 = params[g, 7]
    g2 = params[g, 8]
    g3 = params[g, 9]
    h0 = params[h, 6]
    h1 = params[h, 7]
    h2 = params[h, 8]
    h3 = params[h, 9]
    for jj in range(_U64_SUB):
        j = base + jj
        w, T, c = _blend(scratch[_RA + j], scratch[_RT + j])
        v, T, d = _blend(scratch[_RA2 + j], T)
        scratch[_RF0 + j] += w * g0 + v * h0
        scratch[_RF1 + j] += w * g1 + v * h1
        scratch[_RF2 + j] += w * g2 + v * h2
        scratch[_RF3 + j] += w * g3 + v * h3
        scratch[_RT + j] = T
        scratch[_RC + j] += c + d


@njit(inline="always", fastmath=True, cache=True)
def _composite_one(params, g, base, scratch):
    """Gaussian g alone over the 64 pixels base:base + 64 (a sub-tile list's odd last entry)."""
    _alphas(params, g, base, _RA, scratch)
    f0 = params[g, 6]
    f1 = params[g, 7]
    f2 = params[g, 8]
    f3 = params[g, 9]
    for jj in range(_U64_SUB):
        j = base + jj
        w, T, c = _blend(scratch[_RA + j], scratch[_RT + j])
        scratch[_RF0 + j] += w * f0
        scratch[_RF1 + j] += w * f1
        scratch[_RF2 + j] += w * f2
        scratch[_RF3 + j] += w * f3
        scratch[_RT + j] = T
        scratch[_RC + j] += c


@njit(inline="always", fastmath=True, cache=True)
def _all_finished(scratch, base):
    """True when every pixel of the sub-tile stored at base:base + 64 has terminated (T < 0)."""
    top = _NEG1
    for jj in range(_U64_SUB):
        top = max(top, scratch[_RT + base + jj])
    return top < _F0


@njit(inline="always", fastmath=True, cache=True)
def _store_forward_tile(scratch, lists, stop, tx, ty, width, height, f1, t1, l1, stream):
    """Copy a finished tile's pixels into the flat output images: per-pixel final transmittance and stop index
    first (vectorised over the scratch, one sub-tile at a time), then whole 16-pixel tile rows with 64-byte vector
    stores (non-temporal if `stream`: no read of the old lines); border tiles go through the row-by-row path."""
    if (tx + 1) * TILE > width or (ty + 1) * TILE > height:
        _store_border_tile(scratch, lists, tx, ty, width, height, f1, t1, l1)
        return
    for p in range(4):
        _finish_sub_tile(scratch, lists[p], stop, np.uint64(p * SUB_PIXELS))
    _write_tile_rows(scratch, stop, tx, ty, width, f1, t1, l1, stream)


@njit(inline="always", fastmath=True, cache=True)
def _write_tile_rows(scratch, stop, tx, ty, width, f1, t1, l1, stream):
    """Whole 16-pixel rows of an interior tile from the scratch (T, features) and stop index planes into the
    images (flat views), one 64-byte vector store per row and image (non-temporal if `stream`)."""
    for r in range(TILE):
        lo, hi = _tile_row_offsets(r)
        pix = (ty * TILE + r) * width + tx * TILE
        if stream:
            _stream_tile_row(t1, pix, scratch, _RT, lo, hi)
            _stream_tile_row(l1, pix, stop, _U0, lo, hi)
            _stream_feature_row(f1, pix * 4, scratch, _RF0, lo, hi, _U64_SUB4)
        else:
            _store_tile_row(t1, pix, scratch, _RT, lo, hi)
            _store_tile_row(l1, pix, stop, _U0, lo, hi)
            _store_feature_row(f1, pix * 4, scratch, _RF0, lo, hi, _U64_SUB4)


@njit(inline="always", fastmath=True, cache=True)
def _finish_sub_tile(scratch, entries, stop, base):
    """Final transmittance |T| and stop index of the 64 pixels base:base + 64: a terminated pixel's stop index is
    its list entry at its pair counter, an open pixel's _BIG_K. The list look-up (a gather) runs only if some pixel
    of the sub-tile terminated, which in sparse scenes most never do."""
    closed = _F0
    for jj in range(_U64_SUB):
        closed += min(scratch[_RT + base + jj], _F0)
    if closed < _F0:
        for jj in range(_U64_SUB):
            i = base + jj
            T = scratch[_RT + i]
            stop[i] = _BIG_K if T > _F0 else entries[np.int64(scratch[_RC + i])]
            scratch[_RT + i] = abs(T)
    else:
        for jj in range(_U64_SUB):
            stop[base + jj] = _BIG_K


@njit(inline="always", fastmath=True, cache=True)
def _store_border_tile(scratch, lists, tx, ty, width, height, f1, t1, l1):
    """Copy a finished border tile's pixels into the output images, one 8-pixel row of a sub-tile at a time."""
    for p in range(4):
        x0, y0 = _sub_origin(tx, ty, p)
        nu = min(SUB, width - x0)
        for r in range(min(SUB, height - y0)):
            row = np.uint64((y0 + r) * width + x0)
            base = np.uint64(p * SUB_PIXELS + r * SUB)
            if nu == SUB:
                _store_row(scratch, lists[p], base, row, _U8, f1, t1, l1)
            else:
                _store_row(scratch, lists[p], base, row, np.uint64(nu), f1, t1, l1)


@njit(inline="always", fastmath=True, cache=True)
def _store_row(scratch, entries, base, row, n, f1, t1, l1):
    """n pixels of one sub-tile row: scratch columns base.. to image pixels row.. (features interleaved); a
    terminated pixel's stop index is its sub-tile's list entry at its pair counter, an open pixel's _BIG_K."""
    for c in range(n):
        t1[row + c] = abs(scratch[_RT + base + c])
    for c in range(n):
        open_ = scratch[_RT + base + c] > _F0
        l1[row + c] = _BIG_K if open_ else entries[np.int64(scratch[_RC + base + c])]
    for c in range(n):
        q = (row + c) * _U4
        f1[q] = scratch[_RF0 + base + c]
        f1[q + _U1] = scratch[_RF1 + base + c]
        f1[q + _U2] = scratch[_RF2 + base + c]
        f1[q + _U3] = scratch[_RF3 + base + c]


@njit(parallel=True, cache=True, fastmath=True)
def backward(params, tile_start, gid, mask, width, height, tiles_x, feat, trans, last, sub_end, grad_feat,
             grad_alpha, isect_grads, n_threads):
    """Gradient sums of every intersection [n_isect, 10] (each tile owns its slots: no atomics), replaying the
    forward front to back with the stored stop indices; the rest of each pixel's colour comes from the forward
    output, so no division-by-(1 - alpha) transmittance recovery is needed. Each Gaussian is processed once per
    tile, over the runs of its live sub-tiles, so its ten lane sums are reduced once per run. Work split and
    n_threads as in `forward`."""
    n_tiles = tile_start.size - 1
    f1 = feat.reshape(-1)  # flat views made once (see forward)
    t1 = trans.reshape(-1)
    l1 = last.reshape(-1)
    g1 = grad_feat.reshape(-1)
    a1 = grad_alpha.reshape(-1)
    for worker in prange(n_threads):
        scratch = np.empty((BWD_ROWS, TILE_PIXELS), np.float32)
        s1 = scratch.reshape(-1)
        stop = np.empty(TILE_PIXELS, np.int32)
        local = aligned_empty(2 * TILE_PIXELS, np.float32)
        _init_tile_pixels(local[:_U64_SUB4], local[_U64_SUB4:], stop, 0, 0, TILE, TILE, _BIG_K)
        for t in range(worker, n_tiles, n_threads):
            _backward_tile(params, tile_start, gid, mask, t, tiles_x, width, height, f1, t1, l1, sub_end, g1, a1,
                           isect_grads, scratch, s1, stop, local)


@njit(inline="always", fastmath=True, cache=True)
def _backward_tile(params, tile_start, gid, mask, t, tiles_x, width, height, f1, t1, l1, sub_end, g1, a1,
                   isect_grads, scratch, s1, stop, local):
    """Gradient sums of tile t's intersections (zero for those its sub-tiles never reached)."""
    ty = t // tiles_x
    tx = t - ty * tiles_x
    k0 = tile_start[t]
    k1 = tile_start[t + 1]
    if k0 == k1:  # no Gaussian reaches the tile (most of a sparse scene): nothing to load
        return
    _load_backward_tile(scratch, s1, stop, local, tx, ty, width, height, f1, t1, l1, g1, a1)
    e0 = sub_end[t, 0]
    e1 = sub_end[t, 1]
    e2 = sub_end[t, 3]  # position 2 holds sub-tile 3, position 3 sub-tile 2
    e3 = sub_end[t, 2]
    kmax = max(max(e0, e1), max(e2, e3))
    for k in range(k0, k1):
        pm = _positions(mask[k]) if k < kmax else 0
        pm &= (k < e0) | ((k < e1) << 1) | ((k < e2) << 2) | ((k < e3) << 3)
        if pm == 0:
            for i in range(N_GRADS):
                isect_grads[k, i] = _F0
            continue
        _backward_gaussian(params, gid[k], np.int32(k), pm, scratch, stop, isect_grads, k)


BWD_ROWS = 16  # backward scratch rows: x, y, T, running sum q, 4 dL/dfeature, K, opacity * G, and (loading only)
# the 4 forward features, final transmittance and dL/dalpha of each pixel


@njit(inline="always", fastmath=True, cache=True)
def _load_backward_tile(scratch, s1, stop, local, tx, ty, width, height, f1, t1, l1, g1, a1):
    """Per-pixel state for the backward replay, in position order: coordinates (the in-tile offsets `local` shifted
    by the tile origin; tiles on the image border through the general path), T = 1, running sum 0, dL/dfeature and
    K = dL/dC . C - dL/dalpha * T_final (the part of dL/dalpha_i that depends on what lies behind Gaussian i); zero
    for pixels outside the image."""
    border = (tx + 1) * TILE > width or (ty + 1) * TILE > height
    if border:
        _init_tile_pixels(scratch[0], scratch[1], stop, tx, ty, width, height, np.int32(-1))
    else:
        x0 = np.float32(tx * TILE)
        y0 = np.float32(ty * TILE)
        for i in range(_U64_SUB4):
            scratch[0, i] = local[i] + x0
            scratch[1, i] = local[_U64_SUB4 + i] + y0
    for i in range(TILE_PIXELS):
        scratch[2, i] = _F1
        scratch[3, i] = _F0
    if border:
        _load_border_outputs(scratch, stop, tx, ty, width, height, f1, t1, l1, g1, a1)
    else:
        _load_interior_outputs(scratch, s1, stop, tx, ty, width, f1, t1, l1, g1, a1)


@njit(inline="always", fastmath=True, cache=True)
def _load_interior_outputs(scratch, s1, stop, tx, ty, width, f1, t1, l1, g1, a1):
    """The forward outputs and their gradients of a tile inside the image, whole 16-pixel rows at a time (one
    vector load per row and image; features de-interleaved in registers), then K over the 256 pixels."""
    for r in range(TILE):
        lo, hi = _tile_row_offsets(r)
        pix = (ty * TILE + r) * width + tx * TILE
        _load_feature_row(s1, 4 * TILE_PIXELS, lo, hi, TILE_PIXELS, g1, pix * 4)
        _load_feature_row(s1, 10 * TILE_PIXELS, lo, hi, TILE_PIXELS, f1, pix * 4)
        _load_tile_row(s1, 14 * TILE_PIXELS, lo, hi, t1, pix)
        _load_tile_row(s1, 15 * TILE_PIXELS, lo, hi, a1, pix)
        _load_tile_row(stop, 0, lo, hi, l1, pix)
    for i in range(TILE_PIXELS):
        scratch[8, i] = (scratch[4, i] * scratch[10, i] + scratch[5, i] * scratch[11, i]
                         + scratch[6, i] * scratch[12, i] + scratch[7, i] * scratch[13, i]
                         - scratch[15, i] * scratch[14, i])


@njit(inline="always", cache=True)
def _tile_row_offsets(r):
    """Scratch offsets of the left and right halves of tile row r (positions 0, 1 on top; 3, 2 below)."""
    if r < SUB:
        return np.uint64(r * SUB), np.uint64(SUB_PIXELS + r * SUB)
    return np.uint64(3 * SUB_PIXELS + (r - SUB) * SUB), np.uint64(2 * SUB_PIXELS + (r - SUB) * SUB)


@njit(inline="always", fastmath=True, cache=True)
def _load_border_outputs(scratch, stop, tx, ty, width, height, f1, t1, l1, g1, a1):
    """As _load_interior_outputs for a tile on the image border, pixel by pixel (zero outside the image)."""
    for row in range(4, 9):
        for i in range(TILE_PIXELS):
            scratch[row, i] = _F0
    for p in range(4):
        x0, y0 = _sub_origin(tx, ty, p)
        nu = min(SUB, width - x0)
        for r in range(min(SUB, height - y0)):
            row = np.uint64((y0 + r) * width + x0)
            base = np.uint64(p * SUB_PIXELS + r * SUB)
            for c in range(np.uint64(nu)):
                i = base + c
                pix = row + c
                q = pix * _U4
                g0 = g1[q]
                gg1 = g1[q + _U1]
                g2 = g1[q + _U2]
                g3 = g1[q + _U3]
                scratch[4, i] = g0
                scratch[5, i] = gg1
                scratch[6, i] = g2
                scratch[7, i] = g3
                scratch[8, i] = (g0 * f1[q] + gg1 * f1[q + _U1] + g2 * f1[q + _U2] + g3 * f1[q + _U3]
                                 - a1[pix] * t1[pix])
                stop[i] = l1[pix]


@njit(inline="always", fastmath=True, cache=True)
def _backward_gaussian(params, g, kk, pm, scratch, stop, isect_grads, k):
    """All gradient sums of Gaussian g (intersection k) over the runs of its live positions pm in one tile."""
    mx = params[g, 0]
    my = params[g, 1]
    qa = params[g, 2] * _M32  # the exponent's coefficients, scaled by -1/16 (see exp16)
    qb = params[g, 3] * _M16
    qc = params[g, 4] * _M32
    ql = params[g, 10]  # log(opacity) / 16
    f0 = params[g, 6]
    f1 = params[g, 7]
    f2 = params[g, 8]
    f3 = params[g, 9]
    s = _backward_span(POSITION_RUNS[pm, 0], POSITION_RUNS[pm, 1], mx, my, qa, qb, qc, ql, f0, f1, f2, f3, kk,
                       scratch, stop)
    if POSITION_RUNS[pm, 3] != 0:
        r = _backward_span(POSITION_RUNS[pm, 2], POSITION_RUNS[pm, 3], mx, my, qa, qb, qc, ql, f0, f1, f2, f3, kk,
                           scratch, stop)
        s = (s[0] + r[0], s[1] + r[1], s[2] + r[2], s[3] + r[3], s[4] + r[4], s[5] + r[5], s[6] + r[6],
             s[7] + r[7], s[8] + r[8], s[9] + r[9])
    for i in range(N_GRADS):
        isect_grads[k, i] = s[i]


@njit(inline="always", fastmath=True, cache=True)
def _backward_span(p, n_sub, mx, my, qa, qb, qc, ql, f0, f1, f2, f3, kk, scratch, stop):
    """Gradient sums over the n_sub consecutive sub-tiles stored from position p, through a copy of the inner loop
    specialised for that length (a fixed trip count lets LLVM prove the scratch rows do not overlap)."""
    lo = np.uint64(p * SUB_PIXELS)
    if n_sub == 1:
        return _backward_run(lo, _U64_SUB, mx, my, qa, qb, qc, ql, f0, f1, f2, f3, kk, scratch, stop)
    if n_sub == 2:
        return _backward_run(lo, _U64_SUB2, mx, my, qa, qb, qc, ql, f0, f1, f2, f3, kk, scratch, stop)
    if n_sub == 3:
        return _backward_run(lo, _U64_SUB3, mx, my, qa, qb, qc, ql, f0, f1, f2, f3, kk, scratch, stop)
    return _backward_run(lo, _U64_SUB4, mx, my, qa, qb, qc, ql, f0, f1, f2, f3, kk, scratch, stop)


@njit(inline="always", fastmath=True, cache=True)
def _backward_run(lo, n, mx, my, qa, qb, qc, ql, f0, f1, f2, f3, kk, scratch, stop):
    """One Gaussian's gradient sums over the n contiguous pixels lo:lo + n of the tile scratch (the vectorised inner
    loop; n is a compile-time constant after inlining, so LLVM proves the scratch rows do not overlap); updates T
    and the running colour sum q of those pixels."""
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
    for jj in range(n):  # pass 1: the exponentials alone (a short dependency chain per lane: no register spills,
        j = lo + jj       # and the out-of-order window covers several iterations)
        dx = scratch[0, j] - mx
        dy = scratch[1, j] - my
        scratch[9, j] = exp16(dx * (qa * dx + qb * dy) + (qc * dy * dy + ql))  # opacity * G
    for jj in range(n):  # pass 2: compositing replay and gradient sums
        j = lo + jj
        dx = scratch[0, j] - mx
        dy = scratch[1, j] - my
        raw = scratch[9, j]
        alpha = min(raw, ALPHA_MAX)
        live = (alpha >= ALPHA_MIN) & (kk < stop[j])
        Tj = scratch[2, j]
        g0 = scratch[4, j]
        g1 = scratch[5, j]
        g2 = scratch[6, j]
        g3 = scratch[7, j]
        gf = g0 * f0 + g1 * f1 + g2 * f2 + g3 * f3
        w = alpha * Tj if live else _F0
        qn = scratch[3, j] + w * gf
        one_minus = _F1 - alpha
        d_alpha = Tj * gf - (scratch[8, j] - qn) / one_minus
        d_alpha = d_alpha if (live & (raw < ALPHA_MAX)) else _F0
        s_f0 += w * g0
        s_f1 += w * g1
        s_f2 += w * g2
        s_f3 += w * g3
        s_o += d_alpha * raw  # opacity * dL/dopacity (divided by the opacity in the reduce)
        d_p = -alpha * d_alpha
        t_x = d_p * dx
        t_y = d_p * dy
        s_x += t_x
        s_y += t_y
        s_xx += t_x * dx
        s_xy += t_x * dy
        s_yy += t_y * dy
        scratch[2, j] = Tj * one_minus if live else Tj
        scratch[3, j] = qn
    return (s_f0, s_f1, s_f2, s_f3, s_o, s_x, s_y, s_xx, s_xy, s_yy)


@njit(parallel=True, cache=True, fastmath=True)
def reduce_gradients(params, gid, isect_grads, n_chunks, grad_params):
    """Per-Gaussian gradients [N, 10] (means2d, conic a/b/c, opacity, features) from the intersection sums.

    Call with static scheduling (chunksize 0). Each of `n_chunks` threads streams a contiguous run of intersections
    into its own [N, 10] partial sum (reads stay sequential, the scattered adds hit a cache-resident buffer, no
    atomics); the partials are then summed and turned into gradients w.r.t. the 2D mean and conic. The opacity sum
    holds opacity * dL/dopacity (the kernels fold the opacity into the exponent), so it is divided by the opacity.
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
            o = params[g, 5]
            grad_params[g, 5] = acc[4] / o if o > 0 else _F0
            for i in range(4):
                grad_params[g, 6 + i] = acc[i]
