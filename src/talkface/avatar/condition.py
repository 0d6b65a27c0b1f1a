"""The mouth condition of the avatar's motion fields: mouth-region expression coefficients of the landmark
morphable model, as offsets from the avatar's own closed-mouth reference frame (cm).

Why coefficients instead of (only) raw speech: a person's ~10 s of training video is far too little to learn
speech → mouth, but plenty to learn coefficients → appearance. So `fit` conditions the motion fields on the
*tracked* coefficients of each training frame (independent of any generator's weights), and `speak` / the
held-out evaluation feed the coefficients that the cross-speaker expression generator
(`talkface.motion.expression.generate_mouth`) produces from the audio with the same reference face — silence
closes the mouth because the generator closes it.

The upper-face condition (eyes, brows) is the avatar's own basis (`UpperBasis`, fitted on its training frames);
its coefficients are always tracked, never generated (ground truth in the held-out evaluation, the pose / blink
sources at `speak`).

The generator's output is smoother and smaller than tracked motion; `augment` bridges that gap during training
(random temporal smoothing, amplitude scaling and noise), so nothing derived from the generator is stored.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOUTH_COEFFS = 12  # mouth-region components of the shipped morphable model
UPPER_REGIONS = ("eyes", "brows")  # the upper-face regions (vertex sets of the shipped model), in this order
UPPER_COMPONENTS = {"eyes": 12, "brows": 8}  # default size of the person-specific upper-face basis
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


@dataclass
class UpperBasis:
    """The avatar's own upper-face expression basis: a PCA, per region (eyes incl. lids and irises; brows and
    forehead), of its training frames' canonical (pose-removed) landmark offsets from their median face.

    Why person-specific: the shipped morphable model's 6 eye + 4 brow components are pooled over many people and
    explain only about half of an expressive speaker's upper-face motion (expressive_talk's held-out tail: mean
    unexplained 0.086 of 0.172 cm on the eye region, 0.144 of 0.307 cm on the brows); 12 + 8 components of the
    person's own motion leave 0.052 / 0.085 cm. The vertex sets stay the shipped model's regions (disjoint from
    the mouth), so the eye part can still follow the blink source and the brows the pose source at `speak`.
    Coefficients are offsets from `reference` (zero = the median training face: open eyes, resting brows)."""

    reference: np.ndarray  # [478, 3] median training shape (cm); only the regions' vertices are used
    bases: dict[str, np.ndarray]  # region → [K_r, n_r * 3] orthonormal rows
    stdev: dict[str, np.ndarray]  # region → [K_r] RMS of each coefficient over the training frames (cm)

    @property
    def sizes(self) -> dict[str, int]:
        """Components per region, in `UPPER_REGIONS` order."""
        return {r: int(self.bases[r].shape[0]) for r in UPPER_REGIONS}

    @property
    def n_eyes(self) -> int:
        """Eye-region components: the first part of the upper-face vector (the rest are the brows)."""
        return self.sizes["eyes"]

    @property
    def size(self) -> int:
        """Length of the upper-face vector (eyes ++ brows)."""
        return sum(self.sizes.values())

    def stdev_vector(self) -> np.ndarray:
        """[K] stdev of the whole upper-face vector (input normalisation)."""
        return np.concatenate([self.stdev[r] for r in UPPER_REGIONS]).astype(np.float32)

    def encode(self, landmarks3d: np.ndarray) -> np.ndarray:
        """[T, K] coefficients (cm) of canonical landmarks [T, 478, 3] as offsets from the reference face."""
        lm = np.asarray(landmarks3d, np.float32)
        index = upper_indices()
        parts = [(lm[:, index[r]] - self.reference[index[r]]).reshape(len(lm), -1) @ self.bases[r].T
                 for r in UPPER_REGIONS]
        return np.concatenate(parts, 1).astype(np.float32)

    def decode(self, coeffs: np.ndarray) -> np.ndarray:
        """[T, 478, 3] landmark offsets (cm) of coefficients [T, K]; vertices outside the regions stay at zero."""
        coeffs = np.asarray(coeffs, np.float32)
        out = np.zeros((len(coeffs), 478, 3), np.float32)
        index, a = upper_indices(), 0
        for r in UPPER_REGIONS:
            k = self.sizes[r]
            out[:, index[r]] = (coeffs[:, a:a + k] @ self.bases[r]).reshape(len(coeffs), -1, 3)
            a += k
        return out

    def relative(self, landmarks3d: np.ndarray) -> np.ndarray:
        """[T, K] upper-face motion of a driving video since its first frame (cm): the other person's identity
        cancels, like the relative pose; the motion is expressed in this avatar's basis."""
        coeffs = self.encode(landmarks3d)
        return (coeffs - coeffs[:1]).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for storage (`from_arrays` inverts)."""
        out = {"upper_reference": self.reference}
        for r in UPPER_REGIONS:
            out[f"upper_basis_{r}"], out[f"upper_stdev_{r}"] = self.bases[r], self.stdev[r]
        return out

    @classmethod
    def from_arrays(cls, arrays: dict) -> "UpperBasis":
        """The basis stored by `to_arrays` (numpy arrays or tensors)."""
        get = lambda k: np.asarray(arrays[k], np.float32)  # noqa: E731
        return cls(get("upper_reference"), {r: get(f"upper_basis_{r}") for r in UPPER_REGIONS},
                   {r: get(f"upper_stdev_{r}") for r in UPPER_REGIONS})

    @classmethod
    def unfilled(cls, sizes: dict[str, int]) -> "UpperBasis":
        """Zero buffers of the given sizes, for a model that is about to load its stored basis (`load_state_dict`)."""
        index = upper_indices()
        return cls(np.zeros((478, 3), np.float32),
                   {r: np.zeros((sizes[r], len(index[r]) * 3), np.float32) for r in UPPER_REGIONS},
                   {r: np.ones(sizes[r], np.float32) for r in UPPER_REGIONS})


def upper_indices() -> dict[str, np.ndarray]:
    """Landmark indices of the upper-face regions: the shipped morphable model's eyes and brows vertex sets."""
    from ..face import shipped_morphable

    regions = shipped_morphable().regions
    return {r: np.asarray(regions[r], np.int64) for r in UPPER_REGIONS}


