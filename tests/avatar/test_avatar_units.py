"""Unit tests of the avatar's parts that need no media: hash encoder, split rules, replay order, strategy, store."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkface.avatar import DataConfig, TriPlaneHashEncoder, plan_split
from talkface.avatar.speak import pingpong, relative_pose
from talkface.avatar.store import AVATAR_FORMAT, AVATAR_VERSION, load_avatar
from talkface.errors import UserError


def test_hash_encoder_is_continuous_and_its_gradient_matches_autograd():
    torch.manual_seed(0)
    enc = TriPlaneHashEncoder(10.0, levels=6, log2_size=10, base=4, finest=64)
    with torch.no_grad():
        enc.table.normal_()
    x = torch.rand(300, 3) * 16 - 8
    y = enc(x)
    assert y.shape == (300, 18)
    near = enc(x + 1e-4)
    assert (near - y).abs().max() < 1e-2  # bilinear: tiny moves give tiny changes
    far = enc(x + 3.0)
    assert (far - y).abs().mean() > 0.1  # but the encoding does depend on position
    g = torch.randn_like(y)
    (y * g).sum().backward()
    ours = enc.table.grad.clone()
    enc.table.grad = None
    rows, w = enc.lookup(x)
    ref = (enc.table.reshape(-1)[rows] * w).sum(-1).reshape(3, 300, 6).permute(1, 0, 2).reshape(300, -1)
    (ref * g).sum().backward()
    assert torch.allclose(ours, enc.table.grad, atol=1e-5)


def test_split_holds_out_the_tail_and_refuses_short_videos():
    cfg = DataConfig()
    s = plan_split(20.0, cfg)
    assert (s.train_end, s.holdout_start, s.n_frames) == (250, 400, 500)  # 10 s train, last 4 s held out
    s = plan_split(12.0, cfg)
    assert s.train_end <= s.holdout_start and s.n_frames - s.holdout_start == 75  # >= 3 s held out
    s = plan_split(5.0, cfg)
    assert s.train_end == 100 and s.holdout_start == 100  # short clip: 20% held out, never trained on
    with pytest.raises(UserError, match="too short"):
        plan_split(3.5, cfg)


def test_pingpong_replays_back_and_forth_without_jumps():
    idx = [pingpong(t, 5) for t in range(20)]
    assert idx[:9] == [0, 1, 2, 3, 4, 3, 2, 1, 0]
    assert max(abs(a - b) for a, b in zip(idx, idx[1:])) == 1
    assert pingpong(7, 1) == 0


def test_relative_pose_is_identity_for_a_still_driver():
    base = np.array([0.1, -0.2, 0.05, 1.0, 2.0, 40.0], np.float32)
    drive = np.array([0.3, 0.1, 0.0, 5.0, 1.0, 60.0], np.float32)
    assert np.allclose(relative_pose(base, drive, drive), base, atol=1e-6)
    moved = drive.copy()
    moved[3] += 2.0
    assert np.allclose(relative_pose(base, drive, moved)[3], base[3] + 2.0)


def _write_config(path, **overrides):
    doc = {"format": AVATAR_FORMAT, "version": AVATAR_VERSION, **overrides}
    (path / "config.json").write_text(json.dumps(doc))


def test_store_refuses_partial_corrupt_and_other_versions(tmp_path):
    with pytest.raises(UserError, match="no such avatar"):
        load_avatar(tmp_path / "missing.avatar")
    d = tmp_path / "a.avatar"
    d.mkdir()
    _write_config(d)
    with pytest.raises(UserError, match="not a complete avatar"):
        load_avatar(d)
    (d / "weights.safetensors").write_bytes(b"garbage")
    (d / "track.npz").write_bytes(b"garbage")
    (d / "background").mkdir()
    (d / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="corrupt"):
        load_avatar(d)
    _write_config(d, version=AVATAR_VERSION + 1)
    with pytest.raises(UserError, match="version"):
        load_avatar(d)
    _write_config(d, version=3)  # avatars on the shipped eyes/brows coefficients (no own basis) are refused clearly
    with pytest.raises(UserError, match="format version 3 is not supported.*expects version 4"):
        load_avatar(d)
    _write_config(d, config={})
    with pytest.raises(UserError, match="corrupt"):
        load_avatar(d)
