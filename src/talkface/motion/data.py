"""Training data for the motion generators: tracked clips (cached under the user cache dir) paired with speech.

Tracks are keyed by the clip's name, size and modification time, so re-running a training script never re-tracks
an unchanged clip; speech features are also keyed by the encoder weights' modification time, so they are
recomputed when the phoneme encoder is retrained.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..face import FaceTrack

FPS = 25.0


def cache_dir() -> Path:
    """Folder for cached tracks and features of the training clips (platformdirs user cache, never the repo)."""
    import platformdirs

    path = Path(platformdirs.user_cache_dir("talkface")) / "motion"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_key(path: Path, extra: str = "") -> str:
    """Short stable key of a file's identity (name, size, mtime) plus `extra`."""
    st = path.stat()
    raw = f"{path.name}|{st.st_size}|{st.st_mtime_ns}|{extra}"
    return f"{path.stem}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"


def cached_track(path: str | Path) -> FaceTrack:
    """The FaceTrack of `path` at 25 fps, tracked once and then read from the cache."""
    from ..face import track_video

    path = Path(path)
    target = cache_dir() / f"track-{_file_key(path)}.npz"
    if target.is_file():
        return FaceTrack.load(target)
    track = track_video(path, fps=FPS)
    track.save(target)
    return track


def encoder_version() -> str:
    """Identity of the shipped phoneme encoder weights (size + mtime), keying the feature cache."""
    from ..audio.encoder import WEIGHTS

    st = WEIGHTS.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


def cached_speech(path: str | Path):
    """SpeechFeatures of the audio of `path`, computed once per phoneme-encoder version and then read from the cache."""
    from ..audio.features import SpeechFeatures, features_from_file

    path = Path(path)
    target = cache_dir() / f"speech-{_file_key(path, encoder_version())}.npz"
    if target.is_file():
        return SpeechFeatures.load(target)
    feats = features_from_file(path)
    feats.save(target)
    return feats


@dataclass
class Clip:
    """One training/evaluation clip: its name, speaker style id, track and (if it has speech) features."""

    name: str
    speaker: str
    track: FaceTrack
    speech: object | None  # SpeechFeatures or None for silent driving clips


def speaker_of(name: str) -> str:
    """Speaker label of a clip file name (the styletalk crops share a speaker across clips: obama_clip1 → obama)."""
    stem = Path(name).stem
    return stem.split("_clip")[0] if "_clip" in stem else stem


def load_clips(folder: str, held_out: bool, with_speech: bool = True, names: tuple[str, ...] | None = None) -> list[Clip]:
    """Tracked clips of ../shared/data/`folder` ('videos', 'driving', 'videos_hard') in the train or held-out split,
    optionally only those in `names`."""
    from ..splits import clips

    out = []
    for path in clips(folder, held_out):
        if names is not None and path.name not in names:
            continue
        speech = cached_speech(path) if with_speech else None
        out.append(Clip(path.name, speaker_of(path.name), cached_track(path), speech))
    return out

