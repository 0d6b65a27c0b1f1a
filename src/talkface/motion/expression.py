"""Expression generator (SadTalker's ExpNet, on our features): speech → mouth/jaw coefficients of the morphable model.

Input per video frame: the phoneme encoder's posteriors + embedding of that frame, its loudness (4 log-mel rows
averaged over the bins; it tells silence from soft speech) and, in models trained with `use_mel`, the full log-mel;
a stack of dilated temporal convolutions gives every output frame ±9 frames (±360 ms) of context, enough for
coarticulation. The output is the mouth-region coefficient *offset from the reference face* (in units of the
basis' standard deviation), conditioned on the reference's own mouth state (its coefficients w.r.t. the shipped
mean shape and its inner-lip gap), so an open-mouthed reference photo is closed during silence.
Trained on tracked real talking clips directly (our stand-in for SadTalker's Wav2Lip distillation).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..face.landmarks import MOUTH_GAP
from .features import expression_inputs
from .weights import load_weights, save_weights, weights_path


@dataclass(frozen=True)
class ExpressionConfig:
    """Sizes of the expression network and which speech inputs it reads."""

    in_dim: int
    use_phonemes: bool
    channels: int = 96
    dilations: tuple[int, ...] = (1, 2, 4)
    n_coeffs: int = 12
    ref_dim: int = 13
    dropout: float = 0.1
    use_mel: bool = True
    use_loudness: bool = False

    @property
    def context_frames(self) -> int:
        """Frames of context on each side of an output frame (input conv ±2 + dilated convs)."""
        return 2 + sum(self.dilations)


class TemporalBlock(nn.Module):
    """Residual dilated 1-D conv (k=3) with group norm and GELU."""

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.norm = nn.GroupNorm(1, channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B,C,T] → x + drop(GELU(norm(conv(x))))."""
        return x + self.drop(nn.functional.gelu(self.norm(self.conv(x))))


class ExpNet(nn.Module):
    """(speech inputs [B,T,D], reference state [B,13]) → mouth coefficient offsets [B,T,12] in stdev units."""

    def __init__(self, config: ExpressionConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.register_buffer("in_mean", torch.zeros(config.in_dim))
        self.register_buffer("in_std", torch.ones(config.in_dim))
        self.inp = nn.Conv1d(config.in_dim, c, 5, padding=2)
        self.ref = nn.Linear(config.ref_dim, c)
        self.blocks = nn.ModuleList(TemporalBlock(c, d, config.dropout) for d in config.dilations)
        self.out = nn.Conv1d(c, config.n_coeffs, 1)
        self.in_drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Offsets from the reference for every frame of `x`."""
        h = self.in_drop((x - self.in_mean) / self.in_std).transpose(1, 2)
        h = nn.functional.gelu(self.inp(h) + self.ref(ref)[:, :, None])
        for block in self.blocks:
            h = block(h)
        return self.out(h).transpose(1, 2)


class ExpEnsemble(nn.Module):
    """Several ExpNets trained with different seeds; the output is their mean (lower variance on unseen voices)."""

    def __init__(self, members: list[ExpNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.config = members[0].config

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Mean of the members' offsets."""
        return torch.stack([m(x, ref) for m in self.members]).mean(0)


def reference_state(reference_shape: np.ndarray | None) -> np.ndarray:
    """[13] conditioning of a reference face: its mouth coefficients w.r.t. the shipped mean (÷ stdev) + lip gap."""
    from ..face import mouth_gap, shipped_morphable

    model = shipped_morphable()
    if reference_shape is None:
        reference_shape = model.mean
    ref = np.asarray(reference_shape, np.float32)[None]
    coeffs = model.encode(ref)["mouth"][0] / model.stdev["mouth"]
    return np.concatenate([coeffs, mouth_gap(ref)]).astype(np.float32)


def gap_points(reference_shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inner-lip gap geometry: the two lip points of the reference [2,3] and their rows of the mouth basis [12,2,3]."""
    from ..face import shipped_morphable

    model = shipped_morphable()
    idx = model.regions["mouth"]
    pos = [int(np.flatnonzero(idx == p)[0]) for p in MOUTH_GAP]
    basis = (model.bases["mouth"] * model.stdev["mouth"][:, None]).reshape(len(model.stdev["mouth"]), len(idx), 3)
    return np.asarray(reference_shape, np.float32)[list(MOUTH_GAP)], basis[:, pos]


def decoded_gap(offsets: torch.Tensor, ref_points: torch.Tensor, basis_rows: torch.Tensor) -> torch.Tensor:
    """Inner-lip gap [B,T] (cm) of reference lips [B,2,3] moved by offsets [B,T,12] (stdev units)."""
    pts = ref_points[:, None] + torch.einsum("btk,kpd->btpd", offsets, basis_rows)
    return torch.linalg.norm(pts[:, :, 0] - pts[:, :, 1], dim=-1)


def save_expression(model: ExpEnsemble, meta: dict) -> None:
    """Write the expression generator (an ensemble of ExpNets) to weights/expression.safetensors."""
    tensors = dict(model.state_dict())
    cfg = asdict(model.config)
    save_weights(weights_path("expression"), tensors, {"config": cfg, "members": len(model.members), **meta}, half=True)


@functools.lru_cache(maxsize=1)
def load_expression() -> ExpEnsemble:
    """The shipped expression generator in eval mode."""
    tensors, meta = load_weights(weights_path("expression"))
    cfg = dict(meta["config"])
    cfg["dilations"] = tuple(cfg["dilations"])
    config = ExpressionConfig(**cfg)
    model = ExpEnsemble([ExpNet(config) for _ in range(int(meta.get("members", 1)))])
    model.load_state_dict(tensors)
    return model.eval()


@functools.lru_cache(maxsize=1)
def expression_sync_lead() -> int:
    """AV offset (frames, > 0 = audio late) of in-sync footage as the shipped generator learned it: the median
    offset of its training clips, to which every clip's speech was aligned before training."""
    _, meta = load_weights(weights_path("expression"))
    return int(meta.get("sync_lead", 0))


def generate_mouth(speech, reference_shape: np.ndarray | None, n_frames: int,
                   model: ExpNet | ExpEnsemble | None = None) -> np.ndarray:
    """[n_frames, 12] mouth coefficients (offsets from `reference_shape`) following `speech`; deterministic."""
    from ..face import shipped_morphable

    model = model or load_expression()
    x = expression_inputs(speech, model.config.use_phonemes, n_frames, model.config.use_mel,
                          model.config.use_loudness)
    ref = reference_state(reference_shape)
    with torch.inference_mode():
        out = model(torch.from_numpy(x)[None], torch.from_numpy(ref)[None])[0].numpy()
    return (out * shipped_morphable().stdev["mouth"]).astype(np.float32)
