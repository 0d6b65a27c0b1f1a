"""Densification and pruning as a pluggable strategy object (the gsplat pattern).

The trainer calls `after_backward(model, out, step)` after every backward pass (to collect screen-space
gradient statistics) and `step(model, optimizer, step)` after every optimizer step; the strategy may add or
remove Gaussians and keeps the optimizer's Adam state in sync. `NoDensification` is the trivial strategy.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .fields import StructureField


class NoDensification:
    """Keep the Gaussian set fixed."""

    def after_backward(self, model, out, step: int) -> None:
        """Nothing to record."""

    def step(self, model, optimizer, step: int) -> bool:
        """Never changes the set; returns whether it did."""
        return False


@dataclass
class DensifyPrune:
    """Clone small / split large Gaussians with large view-space gradients; prune transparent ones (3DGS rules)."""

    every: int
    start: int
    stop: int
    grad_threshold: float
    max_gaussians: int
    min_opacity: float = 0.01
    split_scale_cm: float = 0.25  # above this largest axis a Gaussian is split instead of cloned

    def __post_init__(self):
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def after_backward(self, model, out, step: int) -> None:
        """Accumulate the screen-space mean-gradient norm of every visible Gaussian, per branch."""
        if not (self.start <= step < self.stop) or out["means2d"].grad is None:
            return
        # 3DGS thresholds gradients w.r.t. NDC positions: d/dNDC = d/dpixel * size / 2
        grad = out["means2d"].grad.norm(dim=-1) * (0.5 * out["rgb"].shape[1])
        visible = out["radii"] > 0
        offset = 0
        for name, field in model.fields().items():
            n = field.count
            acc, cnt = self.stats.get(name, (torch.zeros(n), torch.zeros(n)))
            if acc.shape[0] != n:
                acc, cnt = torch.zeros(n), torch.zeros(n)
            acc += torch.where(visible[offset:offset + n], grad[offset:offset + n], torch.zeros(n))
            cnt += visible[offset:offset + n].float()
            self.stats[name] = (acc, cnt)
            offset += n

    def step(self, model, optimizer, step: int) -> bool:
        """Every `every` steps inside [start, stop): densify then prune; True if the set changed."""
        if not (self.start <= step < self.stop) or step % self.every or step == 0:
            return False
        total = sum(f.count for f in model.fields().values())
        budget = max(0, self.max_gaussians - total)
        for name, field in model.fields().items():
            acc, cnt = self.stats.pop(name, (torch.zeros(field.count), torch.zeros(field.count)))
            avg = acc / cnt.clamp_min(1.0)
            grow = (avg > self.grad_threshold).nonzero()[:, 0]
            if grow.numel() > budget:
                grow = grow[avg[grow].argsort(descending=True)[:budget]]
            budget -= grow.numel()
            self.grow_and_prune(field, optimizer, grow)
        return True

    @torch.no_grad()
    def grow_and_prune(self, field: StructureField, optimizer, grow: torch.Tensor) -> None:
        """Clone/split the rows `grow`, drop low-opacity rows, and carry the Adam state along."""
        big = field.log_scales[grow].exp().max(1).values > self.split_scale_cm
        new_rows = {}
        for name in field.parameter_names():
            new_rows[name] = getattr(field, name)[grow].clone()
        # split: the copy moves to a sample inside the parent and both shrink (the parent shrinks below)
        if big.any():
            std = new_rows["log_scales"][big].exp()
            new_rows["means"][big] += torch.randn_like(std) * std
            new_rows["log_scales"][big] -= torch.log(torch.tensor(1.6))
        keep = torch.sigmoid(field.opacity_logits) > self.min_opacity
        keep[grow[big]] = True
        shrink = torch.zeros(field.count, dtype=torch.bool)
        shrink[grow[big]] = True
        for name in field.parameter_names():
            old = getattr(field, name)
            data = old.data.clone()
            if name == "log_scales":
                data[shrink] -= torch.log(torch.tensor(1.6))
            data = torch.cat([data[keep], new_rows[name]])
            replace_parameter(optimizer, field, name, old, data, keep, new_rows[name].shape[0])


def replace_parameter(optimizer, field: nn.Module, name: str, old: nn.Parameter, data: torch.Tensor,
                      keep: torch.Tensor, n_new: int) -> None:
    """Swap a per-Gaussian parameter for `data` (= kept rows then n_new rows) in the module and the optimizer."""
    new = nn.Parameter(data)
    setattr(field, name, new)
    for group in optimizer.param_groups:
        for i, p in enumerate(group["params"]):
            if p is old:
                group["params"][i] = new
                state = optimizer.state.pop(old, None)
                if state:
                    for key in ("exp_avg", "exp_avg_sq"):
                        v = state[key]
                        state[key] = torch.cat([v[keep], torch.zeros((n_new,) + v.shape[1:], dtype=v.dtype)])
                    optimizer.state[new] = state
                return
