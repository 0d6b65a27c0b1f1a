"""MotionTrack: factor-wise mixing leaves other factors bit-identical, storage round-trips, sources decode back."""
from __future__ import annotations

import numpy as np
import pytest

from talkface.errors import UserError
from talkface.face import mouth_gap, mouth_opening
from talkface.motion import FACTOR_FIELDS, MotionTrack
from talkface.motion.track import FIELDS, pingpong_indices
from talkface.store import save_npz


@pytest.fixture(scope="module")
def sources(tracks, weights):
    return {k: MotionTrack.from_track(t, source=k) for k, t in tracks.items()}


@pytest.mark.parametrize("factor", list(FACTOR_FIELDS))
def test_override_one_factor_leaves_the_others_bit_identical(sources, factor):
    """PD-FGC disentanglement: replacing one factor changes exactly its own fields, nothing else."""
    base, other = sources["talk"], sources["pose"]
    mixed = base.override(other, factor)
    owned = set(FACTOR_FIELDS[factor])
    src = other.fit_length(base.n_frames)
    for name in FIELDS:
        if name in owned:
            assert np.array_equal(mixed.get(name), src.get(name)), name
        else:
            assert mixed.get(name).tobytes() == base.get(name).tobytes(), f"{factor} changed {name}"
    assert mixed.n_frames == base.n_frames


def test_four_sources_mix_into_one_track(sources):
    """Lips from one clip, pose from a second, eyes from a third, expression from a fourth (PD-FGC)."""
    base = sources["talk"]
    mixed = base.override(sources["pose"], "pose").override(sources["eyes"], "eyes").override(sources["expr"], "brows")
    n = base.n_frames
    assert mixed.expression["mouth"].tobytes() == base.expression["mouth"].tobytes()
    assert np.array_equal(mixed.pose, sources["pose"].fit_length(n).pose)
    assert np.array_equal(mixed.gaze, sources["eyes"].fit_length(n).gaze)
    assert np.array_equal(mixed.expression["brows"], sources["expr"].fit_length(n).expression["brows"])
    assert set(mixed.meta["sources"]) == {"pose", "eyes", "brows"}


def test_unknown_factor_and_fps_mismatch_are_refused(sources):
    with pytest.raises(UserError, match="unknown motion factor"):
        sources["talk"].override(sources["pose"], "hair")
    other = sources["pose"].copy()
    other.fps = 30.0
    with pytest.raises(UserError, match="fps"):
        sources["talk"].override(other, "pose")


def test_from_track_decodes_back_to_the_tracked_face(tracks, sources):
    """Coefficients + eye rig reproduce the tracked mouth opening and eye closure of a real clip."""
    tr, motion = tracks["talk"], sources["talk"]
    from talkface.face import identity_mean
    from talkface.face.features import blink_closure, eye_aspect_ratio

    shapes = motion.shapes(identity_mean(tr.landmarks3d, tr.valid))
    assert np.corrcoef(mouth_gap(shapes), mouth_opening(tr))[0, 1] > 0.95
    ear_real, ear_model = eye_aspect_ratio(tr.landmarks3d), eye_aspect_ratio(shapes)
    assert np.corrcoef(ear_real.mean(1), ear_model.mean(1))[0, 1] > 0.9
    assert np.abs(blink_closure(ear_model) - tr.blink).mean() < 0.1


def test_save_load_round_trip_and_version_check(sources, tmp_path):
    motion = sources["talk"]
    path = tmp_path / "m.npz"
    motion.save(path)
    back = MotionTrack.load(path)
    for name in FIELDS:
        assert np.array_equal(back.get(name), motion.get(name))
    assert back.fps == motion.fps and back.meta["source"] == "talk"
    save_npz(tmp_path / "old.npz", "MotionTrack", 99, {"pose": motion.pose}, {"fps": 25.0})
    with pytest.raises(UserError, match="version"):
        MotionTrack.load(tmp_path / "old.npz")
    with pytest.raises(UserError, match="no such file"):
        MotionTrack.load(tmp_path / "missing.npz")


def test_short_sources_are_extended_without_jumps(sources):
    """A 3 s driving clip stretched to 20 s goes back and forth: no step larger than the clip's own steps."""
    short = sources["expr"]
    long = short.fit_length(500)
    assert long.n_frames == 500
    step = lambda a: np.abs(np.diff(a, axis=0)).max()  # noqa: E731
    assert step(long.pose) <= step(short.pose) + 1e-6
    idx = pingpong_indices(4, 10)
    assert idx.tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
