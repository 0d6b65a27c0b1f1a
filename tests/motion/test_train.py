"""The real training loops run (two steps each on two real clips) and produce finite held-out numbers."""
from __future__ import annotations

import numpy as np

from talkface.motion.data import load_clips
from talkface.motion.train import train_expression, train_pose


def test_training_loops_run_on_real_clips(data_dir):
    clips = [c for c in load_clips("videos", False) if c.name in ("feifeili_clip1.mp4", "newyear_message.mp4")]
    held = [c for c in load_clips("videos", True) if c.name == "feifeili_clip3.mp4"]
    expr = train_expression(clips, held, steps=2, seed=0, log=lambda _: None, save=False, batch=4)
    assert np.isfinite(expr["held_out"]["mean_corr"]) and expr["train_frames"] > 300
    pose = train_pose(clips, held, steps=2, seed=0, log=lambda _: None, save=False, batch=4)
    assert pose["held_out"]["feifeili_clip3.mp4"]["div_gen"] >= 0
