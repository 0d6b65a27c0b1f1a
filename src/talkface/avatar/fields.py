"""Structure fields (static 3D Gaussians) and motion fields (δ = MLP(H(μ) ⊕ C) with region attention).

A motion field maps canonical Gaussian centres and a per-frame condition to per-Gaussian offsets
{Δμ, Δs, Δq}. Every motion field has the same two-step interface so a pretrained Universal Motion Field can be
dropped in later: `encode(means)` gives the per-Gaussian spatial part (hash features + region attention, which
depends only on the centres and is cached at inference), `deform(encoded, condition)` the per-frame offsets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .hashgrid import TriPlaneHashEncoder

HOOK_K = 10  # k-th largest / smallest lip offset for the face-mouth hook (robust to outliers)


class StructureField(nn.Module):
    """Static Gaussian primitives θ = {μ, s, q, α, colour} of one branch (face or inside mouth)."""

    def __init__(self, means: Tensor, log_scales: Tensor, colors: Tensor, opacity: float):
        super().__init__()
        n = means.shape[0]
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1.0
        self.means = nn.Parameter(means.float().clone())
        self.log_scales = nn.Parameter(log_scales.float().clone())
        self.quats = nn.Parameter(quats)
        self.opacity_logits = nn.Parameter(torch.full((n,), float(np.log(opacity / (1 - opacity)))))
        self.color_logits = nn.Parameter(torch.logit(colors.float().clamp(0.02, 0.98)))

    @property
    def count(self) -> int:
        """Number of Gaussians."""
        return int(self.means.shape[0])

    def parameter_names(self) -> tuple[str, ...]:
        """Per-Gaussian parameters (rows are added/removed together by densification)."""
        return ("means", "log_scales", "quats", "opacity_logits", "color_logits")

    def load_sizes_from(self, state: dict, prefix: str) -> None:
        """Resize the parameters to the row counts stored in a state dict (before load_state_dict)."""
        for name in self.parameter_names():
            setattr(self, name, nn.Parameter(torch.empty_like(state[prefix + name])))


@dataclass
class Deformation:
    """Per-Gaussian offsets of one branch: Δμ [N, 3] cm, Δs [N, 3] log-scale, Δq [N, 4] added to the quaternion."""

    d_means: Tensor
    d_log_scales: Tensor
    d_quats: Tensor
    d_rig: Tensor | None = None  # the geometric (landmark-rig) part already included in d_means, [N, 3]

    def learned_means(self) -> Tensor:
        """Δμ without the geometric rig part (what the small-motion prior regularises)."""
        return self.d_means if self.d_rig is None else self.d_means - self.d_rig


def mlp(sizes: list[int], final_scale: float = 1.0) -> nn.Sequential:
    """ReLU MLP; the last layer starts scaled down so a fresh field barely moves the Gaussians."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    with torch.no_grad():
        layers[-1].weight.mul_(final_scale)
        layers[-1].bias.zero_()
    return nn.Sequential(*layers)


