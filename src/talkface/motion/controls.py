"""The motion controls every renderer exposes, and `generate_motion`: speech + controls (+ reference) → MotionTrack.

Generated factors (lips from the expression generator; pose and brows from the pose generator; blinks and gaze
from the eye processes) form one track; each `*_from` source then replaces its factor with `MotionTrack.override`
(PD-FGC), so a source never disturbs the other factors. Explicit yaw/pitch/roll numbers are applied last.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import UserError
from .track import FPS, MotionTrack

ANGLE_LIMITS = {"yaw": 60.0, "pitch": 40.0, "roll": 40.0}  # degrees; beyond these a face cannot be rendered
MAX_SCALE = 3.0
MAX_SEED = 2 ** 32 - 1
DEFAULT_POSE = (0.0, 0.0, 0.0, 0.0, 0.0, 60.0)  # frontal head 60 cm from the camera when there is no reference
MIN_STYLE_FRAMES = 50  # a reference video this long (2 s) gives its own head-motion style


@dataclass(frozen=True)
class Keyframes:
    """An angle over time: (seconds, degrees) pairs, linearly interpolated, constant beyond the ends."""

    times: tuple[float, ...]
    values: tuple[float, ...]

    def __str__(self) -> str:
        """The 'seconds:degrees,...' form the flags accept."""
        return ",".join(f"{t:g}:{v:g}" for t, v in zip(self.times, self.values))

    def at(self, n_frames: int, fps: float = FPS) -> np.ndarray:
        """The angle at each of `n_frames` frame instants (degrees)."""
        return np.interp(np.arange(n_frames) / fps, self.times, self.values).astype(np.float32)


def parse_angle(name: str, value: float | str | Keyframes | None) -> Keyframes | None:
    """A constant ('12', 12.0) or keyframed ('0:0,2:15,4:-10' = seconds:degrees) angle, validated."""
    if value is None or isinstance(value, Keyframes):
        keys = value
    elif isinstance(value, (int, float)):
        keys = Keyframes((0.0,), (float(value),))
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            if ":" not in text:
                keys = Keyframes((0.0,), (float(text),))
            else:
                pairs = [item.split(":") for item in text.split(",") if item.strip()]
                if any(len(p) != 2 for p in pairs):
                    raise ValueError
                keys = Keyframes(tuple(float(t) for t, _ in pairs), tuple(float(v) for _, v in pairs))
        except ValueError:
            raise UserError(f"--{name} must be degrees ('10') or keyframes 'seconds:degrees,...' "
                            f"('0:0,2:15'); got {value!r}.") from None
    if keys is None:
        return None
    limit = ANGLE_LIMITS[name]
    if not all(math.isfinite(v) and abs(v) <= limit for v in keys.values):
        raise UserError(f"--{name} must stay within ±{limit:g} degrees.")
    if not all(math.isfinite(t) and t >= 0 for t in keys.times):
        raise UserError(f"--{name} keyframe times must be seconds ≥ 0.")
    if any(b <= a for a, b in zip(keys.times, keys.times[1:])):
        raise UserError(f"--{name} keyframe times must increase ({','.join(f'{t:g}' for t in keys.times)}).")
    return keys


def _check_video(flag: str, path: Path | str | None) -> Path | None:
    """A source video path that exists (checked before any work starts)."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--{flag} {path}: no such file.")
    return path


