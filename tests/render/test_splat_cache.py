"""The numba kernels compile once: a fresh process loads every kernel from the on-disk cache (no recompilation).
How long that start takes is measured in bench/rasterizer.py, not asserted here."""
from __future__ import annotations

import json
import subprocess
import sys

from talkface.render.splat import face_like_scene, rasterize
from talkface.render.splat.scenes import face_camera

CHILD = r"""
import json, torch
from talkface.render.splat import rasterize, face_like_scene
from talkface.render.splat import _kernels as K, _projection_kernels as PK
from talkface.render.splat.scenes import face_camera
scene = {k: v.requires_grad_(True) for k, v in face_like_scene(300, seed=0).items()}
rasterize(**scene, camera=face_camera(40))["rgb"].sum().backward()
kernels = [K.tile_box_sizes, K.cull_tiles, K.gather_by_depth, K.sort_by_tile, K.forward, K.backward,
           K.reduce_gradients, PK.project_forward, PK.project_backward]
print(json.dumps({k.__name__: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]
                  for k in kernels}))
"""


def run_child() -> dict[str, list[int]]:
    """Render and backprop once in a new interpreter; returns {kernel: [cache hits, cache misses]}."""
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_loads_every_kernel_from_the_cache():
    """After this process has compiled (or loaded) and cached the kernels, a new one hits the cache for all."""
    scene = {k: v.requires_grad_(True) for k, v in face_like_scene(30, seed=0).items()}
    rasterize(**scene, camera=face_camera(16))["rgb"].sum().backward()  # compiles and caches on a fresh checkout
    stats = run_child()
    assert set(stats) == {"tile_box_sizes", "cull_tiles", "gather_by_depth", "sort_by_tile", "forward", "backward",
                          "reduce_gradients", "project_forward", "project_backward"}
    for name, (hits, misses) in stats.items():
        assert hits >= 1 and misses == 0, f"{name} was recompiled: hits={hits} misses={misses}"