MIN_STDEV_CM = 1e-3  # floor of a component's stdev (a nearly still training clip must not divide by ~0)


def fit_upper_basis(landmarks3d: np.ndarray, valid: np.ndarray | None = None,
                    components: dict[str, int] | None = None) -> UpperBasis:
    """The person-specific upper-face basis of training landmarks [T, 478, 3] (`UpperBasis`): per region, the
    top principal directions of the (valid) frames' offsets from their per-coordinate median face, taken about
    zero (not the offsets' mean) so zero coefficients are exactly the median face; signs fixed (largest entry
    positive) so refits are reproducible."""
    components = components or UPPER_COMPONENTS
    lm = np.asarray(landmarks3d, np.float64)
    valid = np.asarray(valid, bool) if valid is not None else np.ones(len(lm), bool)
    if valid.any():
        lm = lm[valid]
    reference = np.median(lm, axis=0)
    bases, stdev = {}, {}
    for r, idx in upper_indices().items():
        x = (lm[:, idx] - reference[idx]).reshape(len(lm), -1)
        _, sig, vt = np.linalg.svd(x, full_matrices=False)
        k = components[r]
        vt, sig = vt[:k], sig[:k]
        if len(vt) < k:  # fewer frames than components: pad with unused (zero) directions
            vt = np.concatenate([vt, np.zeros((k - len(vt), x.shape[1]))])
            sig = np.concatenate([sig, np.zeros(k - len(sig))])
        sign = np.sign(vt[np.arange(k), np.abs(vt).argmax(1)])
        bases[r] = (vt * np.where(sign == 0, 1.0, sign)[:, None]).astype(np.float32)
        stdev[r] = np.maximum(sig / np.sqrt(len(x)), MIN_STDEV_CM).astype(np.float32)
    return UpperBasis(reference.astype(np.float32), bases, stdev)


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
