"""The forward kernel's bookkeeping for the backward: per-pixel stop indices and per-sub-tile loop ends."""
from __future__ import annotations

import numba
import numpy as np
import torch

from talkface.render.splat import _kernels as K
from talkface.render.splat.projection import project_gaussians
from talkface.render.splat.rasterizer import bin_gaussians, pack_params

from conftest import close_camera, small_scene


def forward_outputs(width: int, height: int, n: int, seed: int):
    """Bins and raw forward outputs (feat, trans, last, sub_end) of a small deep scene."""
    scene, cam = small_scene(n, seed=seed), close_camera(width, height)
    with torch.no_grad():
        proj = project_gaussians(scene["means"], scene["log_scales"], scene["quats"], cam)
        params, order = pack_params(proj.means2d, proj.conics, torch.sigmoid(scene["opacity_logits"]),
                                    scene["colors"], proj.depths)
    bins = bin_gaussians(params, proj.valid.numpy()[order], width, height)
    feat = np.empty((height, width, 4), np.float32)
    trans = np.empty((height, width), np.float32)
    last = np.empty((height, width), np.int32)
    sub_end = np.empty((bins.tiles_x * bins.tiles_y, 4), np.int64)
    K.forward(params, bins.tile_start, bins.gid, bins.mask, width, height, bins.tiles_x, feat, trans, last, sub_end,
              numba.get_num_threads())
    return bins, trans, last, sub_end


def test_stop_indices_point_into_the_pixels_own_sub_tile_list():
    """A terminated pixel's stop index is an intersection of its tile whose mask covers its sub-tile, lies before
    where that sub-tile's loop ended, and leaves transmittance >= 1e-4; open pixels report the sentinel."""
    width, height = 45, 37
    bins, trans, last, sub_end = forward_outputs(width, height, 600, seed=3)
    stopped = open_ = 0
    for v in range(height):
        for u in range(width):
            t = (v // K.TILE) * bins.tiles_x + u // K.TILE
            s = (u % K.TILE) // K.SUB + 2 * ((v % K.TILE) // K.SUB)
            k = int(last[v, u])
            assert trans[v, u] >= K.T_MIN * (1 - 1e-6)
            if k == K._BIG_K:
                open_ += 1
                assert sub_end[t, s] == bins.tile_start[t + 1]
                continue
            stopped += 1
            assert bins.tile_start[t] <= k < sub_end[t, s]
            assert (bins.mask[k] >> s) & 1
    assert stopped > 100 and open_ > 100, "the scene must have both terminated and open pixels"
