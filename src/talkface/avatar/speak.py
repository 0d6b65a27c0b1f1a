"""`speak`: drive a fitted avatar with new speech and write a video at the source framing, streaming.

Mouth: the expression generator turns the speech into mouth coefficients for the avatar's closed-mouth reference
face (`condition.py`); per output frame a pose/eye source gives the head pose, eye features, upper-face
coefficients and the background frame (brows follow the pose source, the eye region follows the blink source,
so `--blink off` never blinks); the model deforms and renders the head crop; the crop is pasted back into the frame
(rgb + (1 - alpha) · frame). What grows with the output length: the 16 kHz audio (kept for muxing) and the
[T, 12] mouth track; the speech features are released once the mouth track is generated.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch

from ..errors import UserError
from ..face import FaceTrack, canonical_face
from ..face.geometry import axis_angle_to_matrix, matrix_to_axis_angle, project_canonical
from ..face.landmarks import FACE_OVAL
from ..media import DEFAULT_FPS, DEFAULT_SR
from .dataset import eye_features
from .model import make_camera
from .store import Avatar, file_digest, load_avatar

BACKGROUND_CACHE_BYTES = 256 << 20  # decoded background frames kept for the back-and-forth replay


def pingpong(t: int, n: int) -> int:
    """Index into n frames that plays forwards, then backwards, then forwards... (never stops at the end)."""
    if n <= 1:
        return 0
    period = 2 * (n - 1)
    k = t % period
    return k if k < n else period - k


@dataclass
class FrameDrive:
    """What one output frame needs besides speech: background frame index, head pose [6], eye features [6],
    normalised upper-face coefficients [K] of the avatar's own basis (eyes ++ brows, zero = its median face;
    empty for an avatar without an upper face)."""

    background: int
    pose: np.ndarray
    eyes: np.ndarray
    upper: np.ndarray


class Driver:
    """Pose (train | still | video) and eyes (train | off | video) for each output frame; the brow coefficients
    come with the pose (training track replayed, zero offsets, or the driving video's motion since its first
    frame, projected on the avatar's basis), the eye-region coefficients with the blink source (lid closure is
    part of them, so `off` never blinks)."""

    def __init__(self, avatar: Avatar, pose: str = "train", blink: str = "train"):
        self.track = avatar.track
        self.pose_mode, self.blink_mode = pose, blink
        self.pose_track = self._driving(pose) if pose not in ("train", "still") else None
        self.blink_track = self._driving(blink) if blink not in ("train", "off") else None
        self.train_eyes = eye_features(self.track)
        self.drive_eyes = eye_features(self.blink_track) if self.blink_track is not None else None
        self.open_eyes = self.train_eyes.mean(0)
        self.open_eyes[:2] = 0.0
        basis = avatar.upper_basis
        self.n_upper = basis.size if basis is not None else 0
        self.n_eyes = basis.n_eyes if basis is not None else 0
        self.train_upper = self._upper(basis, self.track, relative=False)
        self.pose_upper = self._upper(basis, self.pose_track, relative=True)
        self.blink_upper = self._upper(basis, self.blink_track, relative=True)

    @staticmethod
    def _upper(basis, track: FaceTrack | None, relative: bool) -> np.ndarray | None:
        """Normalised upper-face coefficients [T, K] of a track on the avatar's basis: the training track's own
        (offsets from the avatar's median face) or a driving video's motion since its first frame; [T, 0]
        without an upper face, None without a track."""
        if track is None:
            return None
        if basis is None:
            return np.zeros((track.n_frames, 0), np.float32)
        coeffs = basis.relative(track.landmarks3d) if relative else basis.encode(track.landmarks3d)
        return coeffs / basis.stdev_vector()

    @staticmethod
    def _driving(path: str) -> FaceTrack:
        """Track of a driving video (pose or blink source)."""
        from ..face import track_video

        if not Path(path).exists():
            raise UserError(f"{path}: no such driving video (use train, still/off, or a video path).")
        return track_video(path, progress=True)

    def __call__(self, t: int) -> FrameDrive:
        n = self.track.n_frames
        upper = np.zeros(self.n_upper, np.float32)
        k = self.n_eyes  # eyes coefficients first, then brows
        if self.pose_mode == "train":
            idx = pingpong(t, n)
            pose = self.track.pose[idx]
            upper[k:] = self.train_upper[idx, k:]
        elif self.pose_mode == "still":
            idx, pose = 0, self.track.pose[0]
        else:
            idx = 0
            j = pingpong(t, self.pose_track.n_frames)
            pose = relative_pose(self.track.pose[0], self.pose_track.pose[0], self.pose_track.pose[j])
            upper[k:] = self.pose_upper[j, k:]
        if self.blink_mode == "train":
            eyes = self.train_eyes[pingpong(t, n)]
            upper[:k] = self.train_upper[pingpong(t, n), :k]
        elif self.blink_mode == "off":
            eyes = self.open_eyes
        else:
            j = pingpong(t, len(self.drive_eyes))
            eyes = self.drive_eyes[j]
            upper[:k] = self.blink_upper[j, :k]
        return FrameDrive(idx, np.asarray(pose, np.float32), eyes, upper)


def relative_pose(base: np.ndarray, drive0: np.ndarray, drive_t: np.ndarray) -> np.ndarray:
    """The driving video's motion since its first frame (rotation and cm translation) applied to `base`."""
    r_rel = axis_angle_to_matrix(drive_t[:3]) @ axis_angle_to_matrix(drive0[:3]).T
    rot = r_rel @ axis_angle_to_matrix(base[:3])
    trans = base[3:] + (drive_t[3:] - drive0[3:])
    return np.concatenate([matrix_to_axis_angle(rot), trans]).astype(np.float32)


class HeadRenderer:
    """Renders the avatar's head crop for a pose and pastes it into a background frame."""

    def __init__(self, avatar: Avatar):
        self.avatar = avatar
        self.res = avatar.config.data.resolution
        self.side = avatar.boxes.side
        self.k = avatar.track.intrinsics
        canon = canonical_face().mean
        self.centre3d = canon[list(FACE_OVAL)].mean(0, keepdims=True)[None]
        centres0 = project_canonical(self.centre3d, avatar.track.pose[:1], self.k)[0, 0, :2]
        self.box_shift = avatar.boxes.centres[0] - centres0  # crops are centred like the training crops
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        avatar.model.prepare_inference()

    def background(self, index: int) -> np.ndarray:
        """Decoded background frame (LRU cache bounded in bytes)."""
        if index in self.cache:
            self.cache.move_to_end(index)
            return self.cache[index]
        frame = self.avatar.background(index)
        self.cache[index] = frame
        while sum(f.nbytes for f in self.cache.values()) > BACKGROUND_CACHE_BYTES and len(self.cache) > 1:
            self.cache.popitem(last=False)
        return frame

    def crop_centre(self, drive: FrameDrive) -> np.ndarray:
        """Crop centre of a frame: the training crop's when replaying training poses, else follows the head."""
        if self.avatar.track.n_frames > drive.background and np.array_equal(
                drive.pose, self.avatar.track.pose[drive.background]):
            return self.avatar.boxes.centres[drive.background]
        return project_canonical(self.centre3d, drive.pose[None], self.k)[0, 0, :2] + self.box_shift

    @torch.inference_mode()
    def render(self, cond: dict, drive: FrameDrive) -> np.ndarray:
        """One output frame, RGB uint8 at the source size."""
        centre = self.crop_centre(drive)
        s = self.res / self.side
        x0, y0 = centre - self.side / 2
        intr = np.array([self.k[0, 0] * s, self.k[1, 1] * s, (self.k[0, 2] - x0) * s, (self.k[1, 2] - y0) * s])
        w2c = np.eye(4, dtype=np.float32)
        w2c[:3, :3] = axis_angle_to_matrix(drive.pose[:3])
        w2c[:3, 3] = drive.pose[3:]
        if self.avatar.config.model.upper_face:
            cond = {**cond, "upper": torch.from_numpy(drive.upper)}
        out = self.avatar.model(cond, torch.from_numpy(drive.eyes), make_camera(w2c, intr, self.res))
        return paste_back(self.background(drive.background), out["rgb"].numpy(), out["alpha"].numpy(), x0, y0, s)


def paste_back(frame: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x0: float, y0: float, s: float) -> np.ndarray:
    """Composite a premultiplied head crop (placed at crop origin x0, y0 with scale s) into a copy of `frame`."""
    h, w = frame.shape[:2]
    side = rgb.shape[0] / s
    bx0, by0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    bx1, by1 = min(w, int(np.ceil(x0 + side))), min(h, int(np.ceil(y0 + side)))
    out = frame.copy()
    if bx1 <= bx0 or by1 <= by0:
        return out
    # crop pixel = s * (frame pixel - origin); inverse map into the ROI
    inv = np.array([[1 / s, 0, x0 - bx0], [0, 1 / s, y0 - by0]], np.float32)
    size = (bx1 - bx0, by1 - by0)
    stacked = np.dstack([rgb, alpha]).astype(np.float32)
    warped = cv2.warpAffine(stacked, inv, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    roi = out[by0:by1, bx0:bx1].astype(np.float32)
    a = warped[..., 3:4]
    roi = warped[..., :3] * 255.0 + (1.0 - a) * roi
    out[by0:by1, bx0:bx1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)
    return out


def speech_input(audio: str | Path | None, text: str | None):
    """(audio array 16 kHz mono, features or None) from an audio/video file (features computed later, as
    needed) or from text via the offline TTS (features with its exact phone timings)."""
    from ..audio import features_from_text
    from ..audio.features import to_mono_16k
    from ..media import load_audio, probe

    if (audio is None) == (text is None):
        raise UserError("give exactly one of --audio or --text.")
    if text is not None:
        if not text.strip():
            raise UserError("the text is empty; give some words to speak.")
        wav, sr, feats = features_from_text(text)
        return to_mono_16k(wav, sr), feats
    info = probe(audio)
    if not info.has_audio:
        raise UserError(f"{audio}: has no audio track.")
    wav = load_audio(audio, DEFAULT_SR)
    if len(wav) == 0:
        raise UserError(f"{audio}: the audio track is empty.")
    return wav, None


def check_encoder(avatar: Avatar) -> None:
    """Refuse to drive an avatar with a speech encoder other than the one it was fitted with."""
    from ..audio.encoder import WEIGHTS

    want = avatar.meta["audio"].get("encoder_sha256")
    if WEIGHTS.is_file() and want and file_digest(WEIGHTS) != want:
        raise UserError(f"{avatar.path}: was fitted with a different version of the speech encoder; "
                        "re-run `talkface fit` for this avatar.")


def reference_shape(avatar: Avatar) -> np.ndarray:
    """The avatar's closed-mouth reference face [478, 3] (canonical cm): the training frame its mouth
    coefficients are offsets from."""
    return avatar.track.landmarks3d[int(avatar.meta["audio"]["reference_frame"])]


def mouth_track(avatar: Avatar, features, n_frames: int) -> np.ndarray | None:
    """[n_frames, 12] mouth coefficients generated from the speech for this avatar's reference face (None when
    the avatar is driven by speech windows only). 48 bytes per frame: the whole track is kept."""
    from .condition import generated_mouth

    if "expression" not in avatar.config.model.condition:
        return None
    return generated_mouth(features, reference_shape(avatar), n_frames)


def conditions(avatar: Avatar, mouth: np.ndarray | None, features, n_frames: int) -> Iterator[dict]:
    """Per-frame condition dicts of the model (mouth-coefficient windows and/or speech windows)."""
    from .condition import windows as coeff_windows

    cfg = avatar.config.model
    speech = None
    if "speech" in cfg.condition:
        speech = features.at_fps(DEFAULT_FPS, avatar.meta["audio"]["window"])  # strided views, no copies
    for t in range(n_frames):
        cond = {}
        if mouth is not None:
            cond["expression"] = torch.from_numpy(coeff_windows(mouth, t, cfg.expression_window))
        if speech is not None:
            k = min(t, len(speech) - 1)
            cond["speech"] = torch.from_numpy(np.concatenate([speech.posteriors[k], speech.embedding[k]], -1)
                                              .astype(np.float32))
        yield cond


def frames(avatar: Avatar, features, n_frames: int, driver: Driver, mouth: np.ndarray | None = None
           ) -> Iterator[np.ndarray]:
    """Rendered output frames, one at a time (`mouth`: precomputed `mouth_track`, else generated here)."""
    if mouth is None:
        mouth = mouth_track(avatar, features, n_frames)
    renderer = HeadRenderer(avatar)
    for t, cond in enumerate(conditions(avatar, mouth, features, n_frames)):
        yield renderer.render(cond, driver(t))


def speak(avatar_path: str | Path, output: str | Path, audio: str | Path | None = None, text: str | None = None,
          pose: str = "train", blink: str = "train", progress: bool = True) -> int:
    """Write `output` (H.264 + AAC, 25 fps, source framing); returns the number of frames."""
    from tqdm import tqdm

    from ..media import VideoWriter
    from .runtime import configure_threads

    configure_threads()
    avatar = load_avatar(avatar_path)
    check_encoder(avatar)
    wav, feats = speech_input(audio, text)
    n = max(1, int(np.ceil(len(wav) / DEFAULT_SR * DEFAULT_FPS - 1e-6)))
    uses = avatar.config.model.condition
    if feats is None and "speech" in uses:
        from ..audio import compute_features

        feats = compute_features(wav, DEFAULT_SR)  # speech windows are read per frame from the whole track
    if "expression" not in uses:
        mouth = None
    elif feats is not None:
        mouth = mouth_track(avatar, feats, n)
    else:  # streamed: no whole-file features, only the [n, 12] mouth track (48 bytes per frame)
        from .condition import generated_mouth_streamed

        mouth = generated_mouth_streamed(wav, DEFAULT_SR, reference_shape(avatar), n)
    driver = Driver(avatar, pose, blink)
    writer = VideoWriter(output, DEFAULT_FPS, wav, DEFAULT_SR)
    del wav  # the writer keeps its own (clipped) copy for muxing: 3.84 MB per minute of audio
    with writer:
        for frame in tqdm(frames(avatar, feats, n, driver, mouth), total=n, desc="speaking", unit="frame",
                          dynamic_ncols=True, disable=not progress):
            writer.write(frame)
    return n
