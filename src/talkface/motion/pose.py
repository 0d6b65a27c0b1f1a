"""Pose and upper-face generator (SadTalker's PoseVAE with Loopy's long-term motion context).

A conditional VAE generates the motion of the next chunk (32 frames = 1.28 s): head angles (yaw, pitch, roll,
degrees), translation (cm) and brow coefficients, all as offsets from the face's rest state. It is conditioned on
- the prosody of the chunk's speech (with 4 frames of look-around; `features.pose_inputs`),
- a style vector: a learned encoding of a motion clip's statistics (per-dimension spread of position and speed),
  either the mean style of a training speaker (`pose_style` id) or the style of a reference video,
- Loopy-style multi-scale motion history of its own past output: the last 8 frames as they are, the last 64 frames
  pooled to 8 steps and the last 512 frames pooled to 8 steps (20 s), each with the fraction of it that exists.
Chunks are generated autoregressively with a fresh latent each, so minutes of motion keep varying (no loop) while
the long history and rest-relative targets keep the mean where it was (no drift). Seeded: same seed, same motion.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .weights import load_weights, save_weights, weights_path

MOTION_DIM = 10  # yaw, pitch, roll (deg), tx, ty, tz (cm), brows (4 coefficients)
N_BROWS = 4


@dataclass(frozen=True)
class PoseConfig:
    """Sizes of the pose VAE."""

    n_styles: int
    chunk: int = 32
    look: int = 4  # audio frames seen before and after the chunk
    short: int = 8  # history frames kept as they are
    mid_pool: int = 8  # mid history: `levels` steps of this many frames
    long_pool: int = 64  # long history: `levels` steps of this many frames
    levels: int = 8
    audio_dim: int = 5
    style_dim: int = 8
    latent: int = 16
    hidden: int = 256
    dropout: float = 0.1

    @property
    def history(self) -> int:
        """Frames of past motion the model can see (the long scale)."""
        return self.long_pool * self.levels

    @property
    def history_dim(self) -> int:
        return (self.short + 2 * self.levels) * MOTION_DIM + 3


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with GELU (and dropout) between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.GELU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


def style_statistics(motion: torch.Tensor) -> torch.Tensor:
    """Style statistics [B, 2*D] of normalised motion segments [B, N, D]: log spread of position and of speed."""
    pos = motion.std(dim=1)
    vel = torch.diff(motion, dim=1).std(dim=1)
    return torch.log(torch.cat([pos, vel], -1) + 1e-3)


class PoseVAE(nn.Module):
    """Conditional VAE over motion chunks; `decode` samples a chunk from (z, audio, history, style)."""

    def __init__(self, config: PoseConfig) -> None:
        super().__init__()
        self.config = config
        c, h = config, config.hidden
        self.register_buffer("motion_std", torch.ones(MOTION_DIM))
        self.register_buffer("output_gain", torch.ones(MOTION_DIM))  # calibrated on training clips (see train.py)
        self.register_buffer("style_table", torch.zeros(config.n_styles, config.style_dim))
        audio_in = (c.chunk + 2 * c.look) * c.audio_dim
        self.style_encoder = mlp([2 * MOTION_DIM, 64, c.style_dim])
        self.condition = mlp([audio_in + c.history_dim + c.style_dim, h, h], c.dropout)
        self.encoder = mlp([c.chunk * MOTION_DIM + h, h, 2 * c.latent], c.dropout)
        self.decoder = mlp([c.latent + h, h, h, c.chunk * MOTION_DIM], c.dropout)

    def style(self, segment: torch.Tensor) -> torch.Tensor:
        """Style vectors [B, S] of normalised motion segments [B, N, D]."""
        return torch.tanh(self.style_encoder(style_statistics(segment)))

    def cond(self, audio: torch.Tensor, history: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Hidden condition [B, H] from audio [B, chunk+2look, A], history [B, history_dim], style [B, S]."""
        return nn.functional.gelu(self.condition(torch.cat([audio.flatten(1), history, style], -1)))

    def encode(self, chunk: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of the latent for a true chunk [B, chunk, D]."""
        mu, logvar = self.encoder(torch.cat([chunk.flatten(1), cond], -1)).chunk(2, -1)
        return mu, logvar.clamp(-8, 4)

    def decode(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Motion chunk [B, chunk, D] (normalised) for latent z [B, latent]."""
        return self.decoder(torch.cat([z, cond], -1)).view(len(z), self.config.chunk, MOTION_DIM)


def track_motion(track) -> np.ndarray:
    """[T, 10] rest-relative motion of a FaceTrack: angles (deg) and translation (cm) minus their medians, and brow
    coefficients relative to the clip's median shape (the generator's training targets and style source)."""
    from ..face import identity_mean, shipped_morphable
    from ..face.geometry import euler_degrees

    angles = euler_degrees(track.pose[:, :3])
    trans = track.pose[:, 3:6].astype(np.float64)
    rest = identity_mean(track.landmarks3d, track.valid)
    brows = shipped_morphable().with_identity(rest).encode(track.landmarks3d)["brows"]
    motion = np.concatenate([angles - np.median(angles, 0), trans - np.median(trans, 0), brows], 1)
    return motion.astype(np.float32)


def history_features(past: np.ndarray, config: PoseConfig) -> np.ndarray:
    """Multi-scale history [history_dim] of normalised past motion [P, D] (most recent last; P may be 0).

    Missing history (before the start) is the rest state 0; the last three values say how much of each scale exists.
    """
    out = []
    fractions = []
    for span, pool in ((config.short, 1), (config.mid_pool * config.levels, config.mid_pool),
                       (config.long_pool * config.levels, config.long_pool)):
        seg = past[-span:] if len(past) else np.zeros((0, MOTION_DIM), np.float32)
        fractions.append(len(seg) / span)
        padded = np.zeros((span, MOTION_DIM), np.float32)
        if len(seg):
            padded[span - len(seg):] = seg
        out.append(padded.reshape(span // pool, pool, MOTION_DIM).mean(1).ravel())
    return np.concatenate(out + [np.asarray(fractions, np.float32)]).astype(np.float32)


def audio_window(audio: np.ndarray, start: int, config: PoseConfig) -> np.ndarray:
    """Audio rows [chunk + 2·look, A] around chunk `start`, edge rows repeated beyond the ends."""
    idx = np.clip(np.arange(start - config.look, start + config.chunk + config.look), 0, len(audio) - 1)
    return audio[idx]


def save_pose(model: PoseVAE, styles: list[str], meta: dict) -> None:
    """Write the pose generator to weights/pose.safetensors (with the speaker names of the style table)."""
    save_weights(weights_path("pose"), dict(model.state_dict()), {"config": asdict(model.config), "styles": styles,
                                                                   **meta}, half=True)


@functools.lru_cache(maxsize=1)
def load_pose() -> tuple[PoseVAE, list[str]]:
    """The shipped pose generator (eval mode) and its style names (style id = index)."""
    tensors, meta = load_weights(weights_path("pose"))
    model = PoseVAE(PoseConfig(**meta["config"]))
    model.load_state_dict(tensors)
    return model.eval(), list(meta["styles"])


def style_from_motion(motion: np.ndarray, model: PoseVAE | None = None) -> np.ndarray:
    """Style vector [S] of a motion segment [N, 10] (rest-relative, unnormalised), e.g. a reference clip."""
    model = model or load_pose()[0]
    with torch.inference_mode():
        seg = torch.from_numpy(np.asarray(motion, np.float32))[None] / model.motion_std
        return model.style(seg)[0].numpy()


def generate_pose(audio: np.ndarray, style: np.ndarray, seed: int, model: PoseVAE | None = None,
                  temperature: float = 1.0) -> np.ndarray:
    """[T, 10] rest-relative motion (angles deg, translation cm, brows) for prosody `audio` [T, 5]; seeded."""
    model = model or load_pose()[0]
    cfg = model.config
    n = len(audio)
    gen = torch.Generator().manual_seed(int(seed))
    n_chunks = -(-n // cfg.chunk)
    out = np.zeros((n_chunks * cfg.chunk, MOTION_DIM), np.float32)
    style_t = torch.from_numpy(np.asarray(style, np.float32))[None]
    with torch.inference_mode():
        for k in range(n_chunks):
            s = k * cfg.chunk
            hist = history_features(out[max(0, s - cfg.history):s], cfg)
            cond = model.cond(torch.from_numpy(audio_window(audio, s, cfg))[None], torch.from_numpy(hist)[None],
                              style_t)
            z = torch.randn(1, cfg.latent, generator=gen) * temperature
            out[s:s + cfg.chunk] = model.decode(z, cond)[0].numpy()
    motion = out[:n] * (model.motion_std * model.output_gain).numpy()
    return smooth_seams(motion, cfg.chunk)


def smooth_seams(motion: np.ndarray, chunk: int, radius: int = 5) -> np.ndarray:
    """Blend away small jumps at chunk boundaries: each seam's step is spread linearly over ±`radius` frames."""
    out = motion.copy()
    for s in range(chunk, len(motion), chunk):
        lo, hi = max(1, s - radius), min(len(motion) - 1, s + radius)
        if hi - lo < 2:
            continue
        before = 2 * motion[s - 1] - motion[s - 2]  # where the previous chunk was heading
        jump = motion[s] - before
        w = (np.arange(lo, hi + 1) - lo) / (hi - lo)  # 0 → 1 across the window
        out[lo:hi + 1] -= ((np.arange(lo, hi + 1) >= s) - w)[:, None] * jump[None]  # step → ramp
    return out
