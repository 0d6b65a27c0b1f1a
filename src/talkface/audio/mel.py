"""16 kHz log-mel features (80 bins, 25 ms window, 10 ms hop), computed in bounded-memory chunks.

Frame i is centred on sample i*160 (the signal is zero-padded by half a window at both ends), so an audio
of n samples has 1 + n // 160 frames, and chunked computation gives exactly the same frames as one pass.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Iterator

import numpy as np
import torch

SR = 16000
HOP = 160
WIN = 400
N_FFT = 512
N_MELS = 80
MEL_FPS = SR / HOP
LOG_FLOOR = 1e-6


@lru_cache(maxsize=1)
def _mel_basis() -> torch.Tensor:
    """Slaney mel filterbank [80, 257] (20 Hz – 7.6 kHz)."""
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=20.0, fmax=7600.0))


@lru_cache(maxsize=1)
def _window() -> torch.Tensor:
    """Hann window of 400 samples, zero-padded to the FFT size."""
    w = torch.hann_window(WIN, periodic=True)
    return torch.nn.functional.pad(w, ((N_FFT - WIN) // 2, (N_FFT - WIN) - (N_FFT - WIN) // 2))


def log_mel_frames(padded: torch.Tensor) -> torch.Tensor:
    """Log-mel of already-padded audio (no gradient): one frame per hop whose 512-sample window fits."""
    n = (padded.shape[-1] - N_FFT) // HOP + 1
    if n <= 0:
        return torch.zeros((*padded.shape[:-1], 0, N_MELS))
    import scipy.fft

    frames = (padded.unfold(-1, N_FFT, HOP)[..., :n, :] * _window()).numpy()
    spec = scipy.fft.rfft(frames, n=N_FFT, axis=-1, workers=1)  # float32 FFT; torch.fft is ~4x slower here
    power = torch.from_numpy(spec.real ** 2 + spec.imag ** 2)
    return torch.log(power @ _mel_basis().T + LOG_FLOOR)


_PAD = N_FFT // 2  # frame i covers padded[i*HOP : i*HOP + N_FFT], centred on original sample i*HOP


def log_mel(audio16: np.ndarray) -> np.ndarray:
    """Log-mel [1 + n//160, 80] float32 of 16 kHz mono audio (chunked internally to bound memory)."""
    return np.concatenate(list(iter_log_mel([audio16])), axis=0)


def iter_log_mel(chunks: Iterable[np.ndarray], block_frames: int = 3000) -> Iterator[np.ndarray]:
    """Stream log-mel frames from 16 kHz audio chunks; yields [k,80] arrays, at most `block_frames` at a time."""
    buf = np.zeros(_PAD, dtype=np.float32)  # left zero padding
    total = 0
    emitted = 0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        total += len(chunk)
        buf = np.concatenate([buf, chunk])
        while True:
            n_ready = (len(buf) - N_FFT) // HOP + 1
            if n_ready < block_frames:
                break
            yield _frames_of(buf, block_frames)
            emitted += block_frames
            buf = buf[block_frames * HOP:]
    n_total = 1 + total // HOP
    buf = np.concatenate([buf, np.zeros(N_FFT, dtype=np.float32)])  # right zero padding
    remaining = n_total - emitted
    while remaining > 0:
        k = min(block_frames, remaining)
        yield _frames_of(buf, k)
        buf = buf[k * HOP:]
        remaining -= k


def _frames_of(buf: np.ndarray, k: int) -> np.ndarray:
    """The first `k` log-mel frames of a padded buffer."""
    with torch.inference_mode():
        return log_mel_frames(torch.from_numpy(np.ascontiguousarray(buf[:(k - 1) * HOP + N_FFT])))[:k].numpy()
