"""Lip sync without SyncNet: mouth-opening correlation and the audio-visual offset.

Sign convention of every lag here: lag k > 0 means the AUDIO IS LATE by k video frames (the sound that belongs
to video frame t is heard at frame t + k); delaying a clip's audio by 5 frames raises its offset by 5.
Well-synchronised real speech gives a small positive offset (0..+4 frames on our clips) because the mouth opens
slightly before the sound it shapes.

The speech signal is pluggable: any function (audio, sr, n_frames, fps) -> [n_frames] registered in
`SPEECH_SIGNALS`. `envelope` (speech-band amplitude) is always available; `openness` (the phoneme encoder's
mouth-openness read-out) is registered when `talkface.audio` provides it.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable

import numpy as np

SpeechSignal = Callable[[np.ndarray, int, int, float], np.ndarray]
"""(mono float audio, sample rate, number of video frames, fps) -> one value per video frame."""

DEFAULT_MAX_LAG = 10
"""Lags searched: ±10 frames (±0.4 s at 25 fps); the offsets our real clips carry span -7..+8 frames."""

MIN_OVERLAP = 25
"""Fewest overlapping frames (1 s at 25 fps) a correlation is computed on; fewer gives NaN."""

SPEECH_BAND_HZ = (300.0, 3000.0)

MOUTH_NOISE_CM = 0.05
"""Mouth-opening std (canonical cm) below which a mouth counts as still: a frozen frame re-encoded and tracked
shows 0.005–0.03 cm (tracker start-up transient, slow drift), our real talking clips 0.35–0.97 cm.
Correlating tracking noise would only measure chance."""


def is_still(mouth: np.ndarray, floor: float = MOUTH_NOISE_CM) -> bool:
    """True when the mouth-opening series moves less than tracking noise (std < `floor` cm over finite frames)."""
    m = np.asarray(mouth, np.float64)
    m = m[np.isfinite(m)]
    return len(m) < 3 or float(m.std()) < floor


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over positions where both are finite; 0.0 when either side is constant (no motion)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den <= 1e-12 * max(1.0, len(a)):
        return 0.0
    return float((a * b).sum() / den)


def mouth_correlation(generated: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation of generated vs reference mouth-opening series (frame-aligned, common length).

    1 = the generated mouth opens and closes exactly when the reference does (up to scale); ~0 = unrelated.
    A still mouth (`is_still`: std below tracking noise) gives exactly 0.
    """
    if is_still(generated) or is_still(reference):
        return 0.0
    return pearson(generated, reference)


def footage_synced_correlation(generated: np.ndarray, reference: np.ndarray, reference_offset: int,
                                lead: int) -> float:
    """Mouth correlation after undoing the reference footage's own sync error (SyncNet-corrected benchmarks do this).

    A generator follows the audio; footage whose audio is late by more than the usual lip lead cannot be matched at
    lag 0. `reference_offset` is `av_offset` of the reference mouth vs the speech, measured on the footage alone;
    `lead` is the offset of in-sync footage (the median the generator was trained to). The reference is moved by
    their difference, then correlated as in `mouth_correlation`.
    """
    e = int(reference_offset) - int(lead)
    g, r = np.asarray(generated), np.asarray(reference)
    n = min(len(g), len(r))
    g, r = g[:n], r[:n]
    if e > 0:
        g, r = g[e:], r[: n - e]
    elif e < 0:
        g, r = g[: n + e], r[-e:]
    return mouth_correlation(g, r)


def lagged_correlation(video: np.ndarray, audio: np.ndarray, max_lag: int = DEFAULT_MAX_LAG) -> tuple[np.ndarray, np.ndarray]:
    """Correlation curve c(k) = pearson(video[t], audio[t + k]) for k = -max_lag..max_lag (k > 0: audio late)."""
    lags = np.arange(-max_lag, max_lag + 1)
    curve = np.full(len(lags), np.nan)
    for i, k in enumerate(lags):
        if k >= 0:
            v, a = video[: max(len(video) - k, 0)], audio[k:]
        else:
            v, a = video[-k:], audio[: max(len(audio) + k, 0)]
        n = min(len(v), len(a))
        if n >= MIN_OVERLAP:
            curve[i] = pearson(v[:n], a[:n])
    return lags, curve


