"""Tri-plane multi-resolution hash encoder in pure, vectorised torch (ER-NeRF / TalkingGaussian's H(μ)).

A 3D point is projected onto the xy, yz and xz planes; each plane holds L levels of 2D grids (resolutions
growing geometrically from `base` to `finest`), stored densely when small and hashed into a table of 2^log2_size
entries otherwise. Features are bilinearly interpolated per level and concatenated: output [N, 3 * L * F].
All planes and levels are looked up with one gather, so the cost is a handful of large tensor ops.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_PRIME = 2654435761  # spatial-hash multiplier for the second coordinate (Teschner et al. / Instant-NGP)
_PLANES = ((0, 1), (1, 2), (0, 2))


class TriPlaneHashEncoder(nn.Module):
    """H(μ): [N, 3] points inside [-bound, bound]^3 → [N, 3 L F] features."""

    def __init__(self, bound: float, levels: int = 12, features: int = 1, log2_size: int = 14, base: int = 16,
                 finest: int = 256):
        super().__init__()
        self.bound, self.levels, self.features = float(bound), levels, features
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
        self.table = nn.Parameter(torch.empty(len(_PLANES), offsets[-1], features).uniform_(-1e-4, 1e-4))

    @property
    def out_dim(self) -> int:
        """Width of the concatenated encoding."""
        return len(_PLANES) * self.levels * self.features

    def corner_indices(self, cell: Tensor) -> Tensor:
        """Table rows [..., L] of integer grid corners cell [..., L, 2] (dense index or spatial hash per level)."""
        ix, iy = cell[..., 0], cell[..., 1]
        res1 = self.resolution.to(torch.int64) + 1
        dense = ix + iy * res1
        hashed = (ix ^ (iy * _PRIME)) % self.size
        return torch.where(self.dense, dense, hashed) + self.offset

    def forward(self, points: Tensor) -> Tensor:
        """Encode points [N, 3] (clamped to the bound box)."""
        unit = ((points / self.bound).clamp(-1.0, 1.0) + 1.0) * 0.5  # [N, 3] in [0, 1]
        coords = torch.stack([unit[:, list(p)] for p in _PLANES])  # [3, N, 2]
        pos = coords[:, :, None, :] * self.resolution[:, None]  # [3, N, L, 2]
        cell = pos.floor().clamp_max(self.resolution[:, None] - 1)
        frac = pos - cell
        cell = cell.to(torch.int64)
        out = 0.0
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            corner = cell + torch.tensor([dx, dy])
            idx = self.corner_indices(corner)  # [3, N, L]
            wx = frac[..., 0] if dx else 1.0 - frac[..., 0]
            wy = frac[..., 1] if dy else 1.0 - frac[..., 1]
            rows = torch.stack([self.table[p][idx[p]] for p in range(len(_PLANES))])  # [3, N, L, F]
            out = out + rows * (wx * wy)[..., None]
        return out.permute(1, 0, 2, 3).reshape(points.shape[0], -1)
