"""The phoneme-posterior encoder: log-mel (100 Hz) in, ARPAbet+silence posteriors and a continuous
embedding out at 50 Hz. A small conv front-end (stride 2) followed by a bidirectional GRU.

This is talkface's stand-in for DeepSpeech/HuBERT features (see DESIGN.md): trained here by
`python -m talkface.audio.train`, shipped as `weights/phoneme_encoder.safetensors` (see MODEL_CARD.md).
Output frame j is centred at (j + 0.5) * 20 ms.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from .mel import N_MELS
from .phones import PHONES

WEIGHTS = Path(__file__).resolve().parent / "weights" / "phoneme_encoder.safetensors"
POSTERIOR_FPS = 50.0


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes of the encoder network."""

    n_mels: int = N_MELS
    channels: int = 192
    hidden: int = 128
    embedding: int = 128
    n_phones: int = len(PHONES)


class ConvBlock(nn.Module):
    """Residual 1-D conv block (k=3) with GELU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        self.norm = nn.GroupNorm(1, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B,C,T] → x + GELU(norm(conv(x)))."""
        return x + nn.functional.gelu(self.norm(self.conv(x)))


class PhonemeEncoder(nn.Module):
    """log-mel [B,T,80] (100 Hz) → (logits [B,ceil(T/2),P], embedding [B,ceil(T/2),E]) at 50 Hz."""

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.register_buffer("mel_mean", torch.zeros(config.n_mels))
        self.register_buffer("mel_std", torch.ones(config.n_mels))
        self.front = nn.Sequential(
            nn.Conv1d(config.n_mels, c, 5, padding=2), nn.GELU(),
            nn.Conv1d(c, c, 4, stride=2, padding=1), nn.GELU(),
            ConvBlock(c), ConvBlock(c),
        )
        self.gru = nn.GRU(c, config.hidden, batch_first=True, bidirectional=True)
        self.embed = nn.Linear(2 * config.hidden, config.embedding)
        self.head = nn.Linear(config.embedding, config.n_phones)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and pre-softmax embedding for normalised-on-the-fly log-mel input."""
        x = ((mel - self.mel_mean) / self.mel_std).transpose(1, 2)
        if x.shape[-1] % 2:
            x = nn.functional.pad(x, (0, 1), mode="replicate")
        x = self.front(x).transpose(1, 2)
        x, _ = self.gru(x)
        emb = torch.tanh(self.embed(x))
        return self.head(emb), emb


def save_encoder(model: PhonemeEncoder, path: Path, meta: dict) -> None:
    """Write weights + config (+ training metadata) as safetensors, atomically."""
    from safetensors.torch import save_file

    from ..atomic import atomic_path

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"config": json.dumps(asdict(model.config)), "phones": json.dumps(PHONES), "meta": json.dumps(meta)}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata=metadata)
        tmp.chmod(0o644)  # temp files are created private; shipped weights must be world-readable


@lru_cache(maxsize=2)
def load_encoder(path: str | None = None) -> PhonemeEncoder:
    """The trained encoder (shipped weights by default), in eval mode; raises `UserError` if weights are missing."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path) if path else WEIGHTS
    if not path.is_file():
        raise UserError(f"{path}: phoneme encoder weights not found "
                        "(train them with `python -m talkface.audio.train`).")
    with safe_open(str(path), "pt") as fh:
        metadata = fh.metadata() or {}
    if json.loads(metadata.get("phones", "[]")) != list(PHONES):
        raise UserError(f"{path}: encoder weights were trained for a different phone set.")
    model = PhonemeEncoder(EncoderConfig(**json.loads(metadata["config"])))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def encode_mel(mel: np.ndarray, model: PhonemeEncoder | None = None, chunk_frames: int = 3000,
               context_frames: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Posteriors [ceil(F/2),P] and embeddings [ceil(F/2),E] for log-mel [F,80], in overlapping chunks.

    Each chunk sees `context_frames` of mel on both sides, so results match a single pass closely while memory
    stays bounded for any length.
    """
    model = model or load_encoder()
    n_out = (len(mel) + 1) // 2
    posts = np.zeros((n_out, model.config.n_phones), np.float32)
    embs = np.zeros((n_out, model.config.embedding), np.float32)
    with torch.inference_mode():
        for start in range(0, len(mel), chunk_frames):
            lo = max(0, start - context_frames)
            hi = min(len(mel), start + chunk_frames + context_frames)
            logits, emb = model(torch.from_numpy(np.ascontiguousarray(mel[lo:hi], dtype=np.float32))[None])
            a = (start - lo) // 2
            o0, o1 = start // 2, min(n_out, (start + chunk_frames + 1) // 2)
            posts[o0:o1] = torch.softmax(logits[0, a:a + o1 - o0], -1).numpy()
            embs[o0:o1] = emb[0, a:a + o1 - o0].numpy()
    return posts, embs
