"""Dataset from a video: stable square head crops, per-frame cameras, masks, speech and eye features, split.

Layer 1 of the avatar (dataset → model → trainer). Coordinates: the Gaussians live in the tracked canonical head
frame (cm, x right, y down, z away from the camera); frame t's camera is the tracked head pose [R | t] with the
pinhole intrinsics of the crop, so a canonical point p lands at K_crop (R p + t).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..face import FaceTrack, canonical_face, region_masks
from ..face.geometry import axis_angle_to_matrix, project_canonical
from ..face.landmarks import FACE_OVAL
from ..media import DEFAULT_FPS, iter_frames, probe
from .config import DataConfig

EYE_FEATURES = 6  # blink (2) + gaze x/y per eye (4)


@dataclass
class Split:
    """Frame ranges of a video: train [0, train_end), held out [holdout_start, n_frames)."""

    n_frames: int
    train_end: int
    holdout_start: int


@dataclass
class CropBoxes:
    """Per-frame square crop: centre (x, y) in source pixels [T, 2] and one side length for the whole clip."""

    centres: np.ndarray
    side: float

    def affine(self, t: int, resolution: int) -> np.ndarray:
        """2x3 source→crop pixel map of frame t (uniform scale + shift)."""
        s = resolution / self.side
        x0, y0 = self.centres[t] - self.side / 2
        return np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)


@dataclass
class AvatarDataset:
    """Training (or evaluation) frames of one person, all at the crop resolution R."""

    images: np.ndarray  # [T, R, R, 3] uint8 head crops
    head_mask: np.ndarray  # [T, R, R] float32 feathered face oval (incl. lips): target coverage of the head
    mouth_mask: np.ndarray  # [T, R, R] float32 lips + inner mouth (extra loss weight)
    inner_mouth: np.ndarray  # [T, R, R] float32
    background: np.ndarray  # [T, R, R] float32 1 = not the person (selfie segmentation)
    w2c: np.ndarray  # [T, 4, 4] float32 canonical head → camera (cm)
    intrinsics: np.ndarray  # [T, 4] float32 fx, fy, cx, cy of the crop
    audio: np.ndarray  # [T, W, D] float32 speech-feature windows
    eyes: np.ndarray  # [T, 6] float32 blink + gaze
    mouth_coeffs: np.ndarray  # [T, 12] float32 tracked mouth coefficients, offsets from the reference face (cm)
    upper_coeffs: np.ndarray  # [T, K] float32 tracked eyes ++ brows coefficients of the avatar's UpperBasis (cm)
    frame_index: np.ndarray  # [T] int source frame of each sample
    resolution: int

    def __len__(self) -> int:
        return len(self.images)


def plan_split(duration: float, cfg: DataConfig, fps: float = DEFAULT_FPS) -> Split:
    """Train on the first min(seconds, rest) s; hold out the last 20% or >= 3 s (never trained on)."""
    n = int(round(duration * fps))
    hold = max(cfg.holdout_fraction * duration, cfg.holdout_seconds)
    if duration - hold < cfg.min_train_seconds:
        hold = cfg.holdout_fraction * duration
    train_s = min(cfg.seconds, duration - hold)
    if train_s < cfg.min_train_seconds:
        raise UserError(f"the video is too short ({duration:.1f} s): talkface needs at least "
                        f"{cfg.min_train_seconds:.0f} s of usable face to train on plus a held-out part.")
    holdout_start = n - int(round(hold * fps))
    return Split(n, int(round(train_s * fps)), holdout_start)


def track_frames(video: str | Path, stop: int, fps: float = DEFAULT_FPS) -> FaceTrack:
    """Face track of the first `stop` frames (refuses no face / several faces / shot cuts like `track_video`)."""
    from ..face.pipeline import build_track, check_raw
    from ..face.tracker import track_raw
    from tqdm import tqdm

    with tqdm(total=stop, unit="frame", desc="tracking", dynamic_ncols=True, leave=False) as bar:
        raw = track_raw(itertools.islice(iter_frames(video, fps), stop), progress=bar)
    check_raw(raw, video, fps)
    return build_track(raw, fps, source=str(video))


def crop_boxes(track: FaceTrack, scale: float) -> CropBoxes:
    """Stable square crops: centred on the projected canonical face centre under the smoothed pose, fixed side."""
    canon = canonical_face().mean
    centre3d = canon[list(FACE_OVAL)].mean(0, keepdims=True)
    centres = project_canonical(np.broadcast_to(centre3d, (track.n_frames, 1, 3)), track.pose, track.intrinsics)
    centres = centres[:, 0, :2]
    oval = track.landmarks2d[:, list(FACE_OVAL)]
    height = np.median(oval[..., 1].max(1) - oval[..., 1].min(1))
    return CropBoxes(centres.astype(np.float32), float(scale * height))


def cameras_from_track(track: FaceTrack, boxes: CropBoxes, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame world-to-camera [T,4,4] (head pose) and crop intrinsics [T,4] (fx, fy, cx, cy)."""
    t_count = track.n_frames
    w2c = np.tile(np.eye(4, dtype=np.float32), (t_count, 1, 1))
    w2c[:, :3, :3] = axis_angle_to_matrix(track.pose[:, :3])
    w2c[:, :3, 3] = track.pose[:, 3:6]
    k = track.intrinsics
    s = resolution / boxes.side
    x0 = boxes.centres[:, 0] - boxes.side / 2
    y0 = boxes.centres[:, 1] - boxes.side / 2
    intr = np.stack([np.full(t_count, k[0, 0] * s), np.full(t_count, k[1, 1] * s), (k[0, 2] - x0) * s,
                     (k[1, 2] - y0) * s], 1)
    return w2c, intr.astype(np.float32)


