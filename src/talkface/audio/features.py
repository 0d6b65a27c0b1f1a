"""`SpeechFeatures`: everything the motion models read from speech, and how to compute, window, save and load it.

- `mel` [F, 80]: 16 kHz log-mel at 100 Hz (frame i centred at i*10 ms);
- `phoneme_posteriors` [F2, P] and `embedding` [F2, E]: the encoder's outputs at 50 Hz (frame j centred at
  (j+0.5)*20 ms), P = 40 (39 ARPAbet + SIL, order `phones.PHONES`);
- `phonemes`: exact timed phones when known (TTS durations or forced alignment), else None.
`at_fps(25)` cuts fixed context windows around every video frame (AD-NeRF / ER-NeRF style, 16 windows).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from ..errors import UserError
from .encoder import POSTERIOR_FPS, encode_mel, load_encoder
from .mel import MEL_FPS, SR, iter_log_mel
from .phones import PHONE_INDEX, PHONES, Phone, frame_labels
from .visemes import openness, viseme_probs

KIND = "speech_features"
FORMAT_VERSION = 1


@dataclass
class FrameWindows:
    """Per-video-frame feature windows at `fps`: frame t looks at a fixed context centred on its mid-time.

    Arrays may be read-only strided views into the parent `SpeechFeatures` (no copies for 25 fps).
    """

    fps: float
    mel: np.ndarray          # [T, 2W, 80]
    posteriors: np.ndarray   # [T, W, P]
    embedding: np.ndarray    # [T, W, E]
    visemes: np.ndarray      # [T, 15] mean viseme probabilities over the frame's span
    openness: np.ndarray     # [T] mean mouth openness over the frame's span
    phone: np.ndarray        # [T] phone index at the frame centre (exact timings when known, else argmax)

    def __len__(self) -> int:
        return len(self.openness)


@dataclass
class SpeechFeatures:
    """Speech features of one audio track (see module docstring for shapes and rates)."""

    mel: np.ndarray
    phoneme_posteriors: np.ndarray
    embedding: np.ndarray
    duration: float
    phonemes: Optional[list[Phone]] = None
    phonemes_source: str = ""  # "tts", "alignment" or "given"

    mel_fps: float = MEL_FPS
    posterior_fps: float = POSTERIOR_FPS

    @property
    def visemes(self) -> np.ndarray:
        """Viseme probabilities [F2, 15] at 50 Hz."""
        return viseme_probs(self.phoneme_posteriors)

    @property
    def openness(self) -> np.ndarray:
        """Mouth openness [F2] in 0..1 at 50 Hz (expected per-phone opening under the posteriors)."""
        return openness(self.phoneme_posteriors)

    def n_frames(self, fps: float = 25.0) -> int:
        """Number of video frames at `fps` covering the audio (at least one)."""
        return max(1, int(np.ceil(self.duration * fps - 1e-6)))

    def phone_labels(self, fps: float = POSTERIOR_FPS) -> np.ndarray:
        """Phone index per frame at `fps`: from exact timings if known, else the encoder's argmax."""
        n = self.n_frames(fps)
        if self.phonemes:
            return frame_labels(self.phonemes, n, fps)
        idx = np.minimum(((np.arange(n) + 0.5) / fps * self.posterior_fps).astype(int),
                         len(self.phoneme_posteriors) - 1)
        return self.phoneme_posteriors.argmax(1)[idx]

    def at_fps(self, fps: float = 25.0, window: int = 16) -> FrameWindows:
        """Windows of `window` posterior/embedding frames (and 2*window mel frames) centred on each video frame."""
        if window < 2 or window % 2:
            raise UserError("the feature window must be an even number of frames (>= 2).")
        n = self.n_frames(fps)
        centres = (np.arange(n) + 0.5) / fps
        post = _windows(self.phoneme_posteriors, centres, self.posterior_fps, window)
        emb = _windows(self.embedding, centres, self.posterior_fps, window)
        mel = _windows(self.mel, centres, self.mel_fps, 2 * window)
        vis, opn = _frame_means(self.visemes, fps, n, self.posterior_fps), \
            _frame_means(self.openness[:, None], fps, n, self.posterior_fps)[:, 0]
        return FrameWindows(fps, mel, post, emb, vis, opn, self.phone_labels(fps))

    def save(self, path: str | os.PathLike) -> None:
        """Write to a versioned `.npz` (atomic)."""
        from ..store import save_npz

        ph = self.phonemes or []
        arrays = {"mel": self.mel.astype(np.float16), "phoneme_posteriors": self.phoneme_posteriors,
                  "embedding": self.embedding.astype(np.float16),
                  "phone_labels": np.array([p.label for p in ph], dtype="<U3"),
                  "phone_start": np.array([p.start for p in ph], np.float64),
                  "phone_end": np.array([p.end for p in ph], np.float64)}
        meta = {"duration": self.duration, "has_phonemes": self.phonemes is not None,
                "phonemes_source": self.phonemes_source, "phones": list(PHONES),
                "mel_fps": self.mel_fps, "posterior_fps": self.posterior_fps}
        save_npz(path, KIND, FORMAT_VERSION, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SpeechFeatures":
        """Read a file written by `save` (refuses other kinds/versions with a `UserError`)."""
        from ..store import load_npz

        arrays, meta = load_npz(path, KIND, FORMAT_VERSION)
        if meta.get("phones") != list(PHONES):
            raise UserError(f"{path}: speech features use a different phone set; re-compute them.")
        phonemes = None
        if meta.get("has_phonemes"):
            phonemes = [Phone(str(lab), float(a), float(b)) for lab, a, b in
                        zip(arrays["phone_labels"], arrays["phone_start"], arrays["phone_end"])]
        return cls(arrays["mel"].astype(np.float32), arrays["phoneme_posteriors"].astype(np.float32),
                   arrays["embedding"].astype(np.float32), float(meta["duration"]), phonemes,
                   meta.get("phonemes_source", ""), float(meta["mel_fps"]), float(meta["posterior_fps"]))


def _windows(arr: np.ndarray, centres: np.ndarray, rate: float, window: int) -> np.ndarray:
    """[T, window, D] rows of `arr` (at `rate` Hz) around each centre time; edges repeat the end rows."""
    half = window // 2
    padded = np.concatenate([np.repeat(arr[:1], half, 0), arr, np.repeat(arr[-1:], half + 1, 0)])
    starts = np.floor(centres * rate + 0.5 + 1e-6).astype(np.int64)  # padded row of (centre - half)
    starts = np.clip(starts, 0, len(padded) - window)
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0).transpose(0, 2, 1)
    step = starts[1] - starts[0] if len(starts) > 1 else 1
    if len(starts) > 1 and step > 0 and np.all(np.diff(starts) == step):
        return view[starts[0]::step][: len(starts)]
    return view[starts]


