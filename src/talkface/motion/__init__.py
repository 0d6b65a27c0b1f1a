"""Motion from audio and from sources: `MotionTrack` (per-factor, PD-FGC mixing), the ExpNet-like lip generator,
the PoseVAE + long-context pose/brow generator, human blink/gaze processes, and `generate_motion` + controls."""
from .controls import Keyframes, MotionControls, generate_motion, parse_angle, pose_styles, source_motion
from .track import FACTOR_FIELDS, MOTIONTRACK_VERSION, MotionTrack

__all__ = ["FACTOR_FIELDS", "MOTIONTRACK_VERSION", "Keyframes", "MotionControls", "MotionTrack", "generate_motion",
           "parse_angle", "pose_styles", "source_motion"]
