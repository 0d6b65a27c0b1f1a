"""A tracking preview video: mesh, pose axes, eye closure and gaze drawn over the frames, audio kept."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..media import VideoWriter, iter_frames, load_audio, probe
from .geometry import axis_angle_to_matrix, euler_degrees, pose_to_weak
from .landmarks import IRIS_0, IRIS_1, triangles
from .masks import region_masks
from .track import FaceTrack

AXIS_CM = 6.0


def draw_overlay(frame: np.ndarray, track: FaceTrack, k: int) -> np.ndarray:
    """One annotated frame: tessellation, lip/eye fills, pose axes from the nose, blink bars and gaze arrows."""
    img = frame.copy()
    pts = track.landmarks2d[k]
    h, w = img.shape[:2]
    thick = max(1, int(round(min(h, w) / 400)))
    ok = bool(track.valid[k])
    colour = (0, 255, 0) if ok else (255, 160, 0)
    edges = triangles()[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    lines = np.round(pts[edges] * 4).astype(np.int32)
    mesh = img.copy()
    cv2.polylines(mesh, list(lines), False, colour, 1, cv2.LINE_AA, shift=2)
    img = cv2.addWeighted(mesh, 0.35, img, 0.65, 0)
    masks = region_masks(pts, h, w)
    tint = masks["inner_mouth"][..., None] * np.array([255, 0, 255]) + masks["eyes"][..., None] * np.array([0, 200, 255])
    alpha = 0.35 * np.clip(masks["inner_mouth"] + masks["eyes"], 0, 1)[..., None]
    img = (img * (1 - alpha) + tint * alpha).astype(np.uint8)
    _draw_axes(img, track, k, thick)
    _draw_eyes(img, track, k, thick)
    yaw, pitch, roll = euler_degrees(track.pose[k, :3])
    text = f"yaw {yaw:+.1f} pitch {pitch:+.1f} roll {roll:+.1f}  blink {track.blink[k, 0]:.2f}/{track.blink[k, 1]:.2f}"
    cv2.putText(img, text if ok else "no face (interpolated)", (8, 8 + 14 * thick), cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * thick, (255, 255, 255), thick, cv2.LINE_AA)
    return img


def _draw_axes(img: np.ndarray, track: FaceTrack, k: int, thick: int) -> None:
    """Head axes (x red, y green, z blue) drawn from the nose tip."""
    scale, _, t = pose_to_weak(track.pose[k], track.intrinsics)
    rot = axis_angle_to_matrix(track.pose[k, :3])
    origin = track.landmarks2d[k, 1]
    for axis, colour in zip(np.eye(3), ((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        tip = origin + scale * (rot @ (axis * AXIS_CM))[:2]
        cv2.arrowedLine(img, tuple(np.round(origin).astype(int)), tuple(np.round(tip).astype(int)), colour, thick + 1,
                        cv2.LINE_AA, tipLength=0.15)


def _draw_eyes(img: np.ndarray, track: FaceTrack, k: int, thick: int) -> None:
    """Per-eye closure bar and a gaze arrow from each iris."""
    pts = track.landmarks2d[k]
    for e, iris in enumerate((IRIS_0, IRIS_1)):
        c = pts[iris[0]]
        radius = np.linalg.norm(pts[iris[1]] - c)
        tip = c + track.gaze[k, e] * radius * 12
        cv2.arrowedLine(img, tuple(np.round(c).astype(int)), tuple(np.round(tip).astype(int)), (255, 255, 0), thick,
                        cv2.LINE_AA, tipLength=0.3)
        x0, y0 = 8 + e * 22 * thick, img.shape[0] - 8
        bar = int(60 * thick * float(track.blink[k, e]))
        cv2.rectangle(img, (x0, y0 - 60 * thick), (x0 + 14 * thick, y0), (80, 80, 80), -1)
        cv2.rectangle(img, (x0, y0 - bar), (x0 + 14 * thick, y0), (255, 80, 80), -1)


def write_preview(video: str | Path, track: FaceTrack, out: str | Path) -> None:
    """Render the annotated preview of `video` with its audio muxed (if it has any)."""
    info = probe(video)
    audio = load_audio(video) if info.has_audio else None
    with VideoWriter(out, fps=track.fps, audio=audio, audio_rate=16000) as writer:
        for k, frame in enumerate(iter_frames(video, track.fps)):
            if k >= track.n_frames:
                break
            writer.write(draw_overlay(frame, track, k))
