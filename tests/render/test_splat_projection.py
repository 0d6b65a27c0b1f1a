"""The fused numba projection (forward and hand-written backward) against the torch definition."""
from __future__ import annotations

import torch

from talkface.render.splat import Camera, face_like_scene, project_gaussians

from conftest import rel_l2


def awkward_scene() -> dict[str, torch.Tensor]:
    """Face-like Gaussians plus degenerate scales, zero and huge quaternions, points behind the camera and far
    outside the frustum (where the Jacobian's x/z clamp is active)."""
    scene = face_like_scene(3000, seed=0)
    scene["log_scales"][:10, 0] = -30.0
    scene["quats"][10:20] = 0.0
    scene["quats"][20:30] *= 1e4
    scene["means"][30:40, 2] = -1.5
    scene["means"][40:50, 0] = 2.0
    scene["log_scales"][50] = 12.0
    return {k: scene[k] for k in ("means", "log_scales", "quats")}


def test_numba_projection_matches_torch_forward_and_backward():
    """Outputs and the gradients of a random loss on them agree to float32 precision."""
    cam = Camera.looking_at_origin(64, 48, distance=1.0, focal=70.0)
    results = {}
    for backend in ("auto", "torch"):
        leaves = {k: v.clone().requires_grad_(True) for k, v in awkward_scene().items()}
        proj = project_gaussians(**leaves, camera=cam, backend=backend)
        gen = torch.Generator().manual_seed(0)
        mask = proj.valid.float()[:, None]
        loss = ((proj.means2d * torch.randn(3000, 2, generator=gen) * mask).sum()
                + (proj.conics * torch.randn(3000, 3, generator=gen) * mask).sum()
                + (proj.depths * torch.randn(3000, generator=gen)).sum())
        loss.backward()
        results[backend] = proj, {k: v.grad for k, v in leaves.items()}
    (fast, fast_grads), (slow, slow_grads) = results["auto"], results["torch"]
    assert torch.equal(fast.valid, slow.valid) and (~fast.valid[30:40]).all()
    assert (fast.radii == slow.radii).float().mean() > 0.999  # a ceil() may round differently
    assert (fast.radii[40:50] == 0).all()
    for name in ("means2d", "conics", "depths"):
        assert rel_l2(getattr(fast, name), getattr(slow, name)) < 1e-6, name
    for name, grad in fast_grads.items():
        assert torch.isfinite(grad).all(), name
        assert rel_l2(grad, slow_grads[name]) < 1e-5, name
    assert (fast_grads["log_scales"][50] == 0).all(), "clamped log-scales get no gradient"
