"""The mouth condition of the avatar's motion fields: mouth-region expression coefficients of the landmark
morphable model, as offsets from the avatar's own closed-mouth reference frame (cm).

Why coefficients instead of (only) raw speech: a person's ~10 s of training video is far too little to learn
speech → mouth, but plenty to learn coefficients → appearance. So `fit` conditions the motion fields on the
*tracked* coefficients of each training frame (independent of any generator's weights), and `speak` / the
held-out evaluation feed the coefficients that the cross-speaker expression generator
(`talkface.motion.expression.generate_mouth`) produces from the audio with the same reference face — silence
closes the mouth because the generator closes it.

The generator's output is smoother and smaller than tracked motion; `augment` bridges that gap during training
(random temporal smoothing, amplitude scaling and noise), so nothing derived from the generator is stored.
"""
from __future__ import annotations

import numpy as np

MOUTH_COEFFS = 12  # mouth-region components of the shipped morphable model
UPPER_REGIONS = ("eyes", "brows")  # the upper-face regions of the shipped morphable model, in this order
UPPER_EYES = 6  # eye-region components (lids, eye shape, irises): the first part of the upper-face vector
UPPER_COEFFS = 10  # eyes (6) + brows (4)
REFERENCE_PERCENTILE = 2.0  # the reference is the training frame at this percentile of the inner-lip gap


def reference_frame(track) -> int:
    """Index of the avatar's closed-mouth reference: the valid training frame whose inner-lip gap is nearest the
    2nd percentile (a robust 'closed', not a tracking glitch at the very minimum)."""
    from ..face import mouth_opening

    gap = mouth_opening(track)
    valid = np.asarray(track.valid, bool) if track.valid is not None else np.ones(len(gap), bool)
    if not valid.any():
        valid = np.ones(len(gap), bool)
    target = np.percentile(gap[valid], REFERENCE_PERCENTILE)
    cand = np.flatnonzero(valid)
    return int(cand[np.argmin(np.abs(gap[cand] - target))])


def mouth_stdev() -> np.ndarray:
    """[12] standard deviation of each mouth coefficient in the shipped model's data (input normalisation)."""
    from ..face import shipped_morphable

    return np.asarray(shipped_morphable().stdev["mouth"], np.float32)


def tracked_mouth(landmarks3d: np.ndarray, reference_shape: np.ndarray) -> np.ndarray:
    """[T, 12] mouth coefficients of tracked canonical landmarks [T, 478, 3] as offsets from the reference (cm),
    the same quantity `generate_mouth` produces."""
    from ..face import shipped_morphable

    model = shipped_morphable()
    coeffs = model.encode(np.asarray(landmarks3d, np.float32))["mouth"]
    ref = model.encode(np.asarray(reference_shape, np.float32)[None])["mouth"]
    return (coeffs - ref).astype(np.float32)


def upper_stdev() -> np.ndarray:
    """[10] standard deviation of each upper-face coefficient (eyes then brows) in the shipped model's data."""
    from ..face import shipped_morphable

    model = shipped_morphable()
    return np.concatenate([model.stdev[r] for r in UPPER_REGIONS]).astype(np.float32)


def upper_coefficients(landmarks3d: np.ndarray) -> np.ndarray:
    """[T, 10] absolute upper-face coefficients (eyes ++ brows, cm) of canonical landmarks [T, 478, 3]."""
    from ..face import shipped_morphable

    coeffs = shipped_morphable().encode(np.asarray(landmarks3d, np.float32))
    return np.concatenate([coeffs[r] for r in UPPER_REGIONS], 1).astype(np.float32)


def upper_reference(track) -> np.ndarray:
    """[10] the avatar's upper-face reference: the per-coefficient median over the valid training frames (a
    typical open-eyed, resting-brow face; the closed-mouth frame may be mid-blink or mid-raise)."""
    coeffs = upper_coefficients(track.landmarks3d)
    valid = np.asarray(track.valid, bool) if track.valid is not None else np.ones(len(coeffs), bool)
    return np.median(coeffs[valid] if valid.any() else coeffs, axis=0).astype(np.float32)


