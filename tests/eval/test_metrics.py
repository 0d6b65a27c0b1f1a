"""Metric definitions on arrays with known answers (and one real frame for SSIM against scikit-image)."""
from __future__ import annotations

import numpy as np
import pytest

from talkface.eval import (PSNR_CAP_DB, av_offset, beat_alignment, blink_duration, blink_rate, face_box,
                           footage_synced_correlation, lagged_correlation, landmark_distance, lmd_metrics,
                           motion_beats, mouth_correlation, pearson, pose_diversity, psnr, speech_envelope, ssim)
from talkface.eval.landmarks import MOUTH_INDICES


def test_psnr_of_identical_frames_is_the_cap_and_of_known_noise_matches_formula():
    a = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert psnr(a, a) == PSNR_CAP_DB
    b = a.astype(np.int16)
    b = np.clip(b + np.where(b < 255, 1, -1), 0, 255).astype(np.uint8)  # every value off by exactly 1
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 1.0), abs=1e-6)


def test_ssim_matches_scikit_image_gaussian_ssim_on_a_real_frame(data_dir):
    from skimage.metrics import structural_similarity

    from talkface.eval.image import luma
    from talkface.media import iter_frames

    frame = next(iter(iter_frames(data_dir / "videos" / "feifeili_clip1.mp4")))
    noisy = np.clip(frame + np.random.default_rng(1).normal(0, 12, frame.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(luma(frame), luma(noisy), data_range=255, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert ssim(frame, noisy) == pytest.approx(expected, abs=2e-3)
    assert ssim(frame, frame) == pytest.approx(1.0, abs=1e-6)
    assert ssim(frame, noisy) < 0.9


def test_face_box_is_square_around_points_and_clipped_to_image():
    pts = np.array([[10.0, 20.0], [50.0, 40.0]])
    x0, y0, x1, y1 = face_box(pts, 200, 200, margin=0.0)
    assert (x1 - x0, y1 - y0) == (40, 40)
    assert face_box(pts, 45, 200, margin=0.5)[2] == 45


def test_lmd_is_zero_for_identical_tracks_and_centring_removes_translation():
    rng = np.random.default_rng(2)
    ref = rng.uniform(0, 256, (5, 478, 2))
    assert all(np.allclose(v, 0) for v in lmd_metrics(ref, ref).values())
    moved = ref + np.array([3.0, 4.0])
    out = lmd_metrics(moved, ref)
    assert np.allclose(out["lmd_all_px"], 5.0)
    assert np.allclose(out["lmd_mouth_px"], 0.0, atol=1e-9)  # mouth LMD is centred: shape only
    mouth = moved.copy()
    mouth[:, MOUTH_INDICES] += rng.normal(0, 1, (5, len(MOUTH_INDICES), 2))
    assert (lmd_metrics(mouth, ref)["lmd_mouth_px"] > 0.5).all()
    assert np.allclose(landmark_distance(ref[:, :2], ref[:, :2] + [0, 2]), 2.0)


def test_pearson_of_a_constant_series_is_zero_and_nan_frames_are_ignored():
    x = np.sin(np.arange(100) / 3)
    assert pearson(np.full(100, 0.7), x) == 0.0
    y = x.copy()
    y[::7] = np.nan
    assert pearson(x, y) == pytest.approx(1.0)
    assert mouth_correlation(x, -x) == pytest.approx(-1.0)


def test_av_offset_sign_convention_late_audio_gives_positive_offset():
    rng = np.random.default_rng(3)
    mouth = np.convolve(rng.normal(size=400), np.ones(4) / 4, mode="same")
    late_audio = np.concatenate([np.zeros(5), mouth[:-5]])  # the sound of frame t is heard at t + 5
    res = av_offset(mouth, late_audio, max_lag=10)
    assert res.offset == 5 and res.confidence == pytest.approx(1.0, abs=1e-6)
    assert av_offset(mouth, mouth[4:], max_lag=10).offset == -4  # early audio
    lags, curve = lagged_correlation(mouth, late_audio, 10)
    assert lags[np.nanargmax(curve)] == 5 and len(curve) == 21


def test_footage_synced_correlation_undoes_the_footage_offset_beyond_the_lip_lead():
    """Footage whose audio is 6 frames late; a generator that leads the audio by 1 frame opens the mouth 5 frames
    after the footage did. Undoing the footage's excess offset (6 - 1) lines them up; lag 0 does not."""
    rng = np.random.default_rng(4)
    mouth = np.convolve(rng.normal(size=400), np.ones(4) / 4, mode="same")
    audio = np.concatenate([np.zeros(6), mouth[:-6]])
    footage_offset = av_offset(mouth, audio, max_lag=10).offset
    generated = np.concatenate([np.zeros(5), mouth[:-5]])
    assert footage_offset == 6 and mouth_correlation(generated, mouth) < 0.2
    assert footage_synced_correlation(generated, mouth, footage_offset, lead=1) == pytest.approx(1.0, abs=1e-6)
    assert footage_synced_correlation(mouth, mouth, 1, lead=1) == pytest.approx(1.0)  # in-sync footage: lag 0
    assert footage_synced_correlation(generated, mouth, 0, lead=1) < 0.2  # the wrong way round


def test_speech_envelope_is_frame_aligned_to_a_tone_burst():
    sr, fps = 16000, 25.0
    audio = np.zeros(sr * 2, np.float32)
    audio[sr // 2: sr] = np.sin(2 * np.pi * 1000 * np.arange(sr // 2) / sr)  # 0.5 s .. 1.0 s
    env = speech_envelope(audio, sr, 50, fps)
    on = np.flatnonzero(env > 0.5 * env.max())
    assert on[0] in (12, 13) and on[-1] in (24, 25)
    assert env[:10].max() == 0 and env[30:].max() == 0


def test_blinks_counted_per_minute_with_duration_and_none_for_constant_closure():
    fps = 25.0
    closure = np.zeros((60 * 25, 2), np.float32)
    for start in range(100, 1500, 150):  # 10 blinks of 5 frames in one minute
        closure[start:start + 5] = 0.9
    closure[1400:1460] = 0.95  # 2.4 s shut: not a blink
    assert blink_rate(closure, fps) == pytest.approx(9.0)  # the blink at 1450 falls inside the long closure
    assert blink_duration(closure, fps) == pytest.approx(0.2)
    still = np.full((250, 2), 0.1, np.float32)
    assert blink_rate(still, fps) == 0.0 and np.isnan(blink_duration(still, fps))


def test_pose_diversity_is_zero_for_a_still_head_and_the_std_in_degrees_for_a_nod():
    still = np.tile([0.05, 0.1, 0.0, 1.0, 2.0, 50.0], (100, 1))
    assert pose_diversity(still) == pytest.approx({"rotation_deg": 0.0, "translation_cm": 0.0}, abs=1e-9)
    nod = still.copy()
    nod[:, 0] = np.radians(10) * np.sin(np.arange(100) / 5)  # pitch only
    div = pose_diversity(nod)
    assert div["rotation_deg"] == pytest.approx(np.degrees(nod[:, 0]).std() / 3, rel=0.1)


def test_beat_alignment_follows_bailando_definition():
    assert beat_alignment(np.array([10, 50]), np.array([10, 50])) == pytest.approx(1.0)
    expected = (1.0 + np.exp(-9 / 18)) / 2  # second audio beat 3 frames from its nearest motion beat, σ = 3
    assert beat_alignment(np.array([10, 53]), np.array([10, 50])) == pytest.approx(expected)
    assert beat_alignment(np.array([], int), np.array([10])) == 0.0
    assert np.isnan(beat_alignment(np.array([3]), np.array([])))


def test_motion_beats_are_where_the_head_turns_back():
    t = np.arange(200)
    pose = np.zeros((200, 6))
    pose[:, 1] = np.radians(15) * np.sin(2 * np.pi * t / 50)  # yaw swings, turning back every 25 frames
    beats = motion_beats(pose)
    turns = np.array([12.5, 37.5, 62.5, 87.5, 112.5, 137.5, 162.5, 187.5])
    assert len(beats) >= 7
    assert np.abs(beats[:, None] - turns[None]).min(axis=1).max() <= 1.5
    assert len(motion_beats(np.zeros((100, 6)))) == 0


def test_valence_arousal_rmse_and_sign_agreement_follow_emotalkinggaussian():
    from talkface.eval.emotion import va_rmse, va_sign_agreement

    target = np.array([[0.74, 0.31], [0.74, 0.31], [-0.31, 0.74], [-0.31, 0.74]])
    pred = target + np.array([[0.1, 0.0], [-0.1, 0.0], [0.1, -0.8], [-0.1, 0.0]])
    v, a = va_rmse(pred, target)
    assert v == pytest.approx(0.1) and a == pytest.approx(0.4)
    assert va_sign_agreement(pred, target) == (1.0, 0.75)


def test_frame_scores_separate_the_face_box_from_the_pasted_back_background():
    from talkface.eval.image import crop, frame_scores

    rng = np.random.default_rng(4)
    ref = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    gen = ref.copy()
    box = (30, 30, 70, 70)
    gen[40:60, 40:60] = 0  # only the face changed; the background is pasted back untouched
    s = frame_scores(gen, ref, box)
    assert s["psnr_face"] == pytest.approx(psnr(crop(gen, box), crop(ref, box)))
    assert s["psnr_full"] == pytest.approx(psnr(gen, ref)) and s["psnr_full"] > s["psnr_face"]
    assert s["ssim_full"] == pytest.approx(ssim(gen, ref)) and s["ssim_full"] > s["ssim_face"]
    still = frame_scores(ref, ref, box)
    assert still["psnr_face"] == PSNR_CAP_DB and still["ssim_face"] == pytest.approx(1.0)
    assert "psnr_face" not in frame_scores(gen, ref, None)
