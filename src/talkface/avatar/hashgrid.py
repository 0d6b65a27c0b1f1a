"""Tri-plane multi-resolution hash encoder in pure, vectorised torch (ER-NeRF / TalkingGaussian's H(μ)).

A 3D point is projected onto the xy, yz and xz planes; each plane holds L levels of 2D grids (resolutions
growing geometrically from `base` to `finest`), stored densely when small and hashed into a table of 2^log2_size
entries otherwise. Features (one per level) are bilinearly interpolated and concatenated: output [N, 3 L].
All planes and levels are looked up with one gather, so the cost is a handful of large tensor ops.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_PRIME = 2654435761  # spatial-hash multiplier for the second coordinate (Teschner et al. / Instant-NGP)
_PLANES = ((0, 1), (1, 2), (0, 2))
_DX = torch.tensor([0, 1, 0, 1])  # the 4 corners of a grid cell
_DY = torch.tensor([0, 0, 1, 1])


class _WeightedGather(torch.autograd.Function):
    """out[i] = Σ_k table[rows[i, k]] · weights[i, k]; the backward scatters with one index_add_ (autograd's
    generic gather backward uses a sorting index_put_, several times slower on the CPU)."""

    @staticmethod
    def forward(ctx, table: Tensor, rows: Tensor, weights: Tensor) -> Tensor:
        ctx.save_for_backward(rows, weights)
        ctx.size = table.shape[0]
        return (table[rows] * weights).sum(-1)

    @staticmethod
    def backward(ctx, grad: Tensor):
        rows, weights = ctx.saved_tensors
        contrib = (weights * grad[:, None]).reshape(-1)
        g = torch.zeros(ctx.size, dtype=grad.dtype).index_add_(0, rows.reshape(-1), contrib)
        return g, None, None


class TriPlaneHashEncoder(nn.Module):
    """H(μ): [N, 3] points inside [-bound, bound]^3 → [N, 3 L] features (one per plane and level)."""

    def __init__(self, bound: float, levels: int = 12, log2_size: int = 14, base: int = 16,
                 finest: int = 256):
        super().__init__()
        self.bound, self.levels, self.features = float(bound), levels, 1  # one feature per level (as ER-NeRF)
        growth = math.exp((math.log(finest) - math.log(base)) / max(1, levels - 1))
        res = [int(math.floor(base * growth ** level)) for level in range(levels)]
        sizes = [min((r + 1) ** 2, 2 ** log2_size) for r in res]
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        self.register_buffer("resolution", torch.tensor(res, dtype=torch.float32), persistent=False)
        self.register_buffer("size", torch.tensor(sizes, dtype=torch.int64), persistent=False)
        self.register_buffer("dense", torch.tensor([(r + 1) ** 2 <= s for r, s in zip(res, sizes)]),
                             persistent=False)
        self.register_buffer("offset", torch.tensor(offsets[:-1], dtype=torch.int64), persistent=False)
        self.register_buffer("plane_offset", torch.arange(len(_PLANES)) * offsets[-1], persistent=False)
        self.table = nn.Parameter(torch.empty(len(_PLANES), offsets[-1]).uniform_(-1e-4, 1e-4))

    @property
    def out_dim(self) -> int:
        """Width of the concatenated encoding."""
        return len(_PLANES) * self.levels * self.features

    @torch.no_grad()
    def lookup(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Flat table rows [3 N L, 4] and bilinear weights [3 N L, 4] of the 4 grid corners per plane and level.

        Positions are treated as constants (the encoder is queried at detached Gaussian centres), so this part
        needs no autograd and only the table lookup below is differentiated.
        """
        unit = ((points / self.bound).clamp(-1.0, 1.0) + 1.0) * 0.5  # [N, 3] in [0, 1]
        coords = torch.stack([unit[:, list(p)] for p in _PLANES])  # [3, N, 2]
        pos = coords[:, :, None, :] * self.resolution[:, None]  # [3, N, L, 2]
        cell = pos.floor().clamp_max(self.resolution[:, None] - 1)
        frac = pos - cell
        cell = cell.to(torch.int64)
        ix = cell[..., 0, None] + _DX  # [3, N, L, 4]
        iy = cell[..., 1, None] + _DY
        wx = torch.where(_DX.bool(), frac[..., 0, None], 1.0 - frac[..., 0, None])
        wy = torch.where(_DY.bool(), frac[..., 1, None], 1.0 - frac[..., 1, None])
        res1 = (self.resolution.to(torch.int64) + 1)[:, None]
        size = self.size[:, None]
        rows = torch.where(self.dense[:, None], ix + iy * res1, (ix ^ (iy * _PRIME)) % size)
        rows = rows + self.offset[:, None] + self.plane_offset[:, None, None, None]
        return rows.reshape(-1, 4), (wx * wy).reshape(-1, 4)

    def forward(self, points: Tensor, lookup: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Encode points [N, 3] (clamped to the bound box; no gradient flows to the points).

        `lookup` may pass a cached `lookup(points)` (training refreshes it every few steps: the centres move by
        a tiny fraction of a grid cell per step, and the index arithmetic costs more than the table read).
        """
        rows, weights = lookup if lookup is not None else self.lookup(points.detach())
        feats = _WeightedGather.apply(self.table.reshape(-1), rows, weights)  # [3 N L]
        n = rows.shape[0] // (len(_PLANES) * self.levels)
        return feats.reshape(len(_PLANES), n, self.levels).permute(1, 0, 2).reshape(n, -1)
