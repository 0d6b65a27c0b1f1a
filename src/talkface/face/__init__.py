"""Face stage: mediapipe tracking, rigid head pose, canonical landmarks, eyes, masks, morphable model."""
from .canonical import CanonicalFace, canonical_face
from .features import blink_closure, blink_events, eye_aspect_ratio, gaze_offsets, mouth_gap, mouth_opening
from .landmarks import interocular, triangles
from .masks import person_masks, polygon_mask, region_masks
from .morphable import MorphableModel, fit_morphable, identity_mean, shipped_morphable
from .pipeline import build_track, track_video
from .track import FACETRACK_VERSION, FaceTrack

__all__ = ["CanonicalFace", "FACETRACK_VERSION", "FaceTrack", "MorphableModel", "blink_closure", "blink_events",
           "build_track", "canonical_face", "eye_aspect_ratio", "fit_morphable", "gaze_offsets", "identity_mean",
           "interocular", "mouth_gap", "mouth_opening", "person_masks", "polygon_mask", "region_masks",
           "shipped_morphable", "track_video", "triangles"]
