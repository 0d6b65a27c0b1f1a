"""Edge cases of the rasterizer: culled Gaussians, empty scenes, degenerate shapes, bad values, odd image sizes."""
from __future__ import annotations

import math

import pytest
import torch

from talkface.render.splat import Camera, NonFiniteGaussiansError, rasterize
from talkface.render.splat.reference import rasterize_reference

from conftest import PARAM_NAMES, close_camera, rel_l2, small_scene, with_grad

BG = torch.tensor([0.25, 0.5, 0.75])


def concat(a: dict, b: dict) -> dict:
    """Two scenes as one (parameters concatenated along the Gaussian axis)."""
    return {k: torch.cat([a[k], b[k]]) for k in a}


def extra_gaussians(means: torch.Tensor, log_scale: float = math.log(0.02)) -> dict:
    """Opaque white Gaussians at the given means."""
    n = means.shape[0]
    return {"means": means, "log_scales": torch.full((n, 3), log_scale), "quats": torch.tensor([[1.0, 0, 0, 0]] * n),
            "opacity_logits": torch.full((n,), 4.0), "colors": torch.ones(n, 3)}


def test_gaussians_behind_camera_or_off_screen_change_nothing():
    """Gaussians behind the camera, on the camera plane or far outside the frustum leave the image exactly
    as it was and receive zero (finite) gradients; the visible ones get the same gradients as before."""
    cam = close_camera(40, 30)
    base = small_scene(200, seed=4)
    culled = extra_gaussians(torch.tensor([[0.0, 0.0, -1.5], [0.05, 0.0, -1.0], [0.0, 0.0, -1.0 + 1e-4],
                                           [3.0, 0.0, 0.0], [0.0, -5.0, 0.5], [40.0, 40.0, 2.0]]))
    ref = rasterize(**base, camera=cam, background=BG)
    params = with_grad(concat(base, culled))
    out = rasterize(**params, camera=cam, background=BG)
    for key in ("rgb", "alpha", "depth"):
        assert torch.equal(out[key], ref[key]), key
    (out["rgb"].sum() + out["depth"].sum()).backward()
    for name in PARAM_NAMES:
        grad = params[name].grad
        assert torch.isfinite(grad).all(), name
        assert torch.all(grad[200:] == 0), name
    assert torch.all(out["radii"][200:] == 0)


def test_zero_gaussians_render_the_background():
    """An empty scene is the background, alpha 0 and depth 0, and the background still gets its gradient."""
    cam = close_camera(19, 23)
    empty = {"means": torch.zeros(0, 3), "log_scales": torch.zeros(0, 3), "quats": torch.zeros(0, 4),
             "opacity_logits": torch.zeros(0), "colors": torch.zeros(0, 3)}
    bg = torch.rand(23, 19, 3, requires_grad=True)
    out = rasterize(**empty, camera=cam, background=bg)
    assert torch.equal(out["rgb"], bg.detach())
    assert torch.all(out["alpha"] == 0) and torch.all(out["depth"] == 0)
    out["rgb"].sum().backward()
    assert torch.all(bg.grad == 1)


def test_degenerate_scales_and_rotations_render_like_the_reference():
    """Needle- and disc-shaped Gaussians (log-scales of -30 on some axes), point-like ones, a huge one and
    zero or unnormalised quaternions give finite images and gradients that match the reference."""
    base = small_scene(150, seed=6)
    base["log_scales"][:20, 0] = -30.0  # discs
    base["log_scales"][20:40, :2] = -30.0  # needles
    base["log_scales"][40:50] = -30.0  # points: only the 0.3 px^2 screen blur is left
    base["log_scales"][50] = 2.0  # 7 m wide, covers everything
    base["opacity_logits"][50] = -4.0
    base["quats"][60:70] = 0.0  # zero quaternion = identity
    base["quats"][70:80] *= 1e3
    cam = close_camera(24, 20)
    fast, slow = with_grad(base), with_grad(base, torch.float64)
    out_fast = rasterize(**fast, camera=cam, background=BG)
    out_slow = rasterize_reference(**slow, camera=cam, background=BG.double())
    assert (out_fast["rgb"].double() - out_slow["rgb"]).abs().max() < 1e-4
    (out_fast["rgb"] * torch.linspace(0, 1, 3)).sum().backward()
    (out_slow["rgb"] * torch.linspace(0, 1, 3).double()).sum().backward()
    for name in PARAM_NAMES:
        assert torch.isfinite(fast[name].grad).all(), name
        assert rel_l2(fast[name].grad, slow[name].grad) <= 1e-4, name