def _frame_means(arr: np.ndarray, fps: float, n: int, rate: float) -> np.ndarray:
    """Mean of `arr` rows (at `rate` Hz) over each video frame's span [t/fps, (t+1)/fps)."""
    edges = np.clip(np.round(np.arange(n + 1) / fps * rate).astype(np.int64), 0, len(arr))
    csum = np.concatenate([np.zeros((1, arr.shape[1]), np.float64), np.cumsum(arr, 0, dtype=np.float64)])
    lo, hi = edges[:-1], np.maximum(edges[1:], edges[:-1] + 1)
    hi = np.minimum(hi, len(arr))
    lo = np.minimum(lo, hi - 1)
    return ((csum[hi] - csum[lo]) / (hi - lo)[:, None]).astype(np.float32)


def to_mono_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """Validate an audio array ([n] or [n, channels]) and return float32 mono 16 kHz."""
    audio = np.asarray(audio)
    if audio.ndim == 2:
        audio = audio.mean(axis=1 if audio.shape[1] <= 8 else 0)
    if audio.ndim != 1:
        raise UserError("audio must be a 1-D array (or [samples, channels]).")
    if np.issubdtype(audio.dtype, np.integer):
        audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max)
    audio = audio.astype(np.float32)
    if len(audio) == 0:
        raise UserError("the audio is empty (no samples).")
    if not np.all(np.isfinite(audio)):
        raise UserError("the audio contains NaN or infinite samples.")
    if sr < 4000:
        raise UserError(f"audio sample rate {sr} Hz is too low (need at least 4 kHz).")
    if sr != SR:
        import soxr

        audio = soxr.resample(audio, sr, SR).astype(np.float32)
    return audio