def _check_scale(flag: str, value: float) -> float:
    """A motion scale in [0, MAX_SCALE]."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= MAX_SCALE):
        raise UserError(f"--{flag} must be between 0 and {MAX_SCALE:g} (got {value}).")
    return float(value)


@dataclass(frozen=True)
class MotionControls:
    """What a user can say about motion; every renderer (`animate`, `speak`) exposes the same set.

    - still: keep the reference head pose (no head motion, no brow motion); blinks continue unless blink='off'.
    - pose_style: head-motion style of training speaker N (`pose_styles()`); default: the reference video's own
      style when the reference is a video, else the mean style.
    - pose_from: take head pose from this video (relative to its first frame, applied on the reference pose).
    - blink: 'auto' (generated human blinks), 'off' (none) or a video to copy blinks from.
    - eyes_from: take gaze from this video.
    - expression_from: take the non-lip expression (brows, eye shape, emotion) from this video.
    - expression_scale: multiplies the generated lip and brow motion (0 = frozen expression).
    - head_motion_scale: multiplies the head motion (generated or taken from pose_from).
    - yaw/pitch/roll: absolute head angles in degrees, constant or keyframed 'seconds:degrees,...' (override pose).
    - seed: the random seed of the generated pose, blinks and gaze (same seed → same motion).
    """

    still: bool = False
    pose_style: int | None = None
    pose_from: Path | None = None
    blink: str | Path = "auto"
    eyes_from: Path | None = None
    expression_from: Path | None = None
    expression_scale: float = 1.0
    head_motion_scale: float = 1.0
    yaw: float | str | Keyframes | None = None
    pitch: float | str | Keyframes | None = None
    roll: float | str | Keyframes | None = None
    seed: int = 0
    _validated: bool = field(default=False, repr=False, compare=False)

    def validated(self) -> "MotionControls":
        """A copy with every value checked and normalised; raises UserError with one sentence on a bad value."""
        if self._validated:
            return self
        if self.still and self.pose_from is not None:
            raise UserError("--still and --pose-from contradict each other; choose one.")
        if self.pose_style is not None and self.pose_from is not None:
            raise UserError("--pose-style and --pose-from contradict each other; choose one.")
        if self.pose_style is not None:
            n = len(pose_styles())
            if isinstance(self.pose_style, bool) or not isinstance(self.pose_style, (int, np.integer)) \
                    or not 0 <= int(self.pose_style) < n:
                raise UserError(f"--pose-style must be a whole number from 0 to {n - 1} (got {self.pose_style}).")
        blink = self.blink
        if isinstance(blink, str) and blink.strip().lower() in ("auto", "off"):
            blink = blink.strip().lower()
        else:
            blink = _check_video("blink", blink)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"--seed must be a whole number from 0 to {MAX_SEED} (got {self.seed}).")
        return replace(
            self, pose_style=None if self.pose_style is None else int(self.pose_style),
            pose_from=_check_video("pose-from", self.pose_from), blink=blink,
            eyes_from=_check_video("eyes-from", self.eyes_from),
            expression_from=_check_video("expression-from", self.expression_from),
            expression_scale=_check_scale("expression-scale", self.expression_scale),
            head_motion_scale=_check_scale("head-motion-scale", self.head_motion_scale),
            yaw=parse_angle("yaw", self.yaw), pitch=parse_angle("pitch", self.pitch),
            roll=parse_angle("roll", self.roll), seed=int(self.seed), _validated=True)


def pose_styles() -> list[str]:
    """Names of the training speakers whose head-motion styles `pose_style` selects (index = id)."""
    from .pose import load_pose

    return load_pose()[1]


def source_motion(path: Path) -> MotionTrack:
    """A video as a MotionTrack source (tracked once, then read from the user cache while the file is unchanged)."""
    from .data import cached_track

    return MotionTrack.from_track(cached_track(path), source=str(path))


def compose_pose(base: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """[T,6] poses: the base pose's Euler angles plus angle offsets (deg) and its translation plus offsets (cm)."""
    from ..face.geometry import euler_degrees, euler_to_axis_angle

    base = np.asarray(base, np.float64)
    angles = euler_degrees(base[:3])[None] + offsets[:, :3]
    out = np.empty((len(offsets), 6), np.float32)
    out[:, :3] = euler_to_axis_angle(angles)
    out[:, 3:] = base[3:][None] + offsets[:, 3:6]
    return out


def relative_pose_offsets(pose: np.ndarray) -> np.ndarray:
    """[T,6] angle (deg) and translation (cm) offsets of a pose sequence from its first frame."""
    from ..face.geometry import euler_degrees

    angles = euler_degrees(np.asarray(pose[:, :3], np.float64))
    return np.concatenate([angles - angles[:1], pose[:, 3:6] - pose[:1, 3:6]], 1)


