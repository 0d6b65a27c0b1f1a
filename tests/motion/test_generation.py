"""Generators on real held-out speech: lips follow the audio, silence closes the mouth, ten minutes of motion
neither loop nor drift nor freeze, blinks are human, and generation is fast."""
from __future__ import annotations

import time

import numpy as np
import pytest

from talkface.eval import av_offset, blink_duration, blink_rate, lagged_correlation, mouth_correlation
from talkface.eval.sync import openness_at_frames
from talkface.face import mouth_opening
from talkface.face.geometry import euler_degrees
from talkface.motion import MotionControls, generate_motion
from talkface.motion.expression import expression_sync_lead, generate_mouth
from talkface.motion.train import mouth_gap_series

TEN_MINUTES = 25 * 600


def silence(seconds: float):
    """Speech features of digital silence (through the same front-end as real audio)."""
    from talkface.motion.data import encoder_version

    audio = np.zeros(int(16000 * seconds), np.float32)
    if encoder_version():
        from talkface.audio.features import compute_features

        return compute_features(audio, 16000)
    from talkface.audio.features import SpeechFeatures
    from talkface.audio.mel import log_mel

    mel = log_mel(audio)
    n2 = (len(mel) + 1) // 2
    post = np.zeros((n2, 40), np.float32)
    post[:, 0] = 1
    return SpeechFeatures(mel, post, np.zeros((n2, 128), np.float32), seconds)


def test_lips_follow_held_out_speech(held_out_speech, tracks, weights):
    """Held-out clip driven by its own audio: generated inner-lip gap correlates with the tracked one, no lag."""
    tr = tracks["talk"]
    ref = tr.landmarks3d[0]
    gen = mouth_gap_series(generate_mouth(held_out_speech, ref, tr.n_frames), ref)
    real = mouth_opening(tr)
    assert mouth_correlation(gen, real) > 0.45
    lags, curve = lagged_correlation(gen, real, 5)
    assert abs(int(lags[np.nanargmax(curve)])) <= 1


def test_generated_mouth_keeps_the_lip_lead_of_in_sync_footage(held_out_speech, tracks, weights):
    """The generator was trained on clips aligned to their median AV offset (the lips' natural lead over the sound):
    on held-out speech its mouth shows that offset, and delaying the audio by 4 frames moves it by 4."""
    tr = tracks["talk"]
    ref = tr.landmarks3d[0]
    gen = mouth_gap_series(generate_mouth(held_out_speech, ref, tr.n_frames), ref)
    openness = openness_at_frames(held_out_speech, tr.n_frames)
    lead = expression_sync_lead()
    assert lead in (0, 1, 2) and abs(av_offset(gen, openness).offset - lead) <= 1
    late = np.concatenate([np.full(4, openness[0]), openness[:-4]])
    assert abs(av_offset(gen, late).offset - (lead + 4)) <= 1


def test_on_late_audio_footage_the_generator_matches_the_mouth_once_the_footage_offset_is_undone(data_dir, weights):
    """wda_aoc (held out) has its audio 3 frames late against the lips, 2 more than in-sync footage: the generator
    follows the audio, so it matches the real mouth far better with that footage offset undone than at lag 0."""
    from talkface.eval import footage_synced_correlation
    from talkface.motion.data import Clip, cached_speech, cached_track, speaker_of
    from talkface.motion.train import speech_offset

    path = data_dir / "videos" / "wda_aoc.mp4"
    clip = Clip(path.name, speaker_of(path.name), cached_track(path), cached_speech(path))
    ref = clip.track.landmarks3d[0]
    gen = mouth_gap_series(generate_mouth(clip.speech, ref, clip.track.n_frames), ref)
    real = mouth_opening(clip.track)
    offset = speech_offset(clip)
    assert offset - expression_sync_lead() >= 2
    synced = footage_synced_correlation(gen, real, offset, expression_sync_lead())
    assert synced > 0.6 and synced > mouth_correlation(gen, real) + 0.2