def eye_features(track: FaceTrack) -> np.ndarray:
    """Blink closure (2) and gaze offsets (4) per frame [T, 6], the upper-face condition of the motion field."""
    return np.concatenate([np.clip(track.blink, -0.5, 1.5), 4.0 * track.gaze.reshape(len(track.blink), 4)],
                          1).astype(np.float32)


def audio_windows(features, n_frames: int, window: int) -> np.ndarray:
    """Per-video-frame speech windows [T, W, P+E] (phoneme posteriors ++ encoder embedding), padded at the end."""
    w = features.at_fps(DEFAULT_FPS, window)
    feats = np.concatenate([w.posteriors, w.embedding], -1).astype(np.float32)
    if len(feats) < n_frames:
        feats = np.concatenate([feats, np.repeat(feats[-1:], n_frames - len(feats), 0)], 0)
    return feats[:n_frames]


def feather(mask: np.ndarray, resolution: int) -> np.ndarray:
    """Soft-edged version of a binary-ish mask (σ ≈ 1% of the crop), so paste-back seams are invisible."""
    sigma = max(0.8, resolution / 100)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def build_dataset(video: str | Path, cfg: DataConfig, track: FaceTrack, features, start: int, stop: int,
                  reference_shape: np.ndarray, upper_basis, with_background: bool = True) -> AvatarDataset:
    """Crops, cameras, masks and conditions of source frames [start, stop) (the track covers frame 0 onwards);
    mouth coefficients are offsets from `reference_shape` (the avatar's closed-mouth frame, canonical cm), upper-
    face coefficients are the frames' landmarks projected on the avatar's `condition.UpperBasis`."""
    from .condition import tracked_mouth

    part = track.slice(start, stop)
    res = cfg.resolution
    boxes = crop_boxes(part, cfg.crop_scale)
    w2c, intr = cameras_from_track(part, boxes, res)
    n = part.n_frames
    images = np.empty((n, res, res, 3), np.uint8)
    head = np.empty((n, res, res), np.float32)
    mouth = np.empty((n, res, res), np.float32)
    inner = np.empty((n, res, res), np.float32)
    frames = itertools.islice(iter_frames(video, track.fps), start, stop)
    t = -1
    for t, frame in enumerate(frames):
        m = boxes.affine(t, res)
        images[t] = cv2.warpAffine(frame, m, (res, res), flags=cv2.INTER_AREA if boxes.side > res else
                                   cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        pts = part.landmarks2d[t] @ m[:, :2].T + m[:, 2]
        masks = region_masks(pts, res, res)
        head[t] = feather(masks["face"], res)
        mouth[t] = np.clip(masks["lips"] + masks["inner_mouth"], 0, 1)
        inner[t] = masks["inner_mouth"]
    if t + 1 != n:
        raise UserError(f"{video}: the video ended early (decoded {t + 1} of {n} frames).")
    background = _background_masks(images) if with_background else np.zeros_like(head)
    audio = audio_windows(features, stop, cfg.audio_window)[start:stop]
    return AvatarDataset(images, head, mouth, inner, background, w2c, intr, audio, eye_features(part),
                         tracked_mouth(part.landmarks3d, reference_shape),
                         upper_basis.encode(part.landmarks3d) if upper_basis is not None else
                         np.zeros((n, 0), np.float32), np.arange(start, stop), res)


def _background_masks(images: np.ndarray) -> np.ndarray:
    """1 where a crop shows no person (mediapipe selfie segmentation), [T, R, R] float32."""
    from ..face import person_masks

    return np.stack([1.0 - m for m in person_masks(iter(images))]).astype(np.float32)


def check_video(video: str | Path) -> float:
    """Duration of a video that can be fitted; audio-only and missing inputs are refused up front."""
    info = probe(video)
    if not info.has_video or info.is_image:
        raise UserError(f"{video}: has no video stream; `fit` needs a video of the person talking.")
    if not info.has_audio:
        raise UserError(f"{video}: has no audio track; `fit` learns lip motion from the person's own speech.")
    return info.duration
