"""`track_video`: media → raw landmarks → checks → gap filling → pose fit → smoothing → FaceTrack."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..media import DEFAULT_FPS, iter_frames, probe
from .canonical import canonical_face
from .morphable import region_indices
from .features import blink_closure, eye_aspect_ratio, gaze_offsets
from .geometry import (default_intrinsics, pose_to_weak, project_canonical, similarity_fit, unproject_to_canonical,
                       weak_to_pose)
from .smoothing import fill_gaps, zero_phase_one_euro
from .track import FaceTrack
from .tracker import RawTrack, track_raw

MIN_FOUND_FRACTION = 0.5
MULTI_FACE_FRACTION = 0.25
# Smoothing: pose is the jitter-prone part (a few px of landmark noise tilt the head); expression must keep
# fast lip motion, so its cutoff rises steeply with speed.
POSE_SMOOTHING = dict(min_cutoff=1.0, beta=0.6)
SHAPE_SMOOTHING = dict(min_cutoff=1.0, beta=4.0)
MOUTH_SMOOTHING = dict(min_cutoff=12.0, beta=8.0)  # lips carry speech at up to ~8 Hz: barely touch them


def track_video(path: str | Path, fps: float = DEFAULT_FPS, progress: bool = False, smooth: bool = True) -> FaceTrack:
    """Track the one face of a video (or image) at `fps`; raises UserError for inputs that cannot give a track."""
    info = probe(path)
    if not info.has_video:
        raise UserError(f"{path}: has no video stream (audio-only input where a video is needed).")
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=max(1, int(round(info.duration * fps))), unit="frame", desc="tracking", dynamic_ncols=True)
    try:
        raw = track_raw(iter_frames(path, fps), progress=bar)
    finally:
        if bar is not None:
            bar.close()
    check_raw(raw, path, fps)
    return build_track(raw, fps, source=str(path), smooth=smooth and len(raw.found) > 1)


def check_raw(raw: RawTrack, path, fps: float) -> None:
    """Refuse tracks that would be wrong: no face, mostly no face, several people, shot cuts."""
    n = len(raw.found)
    if not raw.found.any():
        raise UserError(f"{path}: no face found.")
    if raw.found.mean() < MIN_FOUND_FRACTION:
        raise UserError(f"{path}: a face was found in only {raw.found.sum()} of {n} frames; "
                        "talkface needs a video where the face is visible most of the time.")
    if raw.checks and raw.multi_face_checks / raw.checks >= MULTI_FACE_FRACTION:
        raise UserError(f"{path}: several faces are visible; talkface tracks one person, "
                        "so crop the video to that person first.")
    cuts = raw.cuts()
    if cuts:
        times = ", ".join(f"{c / fps:.2f} s" for c in cuts[:5])
        raise UserError(f"{path}: the video has shot cuts (at {times}); talkface needs one continuous shot "
                        "of one person, so trim the video to a single shot.")


def smooth_shape(shape: np.ndarray, fps: float) -> np.ndarray:
    """Zero-lag One-Euro on canonical landmarks [T, 478, 3]: firm on the upper face, light on the mouth."""
    mouth = region_indices(canonical_face().mean)["mouth"]
    rest = np.setdiff1d(np.arange(shape.shape[1]), mouth)
    out = np.empty_like(shape)
    for idx, params in ((rest, SHAPE_SMOOTHING), (mouth, MOUTH_SMOOTHING)):
        part = shape[:, idx].reshape(len(shape), -1)
        out[:, idx] = zero_phase_one_euro(part, fps, **params).reshape(len(shape), len(idx), 3)
    return out


def build_track(raw: RawTrack, fps: float, source: str = "", smooth: bool = True) -> FaceTrack:
    """Pose fit, smoothing and per-frame signals from raw landmarks (gaps filled by interpolation)."""
    canon = canonical_face()
    points = fill_gaps(raw.points, raw.found)
    intr = default_intrinsics(raw.width, raw.height)
    scale, rot, trans = similarity_fit(canon.mean[canon.stable], points[:, canon.stable])
    pose = weak_to_pose(scale, rot, trans, intr)
    depth_offset = trans[:, 2].astype(np.float32)
    if smooth:
        pose = zero_phase_one_euro(pose, fps, **POSE_SMOOTHING)
    image_pts = points.copy()
    image_pts[..., 2] -= depth_offset[:, None]
    shape = unproject_to_canonical(image_pts, pose, intr).astype(np.float32)
    if smooth:
        shape = smooth_shape(shape, fps)
    lm2d = project_canonical(shape, pose, intr)[..., :2].astype(np.float32)
    ear = eye_aspect_ratio(shape)
    return FaceTrack(
        fps=fps, width=raw.width, height=raw.height, landmarks2d=lm2d, landmarks3d=shape, pose=pose.astype(np.float32),
        scale=pose_to_weak(pose, intr)[0].astype(np.float32), blink=blink_closure(ear), eye_open=ear,
        gaze=gaze_offsets(shape), valid=raw.found.copy(), intrinsics=intr, source=source,
        meta={"found_fraction": float(raw.found.mean())})