def test_silence_closes_an_open_mouth(tracks, weights):
    """From a reference photo with the mouth wide open, two seconds of silence close it to the clip's closed level."""
    tr = tracks["talk"]
    real = mouth_opening(tr)
    ref = tr.landmarks3d[int(np.argmax(real))]
    gen = mouth_gap_series(generate_mouth(silence(2.0), ref, 50), ref)
    closed, open_ = np.percentile(real, 5), real.max()
    assert np.median(gen) < closed + 0.2 * (open_ - closed)


@pytest.fixture(scope="module")
def ten_minutes(data_dir, tracks, weights, tile):
    """Ten minutes of generated motion for a real 30 s held-out speech repeated 20 times."""
    from talkface.motion.data import cached_speech
    speech = tile(cached_speech(data_dir / "videos/obama_clip2.mp4"), 20)
    t0 = time.perf_counter()
    motion = generate_motion(speech, MotionControls(seed=11), tracks["talk"])
    return motion.slice(0, TEN_MINUTES), time.perf_counter() - t0


def test_ten_minutes_do_not_repeat(ten_minutes):
    """No 4 s stretch of head motion recurs later, although the speech itself repeats every 30 s."""
    motion, _ = ten_minutes
    angles = euler_degrees(motion.pose[:, :3])
    win, step = 100, 25
    starts = np.arange(0, len(angles) - win, step)
    segs = np.stack([angles[s:s + win] for s in starts]).reshape(len(starts), -1)
    sq = (segs ** 2).sum(1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * segs @ segs.T, 0) / (win * 3))
    apart = np.abs(starts[:, None] - starts[None]) >= win
    closest = dist[apart].min()
    assert closest > 0.15, f"a 4 s segment repeats (RMS distance {closest:.3f} deg)"
    assert closest > 0.05 * np.median(dist[apart])


def test_ten_minutes_do_not_drift_or_freeze(ten_minutes):
    """The mean head pose stays put minute after minute, and the head keeps moving as much at the end."""
    motion, _ = ten_minutes
    angles = euler_degrees(motion.pose[:, :3]).reshape(10, 1500, 3)
    means, stds = angles.mean(1), angles.std(1)
    assert np.abs(means - means[0]).max() < 3.0, f"per-minute mean angles drift: {means.round(2)}"
    assert (stds[-1] > 0.4 * stds[0]).all() and stds.mean() > 0.5, f"motion freezes: {stds.round(2)}"
    trans = motion.pose[:, 3:].reshape(10, 1500, 3).mean(1)
    assert np.abs(trans - trans[0]).max() < 2.0


def test_ten_minutes_blink_like_people(ten_minutes):
    motion, _ = ten_minutes
    assert 10 <= blink_rate(motion.blink, 25) <= 30
    assert 0.08 <= blink_duration(motion.blink, 25) <= 0.4


def test_ten_minutes_gaze_fixates_and_saccades(ten_minutes):
    """Gaze holds still between jumps (fixations of ~0.5–4 s) and stays centred on the rest gaze."""
    from talkface.motion.eyes import eye_stats, saccade_count

    motion, _ = ten_minutes
    per_minute = saccade_count(motion.gaze, 0.02) / 10
    assert 10 <= per_minute <= 120, per_minute
    assert np.abs(motion.gaze.mean(0)).max() < 0.5 * max(eye_stats().gaze_std)
    steps = np.linalg.norm(np.diff(motion.gaze, axis=0), axis=1)
    assert np.median(steps) < 0.01  # mostly fixation


def test_chunk_seams_are_invisible(ten_minutes):
    """Head speed across the pose generator's 32-frame chunk boundaries is like the speed anywhere else."""
    motion, _ = ten_minutes
    speed = np.linalg.norm(np.diff(euler_degrees(motion.pose[:, :3]), axis=0), axis=1)
    seams = np.arange(31, len(speed), 32)
    assert speed[seams].mean() < 1.5 * np.delete(speed, seams).mean()
    assert speed[seams].max() <= np.delete(speed, seams).max()