class AudioNet(nn.Module):
    """Speech window [B, W, D] (phoneme posteriors ++ embedding around a frame) → audio feature a [B, A]."""

    def __init__(self, in_dim: int, window: int, out_dim: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(in_dim, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.02, True),
                                  nn.Conv1d(64, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.02, True))
        self.fc = nn.Linear(32 * ((window + 3) // 4), out_dim)

    def forward(self, windows: Tensor) -> Tensor:
        """Temporal convs over the window, then one linear layer."""
        x = self.conv(windows.transpose(1, 2))
        return self.fc(x.flatten(1))


class ExpressionNet(nn.Module):
    """Mouth-coefficient window [B, W, 12] (normalised offsets from the reference face) → mouth feature [B, A]."""

    def __init__(self, n_coeffs: int, window: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_coeffs * window, 64), nn.LeakyReLU(0.02, True),
                                 nn.Linear(64, 64), nn.LeakyReLU(0.02, True), nn.Linear(64, out_dim))

    def forward(self, windows: Tensor) -> Tensor:
        """Flattened window through a small MLP."""
        return self.net(windows.flatten(1))


class MotionField(nn.Module):
    """δ = MLP(H(μ) ⊕ (a ⊙ A_a(H)) ⊕ (e ⊙ A_e(H)) ⊕ hook): tri-plane hash encoding with region attention.

    A_a / A_e are the region-attention heads: per-Gaussian channel weights on the audio and eye features, so
    the field learns which Gaussians listen to speech (lips, jaw) and which to the eyes (lids, brows).
    """

    def __init__(self, centre: np.ndarray, bound: float, audio_dim: int, eye_dim: int, hook_dim: int,
                 hidden: int, levels: int, log2_size: int, base: int, finest: int, max_offset: float):
        super().__init__()
        self.register_buffer("centre", torch.as_tensor(centre, dtype=torch.float32))
        self.encoder = TriPlaneHashEncoder(bound, levels, log2_size, base, finest)
        h = self.encoder.out_dim
        self.audio_att = mlp([h, 32, audio_dim])
        self.eye_dim, self.hook_dim, self.max_offset = eye_dim, hook_dim, max_offset
        self.eye_att = mlp([h, 16, eye_dim]) if eye_dim else None
        self.scaler = mlp([h + hook_dim, 16, 16, 1]) if hook_dim else None
        self.decoder = mlp([h + audio_dim + eye_dim + hook_dim, hidden, hidden, 10], final_scale=0.01)

    def encode(self, means: Tensor, lookup=None) -> dict[str, Tensor]:
        """Per-Gaussian spatial part: hash features and attention weights (depends only on the centres)."""
        feats = self.encoder(means - self.centre, lookup)
        out = {"h": feats, "audio_att": torch.sigmoid(self.audio_att(feats))}
        if self.eye_att is not None:
            out["eye_att"] = torch.relu(self.eye_att(feats))
        return out

    def lookup(self, means: Tensor):
        """Cacheable hash-table lookup of the centres (see `TriPlaneHashEncoder.forward`)."""
        return self.encoder.lookup(means.detach() - self.centre)

    def deform(self, enc: dict[str, Tensor], audio: Tensor, eyes: Tensor | None = None,
               hook: Tensor | None = None) -> Deformation:
        """Offsets for one frame: audio [A], eyes [E], hook [3] broadcast to every Gaussian."""
        n = enc["h"].shape[0]
        if "first" in enc:  # inference: the H(μ) part of the first layers is precomputed per Gaussian
            out = self._decode_cached(enc, audio, eyes, hook)
        else:
            parts = [enc["h"], enc["audio_att"] * audio]
            if self.eye_att is not None:
                parts.append(enc["eye_att"] * eyes)
            if self.hook_dim:
                parts.append(hook.expand(n, -1))
            out = self.decoder(torch.cat(parts, 1))
        d_means = self.max_offset * torch.tanh(out[:, :3])
        if self.scaler is not None:
            if "scaler_first" in enc:
                w = self.scaler[0].weight[:, enc["h"].shape[1]:]
                x = torch.relu(enc["scaler_first"] + hook @ w.T)
                tau = 2.0 * torch.sigmoid(self.scaler[2:](x))
            else:
                tau = 2.0 * torch.sigmoid(self.scaler(torch.cat([enc["h"], hook.expand(n, -1)], 1)))
            d_means = d_means * tau
        return Deformation(d_means, out[:, 3:6], out[:, 6:10])

    @torch.no_grad()
    def cache_first_layers(self, enc: dict[str, Tensor]) -> None:
        """Precompute H(μ) W_h + b of the decoder's (and scaler's) first layer: at inference only the
        condition-dependent columns are multiplied per frame (same result, about half the work)."""
        k = enc["h"].shape[1]
        first = self.decoder[0]
        enc["first"] = enc["h"] @ first.weight[:, :k].T + first.bias
        if self.scaler is not None:
            enc["scaler_first"] = enc["h"] @ self.scaler[0].weight[:, :k].T + self.scaler[0].bias

    def _decode_cached(self, enc: dict[str, Tensor], audio: Tensor, eyes: Tensor | None, hook: Tensor | None) -> Tensor:
        """Decoder output using the cached first-layer term."""
        k = enc["h"].shape[1]
        w = self.decoder[0].weight
        a_dim = enc["audio_att"].shape[1]
        x = enc["first"] + enc["audio_att"] @ (w[:, k:k + a_dim] * audio).T
        col = k + a_dim
        if self.eye_att is not None:
            x = x + enc["eye_att"] @ (w[:, col:col + self.eye_dim] * eyes).T
            col += self.eye_dim
        if self.hook_dim:
            x = x + hook @ w[:, col:col + self.hook_dim].T
        return self.decoder[2:](torch.relu(x))


def hook_feature(face_d_means: Tensor, lip_index: Tensor) -> Tensor:
    """Face-mouth hook φ = (k-th largest Δy, k-th smallest Δy, their gap) of the lip Gaussians, no gradient."""
    with torch.no_grad():
        dy = face_d_means[lip_index, 1] if lip_index.numel() >= 2 * HOOK_K else face_d_means[:, 1]
        k = min(HOOK_K, max(1, dy.numel() // 2))
        hi = dy.topk(k).values[-1]
        lo = (-dy).topk(k).values[-1] * -1
        return torch.stack([hi, lo, hi - lo])[None] * 10.0
