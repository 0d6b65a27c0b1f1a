"""The real training loops run (two steps each on two real clips) and produce finite held-out numbers."""
from __future__ import annotations

import numpy as np

from talkface.motion.data import Clip, cached_speech, cached_track, speaker_of
from talkface.motion.train import train_expression, train_pose


def clip(data_dir, name: str) -> Clip:
    path = data_dir / "videos" / name
    return Clip(name, speaker_of(name), cached_track(path), cached_speech(path))


def test_training_loops_run_on_real_clips(data_dir):
    train = [clip(data_dir, "feifeili_clip1.mp4"), clip(data_dir, "newyear_message.mp4")]
    held = [clip(data_dir, "feifeili_clip3.mp4")]
    expr = train_expression(train, held, steps=2, seed=0, log=lambda _: None, save=False, batch=4, members=2)
    assert np.isfinite(expr["held_out"]["mean_corr_synced"]) and expr["train_frames"] > 300
    pose = train_pose(train, [], steps=2, seed=0, log=lambda _: None, save=False, batch=4)
    assert pose["train_frames"] > 300 and np.isfinite(pose["output_gain"]).all()


def test_shipped_lip_generator_never_saw_the_held_out_clips():
    """The split is honest: the shipped expression weights record their training clips; no held-out clip and no
    excluded (music / out-of-sync) clip is among them, and the extra videos_hard talking clips are."""
    from talkface.motion.train import LIPS_EXCLUDED, LIPS_EXTRA
    from talkface.motion.weights import load_weights, weights_path
    from talkface.splits import HELD_OUT_VIDEOS

    _, meta = load_weights(weights_path("expression"))
    trained = set(meta["train_clips"])
    assert not trained & set(HELD_OUT_VIDEOS) and not trained & set(LIPS_EXCLUDED)
    assert set(LIPS_EXTRA) <= trained and len(trained) >= 11
    # every clip's speech was aligned to the median footage offset, which is stored as the model's lip lead
    shifts, lead = meta["clip_shifts"], meta["sync_lead"]
    assert 0 <= lead <= 2 and any(shifts.values()) and sorted(shifts.values())[len(shifts) // 2] == 0