@dataclass
class AVOffset:
    """Result of `av_offset`: best lag, its correlation, and the whole curve (for plots)."""

    offset: int  # frames; > 0 means the audio is late
    confidence: float  # peak correlation c(offset)
    prominence: float  # peak minus the median of the curve
    lags: np.ndarray
    curve: np.ndarray


def av_offset(mouth: np.ndarray, speech: np.ndarray, max_lag: int = DEFAULT_MAX_LAG) -> AVOffset:
    """Audio-visual offset: the lag k in ±max_lag maximising c(k) = pearson(mouth[t], speech[t + k]).

    Confidence is the peak height c(offset) (a Pearson correlation, -1..1); prominence = peak - median over
    lags separates a sharp sync peak from a curve that is high everywhere. k > 0: audio late by k frames.
    A still mouth (`is_still`) has no sync: offset 0, confidence and prominence 0, a flat zero curve.
    """
    if is_still(mouth):
        lags = np.arange(-max_lag, max_lag + 1)
        return AVOffset(0, 0.0, 0.0, lags, np.zeros(len(lags)))
    lags, curve = lagged_correlation(mouth, speech, max_lag)
    if not np.isfinite(curve).any():
        return AVOffset(0, float("nan"), float("nan"), lags, curve)
    i = int(np.nanargmax(curve))
    peak = float(curve[i])
    return AVOffset(int(lags[i]), peak, peak - float(np.nanmedian(curve)), lags, curve)


def speech_envelope(audio: np.ndarray, sr: int, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """Speech-band amplitude per video frame: sqrt of STFT power in 300–3000 Hz, 64 ms Hann windows centred on
    each frame's instant k / fps (zero beyond the end of the audio)."""
    n_fft = 1 << int(np.ceil(np.log2(0.064 * sr)))
    half = n_fft // 2
    padded = np.pad(np.asarray(audio, np.float32), (half, half + n_fft))
    window = np.hanning(n_fft).astype(np.float32)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    band = (freqs >= SPEECH_BAND_HZ[0]) & (freqs <= SPEECH_BAND_HZ[1])
    starts = np.round(np.arange(n_frames) * (sr / fps)).astype(np.int64)
    out = np.zeros(n_frames, np.float32)
    for i in range(0, n_frames, 1024):  # blocks of frames keep memory bounded on long clips
        idx = np.minimum(starts[i:i + 1024, None] + np.arange(n_fft)[None, :], len(padded) - 1)
        power = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
        out[i:i + 1024] = np.sqrt(power[:, band].sum(axis=1))
    return out


def encoder_openness(audio: np.ndarray, sr: int, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """The phoneme encoder's mouth openness (talkface.audio: expected per-phone opening under the 50 Hz phone
    posteriors, 0..1), linearly interpolated at each video frame's instant k / fps."""
    from ..audio.features import compute_features

    return openness_at_frames(compute_features(audio, sr), n_frames, fps)


def openness_at_frames(features, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """The openness read-out of computed `SpeechFeatures` at each video frame's instant k / fps (linear)."""
    op = np.asarray(features.openness, np.float64)
    times = (np.arange(len(op)) + 0.5) / features.posterior_fps
    return np.interp(np.arange(n_frames) / fps, times, op).astype(np.float32)


SPEECH_SIGNALS: dict[str, SpeechSignal] = {"envelope": speech_envelope}
"""Registered speech signals for the AV offset; add one with `register_speech_signal`."""

if importlib.util.find_spec("talkface.audio.features") is not None:
    SPEECH_SIGNALS["openness"] = encoder_openness


def register_speech_signal(name: str, fn: SpeechSignal) -> None:
    """Make `fn` selectable as `speech_signal=name` in `evaluate` and `talkface eval --speech-signal`."""
    SPEECH_SIGNALS[name] = fn
