"""Per-video-frame inputs of the motion generators, read from `SpeechFeatures` at 25 fps.

- expression (ExpNet) inputs: the 4 log-mel rows (40 ms) and, when the model was trained with them, the 2 phoneme
  posterior and embedding rows of each video frame (`SpeechFeatures.at_fps(25, window=2)`); the generator's
  temporal convolutions add the ±200 ms+ context.
- pose inputs: five loudness-normalised prosody signals per frame (energy, low/mid/high band energy, onset flux),
  from the log-mel only, so the pose model does not depend on the phoneme encoder.
"""
from __future__ import annotations

import numpy as np

FPS = 25.0
POSE_FEATURES = 5
SILENCE_LOG = -8.0  # floor of the loudness-normalised log-mel (natural log units)
QUIET_LOUD_LEVEL = -7.5  # the loud level assumed at least, so an all-silent track is not normalised up to speech
DIGITAL_SILENCE = -13.815511  # log-mel of exact zeros (log of the 1e-6 floor)


def frame_windows(speech, n_frames: int | None = None):
    """`speech.at_fps(25, window=2)` cut (or edge-extended) to exactly `n_frames` frames."""
    win = speech.at_fps(FPS, window=2)
    n = n_frames or len(win)
    idx = np.minimum(np.arange(n), len(win) - 1)
    return win, idx


def expression_inputs(speech, use_phonemes: bool, n_frames: int | None = None, use_mel: bool = True,
                      use_loudness: bool = False) -> np.ndarray:
    """[T, D] float32 per-frame inputs of the expression generator: log-mel 4×80 relative to the utterance's loud
    level (recording gain removed) when `use_mel`, its 4 per-row loudness values (mean over the bins) when
    `use_loudness`, + posteriors 2×P + embedding 2×E when `use_phonemes`."""
    win, idx = frame_windows(speech, n_frames)
    mel = np.asarray(win.mel, np.float32)[idx]
    mel = np.maximum(mel - loudness_reference(mel.mean(axis=(1, 2))), SILENCE_LOG + DIGITAL_SILENCE - QUIET_LOUD_LEVEL)
    parts = [mel.reshape(len(idx), -1)] if use_mel else []
    if use_loudness:
        parts.append(mel.mean(axis=2))
    if use_phonemes:
        parts.append(np.asarray(win.posteriors)[idx].reshape(len(idx), -1))
        parts.append(np.asarray(win.embedding)[idx].reshape(len(idx), -1))
    return np.concatenate(parts, 1).astype(np.float32)


def loudness_reference(frame_energy: np.ndarray) -> float:
    """The loud level of an utterance (95th percentile of frame energy, at least a quiet speech level), so the
    features ignore recording gain while silence stays silence."""
    p95 = float(np.percentile(frame_energy, 95)) if len(frame_energy) else QUIET_LOUD_LEVEL
    return max(p95, QUIET_LOUD_LEVEL)


def pose_inputs(speech, n_frames: int | None = None) -> np.ndarray:
    """[T, 5] prosody per frame: energy, low/mid/high band energy (log, relative to the loud level), onset flux."""
    win, idx = frame_windows(speech, n_frames)
    return prosody_from_mel(np.asarray(win.mel, np.float32)[idx])


def silent_pose_inputs(n_frames: int) -> np.ndarray:
    """The pose inputs of `n_frames` of digital silence (for silent driving clips)."""
    return prosody_from_mel(np.full((n_frames, 4, 80), DIGITAL_SILENCE, np.float32))


def prosody_from_mel(mel: np.ndarray) -> np.ndarray:
    """[T, 5] prosody from per-frame log-mel rows [T, 4, 80] (see `pose_inputs`)."""
    energy = mel.mean(axis=(1, 2))
    ref = loudness_reference(energy)
    bands = [mel[:, :, a:b].mean(axis=(1, 2)) for a, b in ((0, 20), (20, 50), (50, 80))]
    rel = [np.maximum(x - ref, SILENCE_LOG) / 4.0 for x in [energy] + bands]
    flux = np.maximum(np.diff(energy, prepend=energy[:1]), 0.0) / 2.0
    return np.stack(rel + [np.minimum(flux, 3.0)], 1).astype(np.float32)
