"""End to end: gradient descent through the rasterizer recovers a scene from its image (what avatar fitting does)."""
from __future__ import annotations

import numba
import pytest
import torch

from talkface.render.splat import rasterize

from conftest import close_camera, small_scene


@pytest.fixture
def one_thread():
    """Run on one thread: 60 tiny iterations are dominated by thread wake-ups when the machine is busy."""
    saved = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    numba.set_num_threads(saved[0])
    torch.set_num_threads(saved[1])


def test_adam_fits_perturbed_gaussians_back_to_the_target_image(one_thread):
    """Starting from moved, recoloured, resized Gaussians, 60 Adam steps on an L1 + depth loss cut the colour error
    at least 5x and the depth error at least 2x (gradients through every parameter and the depth output work)."""
    cam = close_camera(48, 40)
    truth = small_scene(150, seed=8)
    target = rasterize(**truth, camera=cam, background=torch.ones(3))
    gen = torch.Generator().manual_seed(9)
    start = {k: v.clone() for k, v in truth.items()}
    start["means"] += 0.01 * torch.randn(150, 3, generator=gen)
    start["colors"] = torch.rand(150, 3, generator=gen)
    start["log_scales"] += 0.3 * torch.randn(150, 3, generator=gen)
    params = {k: v.clone().requires_grad_(True) for k, v in start.items()}
    optimizer = torch.optim.Adam([{"params": [params["means"]], "lr": 3e-4},
                                  {"params": [v for k, v in params.items() if k != "means"], "lr": 2e-2}])

    def errors() -> tuple[float, float]:
        with torch.no_grad():
            out = rasterize(**params, camera=cam, background=torch.ones(3))
        return float((out["rgb"] - target["rgb"]).abs().mean()), float((out["depth"] - target["depth"]).abs().mean())

    rgb_before, depth_before = errors()
    for _ in range(60):
        optimizer.zero_grad()
        out = rasterize(**params, camera=cam, background=torch.ones(3))
        loss = (out["rgb"] - target["rgb"]).abs().mean() + 0.1 * (out["depth"] - target["depth"]).abs().mean()
        loss.backward()
        optimizer.step()
    rgb_after, depth_after = errors()
    assert rgb_after < rgb_before / 5
    assert depth_after < depth_before / 2
