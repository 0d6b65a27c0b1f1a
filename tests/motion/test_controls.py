"""MotionControls: values validated up front (one sentence), keyframes, still mode, blink control, sources."""
from __future__ import annotations

import numpy as np
import pytest

from talkface.errors import UserError
from talkface.eval import blink_rate
from talkface.face.geometry import euler_degrees
from talkface.motion import MotionControls, generate_motion, parse_angle, pose_styles
from talkface.motion.controls import compose_pose, relative_pose_offsets


@pytest.mark.parametrize("kwargs, message", [
    ({"expression_scale": -1}, "expression-scale"),
    ({"expression_scale": float("nan")}, "expression-scale"),
    ({"head_motion_scale": 50}, "head-motion-scale"),
    ({"yaw": 120}, "yaw"),
    ({"pitch": "0:0,1:80"}, "pitch"),
    ({"roll": "2:0,1:5"}, "increase"),
    ({"yaw": "fast"}, "keyframes"),
    ({"seed": -3}, "seed"),
    ({"pose_style": 10_000}, "pose-style"),
    ({"still": True, "pose_from": "x.mp4"}, "contradict"),
    ({"pose_from": "/nonexistent/clip.mp4"}, "no such file"),
    ({"blink": "sometimes"}, "no such file"),
])
def test_absurd_values_are_refused_with_one_sentence(weights, kwargs, message):
    with pytest.raises(UserError, match=message) as err:
        MotionControls(**kwargs).validated()
    text = str(err.value)
    assert text.endswith(".") and "\n" not in text


def test_keyframes_parse_and_interpolate():
    keys = parse_angle("yaw", "0:0, 2:20, 4:-10")
    values = keys.at(125)  # 5 s at 25 fps
    assert values[0] == 0 and values[50] == pytest.approx(20) and values[100] == pytest.approx(-10)
    assert values[25] == pytest.approx(10) and values[-1] == pytest.approx(-10)
    assert parse_angle("roll", 7).at(3).tolist() == [7, 7, 7]
    assert parse_angle("pitch", "-12.5").values == (-12.5,)


def test_default_generation_is_seeded_and_human(held_out_speech, tracks, weights):
    """Same seed → identical motion; another seed → different pose; blinks at a human rate; mouth moves."""
    ref = tracks["talk"]
    a = generate_motion(held_out_speech, MotionControls(seed=3), ref)
    b = generate_motion(held_out_speech, MotionControls(seed=3), ref)
    c = generate_motion(held_out_speech, MotionControls(seed=4), ref)
    assert a.n_frames == held_out_speech.n_frames(25)
    assert np.array_equal(a.pose, b.pose) and np.array_equal(a.blink, b.blink) and np.array_equal(a.gaze, b.gaze)
    assert not np.allclose(a.pose, c.pose)
    assert np.allclose(a.pose[0, :3], ref.pose[0, :3], atol=0.05)  # starts at the reference head pose
    assert a.expression["mouth"].std(0).max() > 0.05


def test_still_mode_keeps_blinking_unless_blink_off(held_out_speech, tracks, weights, tile):
    still = generate_motion(held_out_speech, MotionControls(still=True, seed=1), tracks["talk"])
    assert np.ptp(still.pose, axis=0).max() == 0.0
    assert np.abs(still.expression["brows"]).max() == 0.0
    long = generate_motion(tile(held_out_speech, 9), MotionControls(still=True, seed=1), tracks["talk"])
    assert 10 <= blink_rate(long.blink, 25) <= 30
    off = generate_motion(held_out_speech, MotionControls(still=True, blink="off"), tracks["talk"])
    assert off.blink.max() == 0.0 and blink_rate(off.blink, 25) == 0.0


def test_explicit_angles_and_scales(held_out_speech, tracks, weights):
    ref = tracks["talk"]
    m = generate_motion(held_out_speech, MotionControls(yaw="0:-20,4:20", roll=5, seed=2), ref)
    ypr = euler_degrees(m.pose[:, :3])
    assert ypr[0, 0] == pytest.approx(-20, abs=1e-3) and ypr[100, 0] == pytest.approx(20, abs=1e-3)
    assert np.allclose(ypr[:, 2], 5, atol=1e-3)
    flat = generate_motion(held_out_speech, MotionControls(head_motion_scale=0, expression_scale=0), ref)
    assert np.ptp(flat.pose, axis=0).max() < 1e-5 and np.abs(flat.expression["mouth"]).max() == 0


def test_sources_drive_their_factor_only(data_dir, held_out_speech, tracks, weights):
    """--pose-from / --blink VIDEO / --eyes-from / --expression-from each replace only their own factor."""
    ref = tracks["talk"]
    base = generate_motion(held_out_speech, MotionControls(seed=5), ref)
    pose_clip = data_dir / "driving/liveportrait_d3.mp4"
    posed = generate_motion(held_out_speech, MotionControls(seed=5, pose_from=pose_clip), ref)
    assert np.array_equal(posed.expression["mouth"], base.expression["mouth"])
    assert np.array_equal(posed.blink, base.blink) and np.array_equal(posed.gaze, base.gaze)
    src = tracks["pose"]
    n = min(posed.n_frames, src.n_frames)
    want = compose_pose(ref.pose[0], relative_pose_offsets(src.pose))[:n]
    assert np.allclose(posed.pose[:n], want, atol=1e-5)
    eyes = generate_motion(held_out_speech, MotionControls(seed=5, blink=data_dir / "driving/liveportrait_d0.mp4",
                                                           eyes_from=data_dir / "driving/liveportrait_d0.mp4"), ref)
    assert np.array_equal(eyes.pose, base.pose) and np.array_equal(eyes.expression["mouth"], base.expression["mouth"])
    n = min(eyes.n_frames, tracks["eyes"].n_frames)
    assert np.allclose(eyes.blink[:n], tracks["eyes"].blink[:n])


def test_pose_styles_are_named():
    names = pose_styles()
    assert len(names) >= 10 and "obama" in names

