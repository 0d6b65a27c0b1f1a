"""Acceptance sanity checks of `talkface eval` on real talking clips (../shared/data/videos).

Each clip is tracked once for the whole module (shared track cache), so the file runs in well under a minute.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkface.eval import PSNR_CAP_DB, evaluate

HOP = 16000 // 25  # audio samples per video frame
SHIFT_FRAMES = 5
SYNCED = ("feifeili_clip1", "kristinoem", "obama_clip1")  # 256² clips with a clear mouth/speech correlation


@pytest.fixture(scope="module")
def cache() -> dict:
    """Face tracks shared by every test in this module (keyed by file, so no clip is tracked twice)."""
    return {}


@pytest.fixture(scope="module")
def videos(data_dir) -> Path:
    return data_dir / "videos"


def test_video_against_itself_is_perfect_and_tracked_once(videos, cache):
    clip = videos / "feifeili_clip1.mp4"
    v = evaluate(clip, reference=clip, cache=cache).values
    assert v["psnr_full"] == v["psnr_face"] == PSNR_CAP_DB
    assert v["ssim_full"] == pytest.approx(1.0) and v["ssim_face"] == pytest.approx(1.0)
    for key in ("lmd_mouth_px", "lmd_all_px", "lmd_mouth_io", "lmd_all_io"):
        assert v[key] == 0.0
    assert v["mouth_corr"] == pytest.approx(1.0) and v["mouth_lag"] == 0
    assert v["av_offset_rel"] == 0 and v["av_offset"] == v["ref_av_offset"]
    assert v["blink_rate"] == v["ref_blink_rate"]
    assert len(cache) == 1


@pytest.mark.parametrize("shift", [5, -5])
def test_audio_shifted_by_five_frames_is_measured_as_that_offset(videos, cache, shift):
    from talkface.media import load_audio

    for name in SYNCED[:2]:
        clip = videos / f"{name}.mp4"
        audio = load_audio(clip)
        moved = np.concatenate([np.zeros(shift * HOP, np.float32), audio]) if shift > 0 else audio[-shift * HOP:]
        v = evaluate(clip, reference=clip, audio=moved, cache=cache, groups=["sync"]).values
        assert abs(v["av_offset_rel"] - shift) <= 1, (name, v)
        assert abs(v["av_offset"] - v["ref_av_offset"] - shift) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["obama_clip2", "newyear_message", "wda_aoc", "expressive_talk", "feifeili_clip2"])
def test_audio_shift_is_recovered_on_more_clips_and_sizes(videos, name):
    from talkface.media import load_audio

    clip = videos / f"{name}.mp4"
    audio = load_audio(clip)
    cache: dict = {}
    for shift in (3, SHIFT_FRAMES, -SHIFT_FRAMES):
        moved = np.concatenate([np.zeros(shift * HOP, np.float32), audio]) if shift > 0 else audio[-shift * HOP:]
        v = evaluate(clip, reference=clip, audio=moved, cache=cache, groups=["sync"]).values
        assert abs(v["av_offset_rel"] - shift) <= 1, (name, shift, v)


def test_another_clips_audio_gives_clearly_lower_sync_confidence(videos, cache):
    own, other = {}, {}
    for name in SYNCED:
        for audio_name in SYNCED:
            r = evaluate(videos / f"{name}.mp4", audio=videos / f"{audio_name}.mp4", cache=cache, groups=["sync"])
            conf = r.values["av_confidence"]
            (own.__setitem__(name, conf) if audio_name == name else other.setdefault(name, []).append(conf))
    assert np.median(list(own.values())) > np.median(sum(other.values(), [])) + 0.15, (own, other)
    for name in SYNCED:
        assert own[name] > max(other[name]), (name, own[name], other[name])


def test_frozen_frame_video_has_no_mouth_correlation_and_no_blinks(videos, cache, tmp_path):
    from talkface.media import VideoWriter, iter_frames, load_audio

    clip = videos / "feifeili_clip1.mp4"
    frames = iter_frames(clip)
    first = next(frames)
    n = 1 + sum(1 for _ in frames)
    frozen = tmp_path / "frozen.mp4"
    with VideoWriter(frozen, audio=load_audio(clip)) as writer:
        for _ in range(n):
            writer.write(first)
    v = evaluate(frozen, reference=clip, cache=cache).values
    assert abs(v["mouth_corr"]) < 0.1
    assert v["blink_rate"] == 0.0 and v["ref_blink_rate"] > 0
    assert v["pose_std_deg"] < 0.05 * v["ref_pose_std_deg"]
    assert v["mouth_motion_cm"] < 0.05 and v["av_confidence"] < 0.1 < v["ref_av_confidence"]
    assert v["psnr_full"] < 40 and v["lmd_mouth_px"] > 0.5


def test_encoder_openness_signal_finds_sync_when_the_phoneme_encoder_is_trained(videos, cache):
    from talkface.audio.encoder import WEIGHTS

    if not WEIGHTS.is_file():
        pytest.skip(f"phoneme encoder weights not trained yet ({WEIGHTS})")
    clip = videos / "obama_clip1.mp4"
    own = evaluate(clip, cache=cache, groups=["sync"], speech_signal="openness").values
    other = evaluate(clip, audio=videos / "kristinoem.mp4", cache=cache, groups=["sync"],
                     speech_signal="openness").values
    assert abs(own["av_offset"]) <= 5
    assert own["av_confidence"] > other["av_confidence"]