def set_angles(pose: np.ndarray, controls: MotionControls, fps: float) -> np.ndarray:
    """Poses with yaw/pitch/roll replaced by the controls' explicit (keyframed) angles where given."""
    from ..face.geometry import euler_degrees, euler_to_axis_angle

    keys = (controls.yaw, controls.pitch, controls.roll)
    if all(k is None for k in keys):
        return pose
    angles = euler_degrees(np.asarray(pose[:, :3], np.float64))
    for i, k in enumerate(keys):
        if k is not None:
            angles[:, i] = k.at(len(pose), fps)
    out = pose.copy()
    out[:, :3] = euler_to_axis_angle(angles)
    return out


def reference_style(reference, model) -> np.ndarray | None:
    """Head-motion style vector of a reference video (None for a photo or a clip shorter than 2 s)."""
    from .pose import style_from_motion, track_motion

    if reference is None or reference.n_frames < MIN_STYLE_FRAMES:
        return None
    return style_from_motion(track_motion(reference), model)


def generated_motion(speech, controls: MotionControls, reference, n: int) -> MotionTrack:
    """The fully generated track (lips, pose + brows, blinks, gaze) before any source overrides."""
    from .expression import generate_mouth
    from .eyes import eye_rig, generate_blinks, generate_gaze
    from .features import pose_inputs
    from .pose import generate_pose, load_pose

    rng = np.random.default_rng(controls.seed)
    ref_shape = None if reference is None else reference.landmarks3d[0]
    base_pose = np.asarray(DEFAULT_POSE, np.float32) if reference is None else reference.pose[0]
    mouth = generate_mouth(speech, ref_shape, n) * controls.expression_scale
    model, _ = load_pose()
    if controls.still:
        offsets = np.zeros((n, 10), np.float32)
    else:
        style = reference_style(reference, model) if controls.pose_style is None else None
        if controls.pose_style is not None:
            style = model.style_table[controls.pose_style].numpy()
        elif style is None:
            style = model.style_table.mean(0).numpy()
        offsets = generate_pose(pose_inputs(speech, n), style, controls.seed, model)
    pose = compose_pose(base_pose, offsets[:, :6] * controls.head_motion_scale)
    brows = offsets[:, 6:] * controls.expression_scale
    blink = generate_blinks(n, rng) if controls.blink == "auto" else np.zeros((n, 2), np.float32)
    gaze = generate_gaze(n, rng)
    n_eyes = eye_rig().shape[1]
    expression = {"mouth": mouth, "eyes": np.zeros((n, n_eyes), np.float32), "brows": brows.astype(np.float32)}
    meta = {"source": "generated", "seed": controls.seed, "expression_rest": "reference first frame"
            if reference is not None else "shipped mean shape"}
    return MotionTrack(pose, expression, blink, gaze, np.zeros((n, 2), np.float32), FPS, meta)


def generate_motion(speech, controls: MotionControls | None = None, reference=None) -> MotionTrack:
    """The final MotionTrack for `speech` (SpeechFeatures) under `controls`, for the face of `reference`.

    `reference` is the FaceTrack of the photo or video being animated (its first frame is the rest face and pose;
    a video also lends its head-motion style), or None for a generic frontal face. Frames: 25 fps covering speech.
    """
    controls = (controls or MotionControls()).validated()
    n = speech.n_frames(FPS)
    motion = generated_motion(speech, controls, reference, n)
    if controls.pose_from is not None:
        src = source_motion(controls.pose_from).fit_length(n)
        base_pose = motion.pose[0] if reference is None else reference.pose[0]
        src.pose = compose_pose(base_pose, relative_pose_offsets(src.pose) * controls.head_motion_scale)
        motion = motion.override(src, "pose")
    if isinstance(controls.blink, Path):
        motion = motion.override(source_motion(controls.blink), "blink")
    if controls.eyes_from is not None:
        motion = motion.override(source_motion(controls.eyes_from), "gaze")
    if controls.expression_from is not None:
        src = source_motion(controls.expression_from)
        src.expression["brows"] = src.expression["brows"] * controls.expression_scale
        motion = motion.override(src, "expression")
    motion.pose = set_angles(motion.pose, controls, FPS)
    motion.meta["controls"] = {k: (str(v) if isinstance(v, (Path, Keyframes)) else v)
                               for k, v in vars(controls).items() if not k.startswith("_")}
    return motion