def tracked_upper(landmarks3d: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """[T, 10] upper-face coefficients of tracked landmarks as offsets from the avatar's reference (cm)."""
    return (upper_coefficients(landmarks3d) - np.asarray(reference, np.float32)).astype(np.float32)


def relative_upper(track) -> np.ndarray:
    """[T, 10] upper-face motion of a driving video since its first frame (cm): the person's identity cancels,
    like the relative pose."""
    coeffs = upper_coefficients(track.landmarks3d)
    return (coeffs - coeffs[:1]).astype(np.float32)


def generated_mouth(features, reference_shape: np.ndarray, n_frames: int) -> np.ndarray:
    """[n_frames, 12] mouth coefficients generated from speech features by the shipped expression generator,
    offsets from `reference_shape` (cm); deterministic."""
    from ..motion.expression import generate_mouth

    return generate_mouth(features, np.asarray(reference_shape, np.float32), n_frames).astype(np.float32)


def windows(coeffs: np.ndarray, t: int, window: int) -> np.ndarray:
    """[window, 12] normalised coefficients (÷ stdev) of frames centred on t, edge frames repeated."""
    half = window // 2
    idx = np.clip(np.arange(t - half, t - half + window), 0, len(coeffs) - 1)
    return coeffs[idx] / mouth_stdev()


def smooth(coeffs: np.ndarray, sigma: float) -> np.ndarray:
    """Temporal Gaussian smoothing of a [T, K] sequence (sigma in frames, radius 3σ), edges reflected."""
    from scipy.ndimage import gaussian_filter1d

    if sigma <= 0 or len(coeffs) < 2:
        return coeffs
    return gaussian_filter1d(np.asarray(coeffs, np.float32), sigma, axis=0, mode="reflect", truncate=3.0)


def augment(window: np.ndarray, smoothed: np.ndarray, rng: np.random.Generator, noise: float,
            scale_range: tuple[float, float], smooth_prob: float) -> np.ndarray:
    """A training window made to look like a generated one: with `smooth_prob` the temporally smoothed
    coefficients instead of the raw ones, times a random amplitude in `scale_range`, plus Gaussian noise of
    `noise` stdev units. Inputs are normalised windows [W, 12] of the raw and the smoothed sequence."""
    x = smoothed if rng.random() < smooth_prob else window
    x = x * rng.uniform(*scale_range)
    if noise > 0:
        x = x + rng.normal(0.0, noise, size=x.shape)
    return x.astype(np.float32)


CHUNK_SECONDS = 60.0  # audio per generator call when streaming long speech
MARGIN_SECONDS = 2.0  # context on each side of a chunk (the generator sees ±0.6 s; features a little more)


def generated_mouth_streamed(wav: np.ndarray, sr: int, reference_shape: np.ndarray, n_frames: int,
                             fps: float = 25.0, chunk_seconds: float = CHUNK_SECONDS,
                             margin_seconds: float = MARGIN_SECONDS) -> np.ndarray:
    """`generated_mouth` of long audio in bounded memory: speech features and the generator run on chunks of
    `chunk_seconds` (+ `margin_seconds` of context each side, discarded), so only the [n_frames, 12] result
    grows with the length (48 bytes per frame). Audio up to one chunk + margins is processed in one piece,
    exactly like `generated_mouth` of its features; longer audio is processed like a series of ~1-min files."""
    from ..audio import compute_features

    hop = sr / fps  # samples per video frame
    chunk = max(1, int(round(chunk_seconds * fps)))
    margin = int(round(margin_seconds * fps))
    if n_frames <= chunk + 2 * margin:
        return generated_mouth(compute_features(wav, sr), reference_shape, n_frames)
    out = np.empty((n_frames, MOUTH_COEFFS), np.float32)
    for a in range(0, n_frames, chunk):
        b = min(n_frames, a + chunk)
        lo, hi = max(0, a - margin), min(n_frames, b + margin)
        piece = wav[int(round(lo * hop)):int(round(hi * hop))]
        if len(piece) == 0:  # frames past the end of the audio (rounding): hold the last generated frame
            out[a:b] = out[a - 1] if a else 0.0
            continue
        gen = generated_mouth(compute_features(piece, sr), reference_shape, hi - lo)
        out[a:b] = gen[a - lo:b - lo]
    return out
