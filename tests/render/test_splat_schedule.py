"""Parallel scheduling of the tile kernels: every tile is composited exactly once, by one thread, whatever the
thread count, so images do not depend on it and gradients only through the order of the final float sums."""
from __future__ import annotations

import numba

from talkface.render.splat import rasterize

from conftest import PARAM_NAMES, close_camera, rel_l2, small_scene, with_grad


def test_images_and_gradients_do_not_depend_on_the_thread_count(loss_weights):
    """One and two numba threads give bit-identical images and gradients equal to float32 rounding (the
    per-Gaussian reduce sums its partials in a thread-dependent order)."""
    scene, cam = small_scene(500, seed=9), close_camera(70, 45)
    weights = loss_weights(45, 70)
    results = []
    saved = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            params = with_grad(scene)
            out = rasterize(**params, camera=cam)
            sum((out[k] * weights[k].float()).sum() for k in weights).backward()
            results.append((out, params))
    finally:
        numba.set_num_threads(saved)
    (out1, p1), (out2, p2) = results
    for key in ("rgb", "alpha", "depth"):
        assert (out1[key] == out2[key]).all(), key
    for name in PARAM_NAMES:
        assert p1[name].grad.abs().max() > 0
        assert rel_l2(p2[name].grad, p1[name].grad) < 1e-5, name