def compute_features(audio: np.ndarray, sr: int, transcript: Optional[str] = None,
                     phonemes: Optional[list[Phone]] = None, phonemes_source: str = "given") -> SpeechFeatures:
    """Features of an audio array; exact phone timings from `phonemes`, or by aligning `transcript` (English).

    Long audio is processed in chunks (mel and encoder), so memory beyond the input stays bounded.
    Silent audio is legitimate and yields an all-silence track.
    """
    audio16 = to_mono_16k(audio, sr)
    feats = _features_from_chunks(_blocks(audio16), len(audio16))
    if phonemes is not None:
        _check_phonemes(phonemes)
        feats.phonemes, feats.phonemes_source = list(phonemes), phonemes_source
    elif transcript is not None and transcript.strip():
        from .align import align

        feats.phonemes, feats.phonemes_source = align(audio16, SR, transcript), "alignment"
    return feats


def features_from_file(path: str | os.PathLike, transcript: Optional[str] = None) -> SpeechFeatures:
    """Features of any media file with audio, streamed in 30 s chunks (bounded memory for any length).

    A transcript may be given, or sit beside the file as `<name>.txt`; then phones are force-aligned.
    """
    from ..media import iter_audio, load_audio

    path = Path(path)
    n = 0

    def counted() -> Iterable[np.ndarray]:
        nonlocal n
        for chunk in iter_audio(path, SR, chunk_seconds=30.0):
            n += len(chunk)
            yield chunk

    feats = _features_from_chunks(counted(), None)
    if n == 0:
        raise UserError(f"{path}: the audio track is empty.")
    feats.duration = n / SR
    side = path.with_suffix(".txt")
    if transcript is None and side.is_file():
        transcript = side.read_text(encoding="utf-8", errors="ignore")
    if transcript is not None and transcript.strip():
        from .align import align

        feats.phonemes, feats.phonemes_source = align(load_audio(path, SR), SR, transcript), "alignment"
    return feats


def features_from_text(text: str) -> tuple[np.ndarray, int, SpeechFeatures]:
    """Speak `text` with the offline TTS and compute its features, keeping the TTS's exact phone timings."""
    from .tts import synthesize

    audio, sr, phones = synthesize(text)
    return audio, sr, compute_features(audio, sr, phonemes=phones, phonemes_source="tts")


def _blocks(audio16: np.ndarray, seconds: float = 30.0) -> Iterable[np.ndarray]:
    """Slices of an in-memory array, so the mel stage works block by block."""
    step = int(seconds * SR)
    for i in range(0, len(audio16), step):
        yield audio16[i:i + step]


def _features_from_chunks(chunks: Iterable[np.ndarray], n_samples: Optional[int]) -> SpeechFeatures:
    """Mel (streamed) then encoder (chunked with context) over 16 kHz audio chunks."""
    mel = _concat_releasing(list(iter_log_mel(chunks)))
    model = load_encoder()
    post, emb = encode_mel(mel, model)
    duration = (n_samples if n_samples is not None else (len(mel) - 1) * 160) / SR
    return SpeechFeatures(mel, post, emb, duration)


def _concat_releasing(blocks: list[np.ndarray]) -> np.ndarray:
    """Concatenate blocks into one array, dropping each block once copied (peak ≈ result + one block)."""
    out = np.empty((sum(len(b) for b in blocks),) + blocks[0].shape[1:], blocks[0].dtype)
    pos = 0
    blocks.reverse()
    while blocks:
        block = blocks.pop()
        out[pos:pos + len(block)] = block
        pos += len(block)
    return out


def _check_phonemes(phonemes: list[Phone]) -> None:
    """Reject timed phones with unknown labels or negative durations."""
    for p in phonemes:
        if p.label not in PHONE_INDEX:
            raise UserError(f"unknown phone label {p.label!r} (expected ARPAbet without stress, or SIL).")
        if p.end < p.start:
            raise UserError(f"phone {p.label} ends before it starts ({p.start:.3f} > {p.end:.3f} s).")
