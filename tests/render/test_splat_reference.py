"""The dense torch reference (the oracle of the numba rasterizer) against finite differences in float64."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from talkface.render.splat import _kernels as K
from talkface.render.splat.reference import rasterize_reference, torch_exp_neg_poly

from conftest import PARAM_NAMES, close_camera, small_scene, weighted_loss, with_grad


@pytest.mark.parametrize("sh_coeffs", [0, 9])
def test_reference_gradients_match_finite_differences(sh_coeffs, loss_weights):
    """Directional derivatives of every parameter (and the background image) agree with central differences."""
    cam = close_camera(12, 10)
    scene = with_grad(small_scene(40, seed=3, sh_coeffs=sh_coeffs), torch.float64)
    background = torch.rand(10, 12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    background.requires_grad_(True)
    weights = loss_weights(10, 12, seed=1)

    def loss_of(params, bg):
        return weighted_loss(rasterize_reference(**params, camera=cam, background=bg), weights)

    out = rasterize_reference(**scene, camera=cam, background=background)
    assert out["alpha"].max() > 0.5, "the scene must cover the image for the check to mean anything"
    loss_of(scene, background).backward()
    gen = torch.Generator().manual_seed(7)
    eps = 1e-6
    for name in PARAM_NAMES + ("background",):
        leaf = background if name == "background" else scene[name]
        direction = torch.randn(leaf.shape, generator=gen, dtype=torch.float64)
        analytic = float((leaf.grad * direction).sum())

        def shifted(sign):
            params = {k: v.detach() for k, v in scene.items()}
            bg = background.detach()
            if name == "background":
                bg = bg + sign * eps * direction
            else:
                params[name] = params[name] + sign * eps * direction
            return float(loss_of(params, bg))

        numeric = (shifted(1) - shifted(-1)) / (2 * eps)
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7), name


def test_polynomial_exp_is_accurate():
    """The kernels' exp(-p) is within 5e-6 relative of math.exp on [0, 8], clamps beyond, and the torch copy
    used by the tests is the same function."""
    p = np.linspace(0.0, 8.0, 20001, dtype=np.float32)
    approx = np.array([K.exp_neg(np.float32(x)) for x in p[::50]], dtype=np.float64)
    exact = np.exp(-p[::50].astype(np.float64))
    assert np.max(np.abs(approx / exact - 1)) < 5e-6
    assert K.exp_neg(np.float32(30.0)) == pytest.approx(math.exp(-8.0), rel=1e-5)
    torch_version = torch_exp_neg_poly(torch.from_numpy(p[::50]).double()).numpy()
    assert np.max(np.abs(torch_version / approx - 1)) < 4e-6  # float32 rounding of the kernel
