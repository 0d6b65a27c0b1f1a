"""Encoding: a streaming H.264 (yuv420p) + AAC MP4 writer with the audio muxed in step with the frames.

The file appears at its final path only when the writer closes cleanly (atomic rename), so a failed or
interrupted job never leaves half a video behind.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..atomic import make_temp_beside
from ..errors import UserError


class VideoWriter:
    """Write RGB frames to an MP4 one at a time; optional mono/stereo float audio is interleaved as AAC.

    Frames of odd width/height are edge-padded to even size (yuv420p needs it). The audio, if given, is
    written in step with the video and trimmed or zero-padded to the video's length on close.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 25.0, audio: np.ndarray | None = None,
                 audio_rate: int = 16000, crf: int = 18, preset: str = "veryfast"):
        if not 1.0 <= fps <= 120.0:
            raise UserError(f"fps must be between 1 and 120, got {fps}.")
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.audio = None if audio is None else _as_channels_last(audio)
        self.audio_rate = int(audio_rate)
        self.crf, self.preset = crf, preset
        self.n_frames = 0
        self._audio_written = 0
        self._container = None
        self._video = None
        self._audio_stream = None
        self._size: tuple[int, int] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = make_temp_beside(self.path, ".mp4")

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open(self, width: int, height: int) -> None:
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        self._video = self._container.add_stream("libx264", rate=self.fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(self.crf), "preset": self.preset, "movflags": "+faststart"}
        self._video.codec_context.thread_count = 2
        if self.audio is not None:
            layout = "mono" if self.audio.shape[1] == 1 else "stereo"
            self._audio_stream = self._container.add_stream("aac", rate=self.audio_rate, layout=layout)
            self._audio_stream.bit_rate = 128000
        self._size = (width, height)

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB uint8 frame [H, W, 3] (all frames must have the same size)."""
        frame = _even(np.ascontiguousarray(frame, dtype=np.uint8))
        h, w = frame.shape[:2]
        if self._container is None:
            self._open(w, h)
        elif (w, h) != self._size:
            raise ValueError(f"frame size {w}x{h} differs from the first frame's {self._size[0]}x{self._size[1]}")
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts = self.n_frames
        vf.time_base = 1 / self.fps
        for packet in self._video.encode(vf):
            self._container.mux(packet)
        self.n_frames += 1
        self._write_audio_until(int(round(self.n_frames / self.fps * self.audio_rate)))

    def _write_audio_until(self, sample: int) -> None:
        """Encode audio samples [written, sample) so audio and video packets stay interleaved."""
        if self._audio_stream is None or sample <= self._audio_written:
            return
        chunk = self.audio[self._audio_written:sample]
        if len(chunk) < sample - self._audio_written:  # pad past the end of the given audio with silence
            chunk = np.concatenate([chunk, np.zeros((sample - self._audio_written - len(chunk), chunk.shape[1]), np.float32)])
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T), format="fltp",
                                        layout="mono" if chunk.shape[1] == 1 else "stereo")
        af.sample_rate = self.audio_rate
        af.pts = self._audio_written
        af.time_base = Fraction(1, self.audio_rate)
        for packet in self._audio_stream.encode(af):
            self._container.mux(packet)
        self._audio_written = sample

    def close(self) -> None:
        """Flush encoders and move the finished file to its path."""
        if self._container is None:
            self.abort()
            raise UserError("no frames were written; refusing to create an empty video.")
        for packet in self._video.encode(None):
            self._container.mux(packet)
        if self._audio_stream is not None:
            for packet in self._audio_stream.encode(None):
                self._container.mux(packet)
        self._container.close()
        self._container = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop everything written so far; the target path is left untouched."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
            self._container = None
        if self._tmp.exists():
            self._tmp.unlink()


def _as_channels_last(audio: np.ndarray) -> np.ndarray:
    """Audio as float32 [n, channels] with 1 or 2 channels, clipped to [-1, 1]."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[1] not in (1, 2):
        raise ValueError(f"audio must be [n] or [n, 1|2], got shape {audio.shape}")
    return np.clip(audio, -1.0, 1.0)


def _even(frame: np.ndarray) -> np.ndarray:
    """Edge-pad a frame to even width and height (yuv420p subsamples chroma 2x2)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame
