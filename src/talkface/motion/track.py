"""`MotionTrack`: everything that moves a face, per frame at 25 fps, split by factor (PD-FGC).

Conventions:
- `pose` [T,6]: axis-angle (rad) + camera-space translation (cm), like `FaceTrack.pose`.
- `expression` {region: [T,K]}: coefficients of the shipped morphable basis (`talkface.face.shipped_morphable`),
  as offsets from the face's *rest shape*: the reference frame for generated motion, the median shape for a
  tracked video. `expression["eyes"]` holds the eye-region shape *beyond* what `blink` and `gaze` explain; the
  full coefficients are `coefficients()` (= expression + the eye rig applied to blink and gaze), and the canonical
  landmarks are `shapes(rest_shape)`. Renderers should use those two, never decode `expression` alone.
- `blink` [T,2]: eye closure per eye (0 open as usual, 1 closed), like `FaceTrack.blink`.
- `gaze` [T,2]: iris offset (x, y) as a fraction of eye width, relative to the rest gaze (mean of both eyes).
- `valence_arousal` [T,2]: continuous emotion in [-1, 1] (zeros = neutral), filled by the emotion stage.

Factors for `override` (PD-FGC mixing); each factor owns disjoint fields, so replacing one leaves the others
bit-identical: lips → expression.mouth; pose → pose; blink → blink; gaze → gaze; eyes → blink + gaze +
expression.eyes; brows → expression.brows; expression → expression.brows + expression.eyes + valence_arousal;
emotion → valence_arousal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..store import load_npz, save_npz

MOTIONTRACK_VERSION = 1
FPS = 25.0
REGIONS = ("mouth", "eyes", "brows")

FACTOR_FIELDS: dict[str, tuple[str, ...]] = {
    "lips": ("expression.mouth",),
    "pose": ("pose",),
    "blink": ("blink",),
    "gaze": ("gaze",),
    "eyes": ("blink", "gaze", "expression.eyes"),
    "brows": ("expression.brows",),
    "expression": ("expression.brows", "expression.eyes", "valence_arousal"),
    "emotion": ("valence_arousal",),
}
"""Which fields each PD-FGC factor owns (`expression.<region>` names one region's coefficients)."""

FIELDS = ("pose", "blink", "gaze", "valence_arousal") + tuple(f"expression.{r}" for r in REGIONS)


@dataclass
class MotionTrack:
    """Per-frame motion of one face, split by factor; every array has the leading frame axis T."""

    pose: np.ndarray  # [T, 6] float32
    expression: dict[str, np.ndarray]  # region → [T, K] float32
    blink: np.ndarray  # [T, 2] float32
    gaze: np.ndarray  # [T, 2] float32
    valence_arousal: np.ndarray  # [T, 2] float32
    fps: float = FPS
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.pose)
        shapes = {"pose": 6, "blink": 2, "gaze": 2, "valence_arousal": 2}
        for name, width in shapes.items():
            arr = np.asarray(getattr(self, name), np.float32)
            if arr.shape != (n, width):
                raise ValueError(f"MotionTrack.{name} must be [{n}, {width}], got {arr.shape}")
            setattr(self, name, arr)
        self.expression = {r: np.asarray(c, np.float32) for r, c in self.expression.items()}
        for r, c in self.expression.items():
            if r not in REGIONS or c.ndim != 2 or len(c) != n:
                raise ValueError(f"MotionTrack.expression[{r!r}] must be [{n}, K] for a region in {REGIONS}")

    @property
    def n_frames(self) -> int:
        return int(len(self.pose))

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    # ---- field access by name (used by override / tests) ----
    def get(self, name: str) -> np.ndarray:
        """The array of field `name` ('pose', 'blink', 'gaze', 'valence_arousal' or 'expression.<region>')."""
        if name.startswith("expression."):
            return self.expression[name.split(".", 1)[1]]
        return getattr(self, name)

    def _set(self, name: str, value: np.ndarray) -> None:
        """Replace field `name` (no copy of the other fields)."""
        if name.startswith("expression."):
            self.expression[name.split(".", 1)[1]] = value
        else:
            setattr(self, name, value)

    def copy(self) -> "MotionTrack":
        """Deep copy (arrays copied)."""
        return MotionTrack(self.pose.copy(), {r: c.copy() for r, c in self.expression.items()}, self.blink.copy(),
                           self.gaze.copy(), self.valence_arousal.copy(), self.fps, dict(self.meta))

    def slice(self, start: int, stop: int) -> "MotionTrack":
        """Frames [start, stop) as a new track."""
        return MotionTrack(self.pose[start:stop], {r: c[start:stop] for r, c in self.expression.items()},
                           self.blink[start:stop], self.gaze[start:stop], self.valence_arousal[start:stop],
                           self.fps, dict(self.meta))

    def fit_length(self, n: int) -> "MotionTrack":
        """Exactly `n` frames: cropped when longer, extended back and forth (ping-pong, no jumps) when shorter."""
        if n < 1:
            raise UserError("a motion track needs at least one frame.")
        idx = pingpong_indices(self.n_frames, n)
        return MotionTrack(self.pose[idx], {r: c[idx] for r, c in self.expression.items()}, self.blink[idx],
                           self.gaze[idx], self.valence_arousal[idx], self.fps, dict(self.meta))

    # ---- PD-FGC mixing ----
    def override(self, other: "MotionTrack", factors: tuple[str, ...] | list[str] | str) -> "MotionTrack":
        """A new track with `factors` taken from `other` (fit to this length) and every other field bit-identical.

        Factors: lips, pose, blink, gaze, eyes, brows, expression, emotion (see the module docstring)."""
        if isinstance(factors, str):
            factors = (factors,)
        unknown = [f for f in factors if f not in FACTOR_FIELDS]
        if unknown:
            raise UserError(f"unknown motion factor {unknown[0]!r}; choose from {', '.join(FACTOR_FIELDS)}.")
        if abs(other.fps - self.fps) > 1e-6:
            raise UserError(f"cannot mix motion at {other.fps} fps into motion at {self.fps} fps.")
        src = other.fit_length(self.n_frames)
        out = self.copy()
        for name in sorted({f for fac in factors for f in FACTOR_FIELDS[fac]}):
            region = name.split(".", 1)[1] if name.startswith("expression.") else None
            if region is not None and region not in src.expression:
                raise UserError(f"the source motion has no {region} expression to take.")
            out._set(name, src.get(name).copy())
        out.meta.setdefault("sources", {})
        for fac in factors:
            out.meta["sources"][fac] = other.meta.get("source", "other")
        return out

    # ---- geometry for renderers ----
    def coefficients(self) -> dict[str, np.ndarray]:
        """Full morphable coefficients {region: [T,K]}: expression plus the eye rig applied to blink and gaze."""
        from .eyes import eye_rig

        out = {r: c.copy() for r, c in self.expression.items()}
        rig = eye_rig()
        eyes = np.concatenate([self.blink, self.gaze], 1) @ rig
        out["eyes"] = out.get("eyes", np.zeros((self.n_frames, rig.shape[1]), np.float32)) + eyes.astype(np.float32)
        return out

    def shapes(self, rest_shape: np.ndarray) -> np.ndarray:
        """Canonical landmarks [T,478,3] (cm) of this motion on a face whose rest shape is `rest_shape` [478,3]."""
        from ..face import shipped_morphable

        return shipped_morphable().with_identity(rest_shape).decode(self.coefficients())

    # ---- construction ----
    @classmethod
    def still(cls, n: int, pose: np.ndarray | None = None, fps: float = FPS) -> "MotionTrack":
        """`n` frames of a motionless rest face at `pose` (default: frontal, 60 cm from the camera)."""
        from ..face import shipped_morphable

        base = np.zeros(6, np.float32) if pose is None else np.asarray(pose, np.float32)
        if pose is None:
            base[5] = 60.0
        model = shipped_morphable()
        expr = {r: np.zeros((n, len(model.bases[r])), np.float32) for r in REGIONS}
        z2 = np.zeros((n, 2), np.float32)
        return cls(np.repeat(base[None], n, 0), expr, z2.copy(), z2.copy(), z2.copy(), fps, {"source": "still"})

    @classmethod
    def from_track(cls, track, source: str = "") -> "MotionTrack":
        """A tracked video as a driving source: pose, expression (relative to its median shape), blink, gaze."""
        from ..face import identity_mean, shipped_morphable
        from .eyes import eye_rig

        if abs(track.fps - FPS) > 1e-6:
            raise UserError(f"motion sources must be tracked at {FPS:g} fps (got {track.fps:g}).")
        rest = identity_mean(track.landmarks3d, track.valid)
        coeffs = shipped_morphable().with_identity(rest).encode(track.landmarks3d)
        gaze = track.gaze.mean(1)
        gaze = gaze - np.median(gaze[track.valid] if track.valid.any() else gaze, axis=0)
        blink = np.asarray(track.blink, np.float32)
        coeffs["eyes"] = coeffs["eyes"] - np.concatenate([blink, gaze], 1) @ eye_rig()
        n = track.n_frames
        return cls(track.pose.copy(), coeffs, blink.copy(), gaze, np.zeros((n, 2), np.float32), FPS,
                   {"source": source or track.source or "video"})

    # ---- storage ----
    def save(self, path: str | Path) -> None:
        """Write as versioned `.npz` (atomic)."""
        arrays = {"pose": self.pose, "blink": self.blink, "gaze": self.gaze, "valence_arousal": self.valence_arousal}
        arrays.update({f"expression_{r}": c for r, c in self.expression.items()})
        save_npz(path, "MotionTrack", MOTIONTRACK_VERSION, arrays,
                 {"fps": self.fps, "regions": list(self.expression), **self.meta})

    @classmethod
    def load(cls, path: str | Path) -> "MotionTrack":
        """Read a track written by `save`; other versions or kinds are refused with a UserError."""
        arrays, meta = load_npz(path, "MotionTrack", MOTIONTRACK_VERSION)
        fps, regions = meta.pop("fps"), meta.pop("regions")
        return cls(arrays["pose"], {r: arrays[f"expression_{r}"] for r in regions}, arrays["blink"], arrays["gaze"],
                   arrays["valence_arousal"], fps, meta)


def pingpong_indices(length: int, n: int) -> np.ndarray:
    """Indices 0..length-1 forward, then backward, … for `n` frames (a short source extended without jumps)."""
    if length <= 1:
        return np.zeros(n, np.int64)
    period = 2 * (length - 1)
    k = np.arange(n) % period
    return np.where(k < length, k, period - k).astype(np.int64)
