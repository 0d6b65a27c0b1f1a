"""Landmark morphable model: an identity mean shape plus a regional expression basis (mouth/jaw, eyes, brows).

Our substitute for the 3DMM expression coefficients of SadTalker: a canonical-space landmark shape is
`identity mean + Σ_region basis_region · coeffs_region`. Each region's basis is a PCA of landmark residuals
(shape minus that person's own mean) restricted to the region's points, so regions move independently and
a generator can drive lips without touching brows (PD-FGC's disentanglement needs exactly that).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store import load_npz, save_npz
from .landmarks import BROW_0, BROW_1, EYE_0, EYE_1, LIPS_INNER, LIPS_OUTER

MORPHABLE_VERSION = 1
REGIONS = ("mouth", "eyes", "brows")
DEFAULT_COMPONENTS = {"mouth": 12, "eyes": 6, "brows": 4}
MORPHABLE_PATH = Path(__file__).with_name("data") / "morphable.npz"


def region_indices(mean: np.ndarray) -> dict[str, np.ndarray]:
    """Vertex sets per region, from the canonical geometry: below the nose → mouth; lids → eyes; above the eyes → brows."""
    y = mean[:468, 1]
    eye_y = mean[[33, 133, 263, 362], 1].mean()
    nose_y = mean[1, 1]
    iod = np.linalg.norm(mean[[33, 133]].mean(0) - mean[[263, 362]].mean(0))
    mouth = np.flatnonzero(y > nose_y + 0.12 * iod)
    mouth = np.union1d(mouth, np.array(LIPS_OUTER + LIPS_INNER))
    eye_pts = np.array(EYE_0 + EYE_1)
    d_eye = np.min(np.linalg.norm(mean[:468, None, :2] - mean[None, eye_pts, :2], axis=-1), axis=1)
    eyes = np.union1d(np.flatnonzero(d_eye < 0.12 * iod), eye_pts)
    eyes = np.union1d(eyes, np.arange(468, 478))  # irises ride with the eyes
    brows = np.flatnonzero(y < eye_y - 0.18 * iod)
    brows = np.union1d(np.setdiff1d(brows, eyes), np.array(BROW_0 + BROW_1))
    return {"mouth": mouth, "eyes": np.setdiff1d(eyes, mouth), "brows": np.setdiff1d(brows, np.union1d(eyes, mouth))}


@dataclass
class MorphableModel:
    """Regional PCA bases over canonical landmarks; `mean` is the identity the coefficients are relative to."""

    mean: np.ndarray  # [478, 3] identity mean (cm)
    regions: dict[str, np.ndarray]  # region → vertex indices
    bases: dict[str, np.ndarray]  # region → [K, n_r * 3] orthonormal rows
    stdev: dict[str, np.ndarray]  # region → [K] coefficient standard deviation in the training data

    def with_identity(self, mean: np.ndarray) -> "MorphableModel":
        """The same expression basis around another person's mean shape."""
        return MorphableModel(np.asarray(mean, np.float32), self.regions, self.bases, self.stdev)

    def encode(self, shapes: np.ndarray) -> dict[str, np.ndarray]:
        """Coefficients {region: [T, K]} of canonical shapes [T, 478, 3] relative to `mean`."""
        res = np.asarray(shapes, np.float32) - self.mean
        return {r: res[:, idx].reshape(len(res), -1) @ self.bases[r].T for r, idx in self.regions.items()}

    def decode(self, coeffs: dict[str, np.ndarray]) -> np.ndarray:
        """Canonical shapes [T, 478, 3] from coefficients; missing regions stay at the mean."""
        n = len(next(iter(coeffs.values())))
        out = np.repeat(self.mean[None], n, axis=0).astype(np.float32)
        for r, c in coeffs.items():
            idx = self.regions[r]
            out[:, idx] += (np.asarray(c, np.float32) @ self.bases[r]).reshape(n, len(idx), 3)
        return out

    def save(self, path: str | Path) -> None:
        arrays = {"mean": self.mean}
        for r in self.regions:
            arrays[f"idx_{r}"], arrays[f"basis_{r}"], arrays[f"stdev_{r}"] = self.regions[r], self.bases[r], self.stdev[r]
        save_npz(path, "MorphableModel", MORPHABLE_VERSION, arrays, {"regions": list(self.regions)})

    @classmethod
    def load(cls, path: str | Path) -> "MorphableModel":
        arrays, meta = load_npz(path, "MorphableModel", MORPHABLE_VERSION)
        regs = meta["regions"]
        return cls(arrays["mean"], {r: arrays[f"idx_{r}"] for r in regs}, {r: arrays[f"basis_{r}"] for r in regs},
                   {r: arrays[f"stdev_{r}"] for r in regs})


def identity_mean(shapes: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """A person's mean canonical shape: the per-coordinate median over their (valid) frames."""
    shapes = np.asarray(shapes)
    if valid is not None and valid.any():
        shapes = shapes[valid]
    return np.median(shapes, axis=0).astype(np.float32)


def fit_morphable(per_person_shapes: list[np.ndarray], mean: np.ndarray,
                  components: dict[str, int] | None = None) -> MorphableModel:
    """PCA per region of residuals pooled over people (each relative to their own identity mean)."""
    components = components or DEFAULT_COMPONENTS
    regions = region_indices(mean)
    residuals = np.concatenate([s - identity_mean(s) for s in per_person_shapes]).astype(np.float64)
    bases, stdev = {}, {}
    for r, idx in regions.items():
        x = residuals[:, idx].reshape(len(residuals), -1)
        x = x - x.mean(0)
        _, sig, vt = np.linalg.svd(x, full_matrices=False)
        k = components[r]
        bases[r] = vt[:k].astype(np.float32)
        stdev[r] = (sig[:k] / np.sqrt(len(x))).astype(np.float32)
    return MorphableModel(np.asarray(mean, np.float32), regions, bases, stdev)


@functools.lru_cache(maxsize=1)
def shipped_morphable() -> MorphableModel:
    """The universal expression basis shipped with talkface (built by `python -m talkface.face.build_canonical`)."""
    return MorphableModel.load(MORPHABLE_PATH)