@pytest.mark.parametrize("name,value", [("means", float("nan")), ("log_scales", float("inf")),
                                        ("quats", float("nan")), ("opacity_logits", -float("inf")),
                                        ("colors", float("nan"))])
def test_non_finite_parameters_are_rejected_with_a_clear_error(name, value):
    """NaN or inf anywhere raises NonFiniteGaussiansError (a ValueError) naming the tensor and the count."""
    scene = small_scene(10, seed=0)
    scene[name].view(-1)[3] = value
    with pytest.raises(NonFiniteGaussiansError, match=rf"{name} \(1 values\)") as info:
        rasterize(**scene, camera=close_camera(16, 16))
    assert isinstance(info.value, ValueError) and "diverged" in str(info.value)


def test_bad_shapes_and_background_are_rejected():
    """Mismatched parameter shapes and a background of the wrong size raise ValueError before any work."""
    scene = small_scene(10, seed=0)
    cam = close_camera(16, 16)
    with pytest.raises(ValueError, match="log_scales"):
        rasterize(**{**scene, "log_scales": scene["log_scales"][:9]}, camera=cam)
    with pytest.raises(ValueError, match="colors"):
        rasterize(**{**scene, "colors": scene["colors"][:, :2]}, camera=cam)
    with pytest.raises(ValueError, match="background"):
        rasterize(**scene, camera=cam, background=torch.zeros(15, 16, 3))
    with pytest.raises(ValueError, match="SH"):
        rasterize(**{**scene, "colors": torch.zeros(10, 5, 3)}, camera=cam)
    with pytest.raises(NonFiniteGaussiansError, match="background"):
        rasterize(**scene, camera=cam, background=torch.tensor([0.0, float("nan"), 0.0]))
    with pytest.raises(ValueError, match="image size"):
        Camera(10.0, 10.0, 0.0, 0.0, 0, 10)


@pytest.mark.parametrize("width,height", [(1, 1), (7, 3), (17, 33), (100, 9)])
def test_image_sizes_that_are_not_tile_multiples(width, height):
    """Odd sizes give the reference image, including the last partial tile row and column."""
    scene = small_scene(120, seed=width + height)
    cam = Camera.looking_at_origin(width, height, distance=1.0, focal=1.5 * max(width, height))
    out = rasterize(**scene, camera=cam, background=BG)
    ref = rasterize_reference(**{k: v.double() for k, v in scene.items()}, camera=cam, background=BG.double())
    assert out["rgb"].shape == (height, width, 3)
    assert (out["rgb"].double() - ref["rgb"]).abs().max() < 1e-4
    assert (out["alpha"].double() - ref["alpha"]).abs().max() < 1e-4
    if width * height > 1:
        assert ref["alpha"][-1].max() > 0.01 or ref["alpha"][:, -1].max() > 0.01, "edge pixels must be covered"


def test_faint_gaussians_are_skipped_exactly_below_1_over_255():
    """A lone Gaussian whose opacity is under 1/255 leaves no trace; just above it, it shows at its centre."""
    cam = Camera.looking_at_origin(9, 9, distance=1.0, focal=9.0)
    lone = extra_gaussians(torch.zeros(1, 3), log_scale=math.log(0.2))
    for opacity, visible in ((0.99 / 255, False), (1.05 / 255, True)):
        lone["opacity_logits"] = torch.tensor([math.log(opacity / (1 - opacity))])
        alpha = rasterize(**lone, camera=cam)["alpha"]
        assert (alpha[4, 4].item() > 0) == visible
        if visible:
            assert alpha[4, 4].item() == pytest.approx(opacity, rel=1e-4)
