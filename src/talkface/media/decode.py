"""Decoding: probe any file PyAV/ffmpeg reads, stream video frames at a fixed fps, load audio as 16 kHz mono.

Frames are streamed (one decoded frame in memory at a time) and resampled to the target fps by their
timestamps: output frame k shows the source frame nearest to time k / fps. Audio is returned aligned to
the first video frame when the file has video, so sample 0 and frame 0 happen at the same instant.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import UserError
from .image import IMAGE_SUFFIXES, read_image

DEFAULT_FPS = 25.0
DEFAULT_SR = 16000


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds: streams, size, rate and duration (seconds)."""

    path: Path
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    duration: float = 0.0
    is_image: bool = False


def _check_exists(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file.")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a media file.")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty.")
    return path


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not a media file ffmpeg can read ({_short(exc)}).") from None


def _short(exc: Exception) -> str:
    text = str(exc).split(":")[0] if ":" in str(exc) else str(exc)
    return text.strip() or exc.__class__.__name__


def is_image_path(path: str | Path) -> bool:
    """True for still-image files (read as a one-frame video)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def probe(path: str | Path) -> MediaInfo:
    """Describe the streams of `path`; raises UserError for missing or unreadable files."""
    path = _check_exists(path)
    if is_image_path(path):
        img = read_image(path)
        return MediaInfo(path, True, False, img.shape[1], img.shape[0], DEFAULT_FPS, 1.0 / DEFAULT_FPS, True)
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = (container.duration or 0) / av.time_base
        if video is None:
            return MediaInfo(path, False, audio is not None, duration=duration)
        fps = float(video.average_rate or video.guessed_rate or DEFAULT_FPS)
        if video.duration and video.time_base:
            duration = float(video.duration * video.time_base)
        return MediaInfo(path, True, audio is not None, video.width, video.height, fps, duration)


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    """An RGB uint8 array of a decoded frame, with its display rotation applied."""
    img = frame.to_ndarray(format="rgb24")
    rot = int(getattr(frame, "rotation", 0) or 0) % 360
    if rot:  # the display matrix rotates counter-clockwise by `rot` degrees
        img = np.ascontiguousarray(np.rot90(img, k=rot // 90))
    return img


def iter_frames(path: str | Path, fps: float = DEFAULT_FPS) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames of `path` resampled to `fps` by timestamps (an image yields one frame).

    Raises UserError for missing/unreadable files, files without video, zero-length and truncated video.
    """
    if not 1.0 <= fps <= 120.0:
        raise UserError(f"fps must be between 1 and 120, got {fps}.")
    path = _check_exists(path)
    if is_image_path(path):
        yield read_image(path)
        return
    container = _open(path)
    try:
        if not container.streams.video:
            raise UserError(f"{path}: has no video stream (audio-only input where a video is needed).")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from _resample_to_fps(_decode_video(container, stream, path), fps, path)
    finally:
        container.close()


def _decode_video(container, stream, path: Path) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decoded frames with their presentation times in seconds; a corrupt stream raises UserError."""
    try:
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            yield float(frame.time), frame
    except av.error.FFmpegError as exc:
        raise UserError(f"{path}: the video is truncated or corrupt ({_short(exc)}).") from None


def _resample_to_fps(frames: Iterator[tuple[float, av.VideoFrame]], fps: float, path: Path) -> Iterator[np.ndarray]:
    """Nearest-timestamp resampling: output frame k (time k/fps) is the source frame closest to it."""
    prev_t, prev_frame, t0, k = None, None, None, 0
    last_dt = 1.0 / fps
    for t, frame in frames:
        if t0 is None:
            t0 = t
        t -= t0
        if prev_frame is not None:
            if t <= prev_t:  # out-of-order or duplicate timestamp: keep the earlier frame
                continue
            last_dt = t - prev_t
            midpoint = 0.5 * (prev_t + t)
            if k / fps < midpoint:
                img = _rgb(prev_frame)
                while k / fps < midpoint:
                    yield img
                    k += 1
        prev_t, prev_frame = t, frame
    if prev_frame is None:
        raise UserError(f"{path}: the video has no frames.")
    end = prev_t + last_dt
    img = _rgb(prev_frame)
    while k == 0 or k / fps < end - 0.5 / fps:
        yield img
        k += 1


def load_audio(path: str | Path, sr: int = DEFAULT_SR, align_to_video: bool = True) -> np.ndarray:
    """Whole audio track of `path` as float32 mono at `sr` Hz.

    With `align_to_video`, sample 0 is the instant of the first video frame (container start-time
    offsets are compensated by trimming or zero-padding). Raises UserError when there is no audio.
    """
    chunks = list(iter_audio(path, sr=sr, align_to_video=align_to_video))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def iter_audio(path: str | Path, sr: int = DEFAULT_SR, chunk_seconds: float = 30.0,
               align_to_video: bool = True) -> Iterator[np.ndarray]:
    """Yield the audio of `path` as float32 mono chunks of about `chunk_seconds` at `sr` Hz (bounded memory)."""
    if not 4000 <= sr <= 192000:
        raise UserError(f"sample rate must be between 4000 and 192000 Hz, got {sr}.")
    path = _check_exists(path)
    if is_image_path(path):
        raise UserError(f"{path}: is an image; it has no audio.")
    container = _open(path)
    try:
        if not container.streams.audio:
            raise UserError(f"{path}: has no audio stream.")
        stream = container.streams.audio[0]
        skip = _video_start_offset(container, stream, sr) if align_to_video else 0
        yield from _rechunk(_decode_audio(container, stream, sr, path), int(chunk_seconds * sr), skip)
    finally:
        container.close()


def _video_start_offset(container, audio_stream, sr: int) -> int:
    """Samples to drop (>0) or pad (<0) so audio sample 0 coincides with the first video frame."""
    if not container.streams.video:
        return 0
    video = container.streams.video[0]
    if video.start_time is None or audio_stream.start_time is None:
        return 0
    v0 = float(video.start_time * video.time_base)
    a0 = float(audio_stream.start_time * audio_stream.time_base)
    return int(round((v0 - a0) * sr))


def _decode_audio(container, stream, sr: int, path: Path) -> Iterator[np.ndarray]:
    """Resampled mono float32 blocks straight from the decoder."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
    try:
        for frame in container.decode(stream):
            frame.pts = None
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
    except av.error.FFmpegError as exc:
        raise UserError(f"{path}: the audio is truncated or corrupt ({_short(exc)}).") from None


def _rechunk(blocks: Iterator[np.ndarray], size: int, skip: int) -> Iterator[np.ndarray]:
    """Regroup decoder blocks into chunks of `size` samples, first dropping `skip` (or padding -skip) samples."""
    pending: list[np.ndarray] = [np.zeros(-skip, np.float32)] if skip < 0 else []
    n_pending = sum(len(p) for p in pending)
    to_skip = max(skip, 0)
    for block in blocks:
        if to_skip:
            cut = min(to_skip, len(block))
            block, to_skip = block[cut:], to_skip - cut
        if not len(block):
            continue
        pending.append(block)
        n_pending += len(block)
        if n_pending >= size:
            joined = np.concatenate(pending)
            while len(joined) >= size:
                yield joined[:size].copy()
                joined = joined[size:]
            pending, n_pending = [joined], len(joined)
    if n_pending:
        yield np.concatenate(pending)
