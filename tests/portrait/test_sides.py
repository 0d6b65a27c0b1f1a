"""Side completion on a real photo with a turned head: untouched at the photo's pose, better novel views when the
hidden cheek turns into view (checked against the real frames of the same clip)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CLIP = DATA / "videos" / "feifeili_clip1.mp4"  # starts turned ~17° to one side, then turns to frontal

pytestmark = pytest.mark.skipif(not CLIP.is_file(), reason=f"shared test data not found at {CLIP}")


@pytest.fixture(scope="module")
def frames():
    from talkface.media import iter_frames
    return [f for _, f in zip(range(210), iter_frames(CLIP, 25.0))]


@pytest.fixture(scope="module")
def model(frames):
    from talkface.portrait import build_portrait
    return build_portrait(frames[0], size=256)


def test_mirror_index_pairs_left_and_right():
    from talkface.face import canonical_face
    from talkface.portrait.sides import mirror_index

    mean = canonical_face().mean
    m = mirror_index(mean)
    assert m[1] == 1  # nose tip is on the midline
    assert m[33] == 263 and m[263] == 33  # outer eye corners
    assert m[234] == 454  # cheek edge points of the face oval
    assert np.mean(m[m] == np.arange(len(m))) > 0.95  # an involution up to a few ambiguous points
    assert np.abs(mean[m, 0] + mean[:, 0]).max() < 0.3  # partners sit at mirrored x (cm)


def test_turned_photo_gets_a_completion_of_its_hidden_side_only(model):
    sides = model.sides
    assert sides is not None
    covered = sides.alpha.reshape(2, -1).max(1)
    # the head is turned: exactly one side is seen obliquely enough to need help
    assert (covered > 0.5).sum() == 1
    hidden = int(np.argmax(covered))
    from talkface.face import canonical_face
    x = canonical_face().mean[:, 0]
    on_side = x < 0 if hidden == 0 else x > 0
    outer = np.abs(x) > 4
    assert sides.src_visibility[on_side & outer].mean() < sides.src_visibility[~on_side & outer].mean()


def test_photo_pose_renders_the_photo_unchanged(model):
    from talkface.face.geometry import axis_angle_to_matrix
    from talkface.portrait import PortraitRenderer

    pose, shape = model.track.pose[0], model.track.landmarks3d[0]
    np.testing.assert_array_equal(model.sides.weights(axis_angle_to_matrix(pose[:3].astype(np.float64))), [0, 0])
    with_sides = PortraitRenderer(model).render(pose, shape).copy()
    without = PortraitRenderer(replace(model, sides=None)).render(pose, shape)
    np.testing.assert_array_equal(with_sides, without)


def _turn(pose: np.ndarray, yaw: float) -> np.ndarray:
    from talkface.face.geometry import axis_angle_to_matrix, euler_to_axis_angle, matrix_to_axis_angle
    out = np.array(pose, np.float32, copy=True)
    rot = axis_angle_to_matrix(euler_to_axis_angle(np.array([yaw, 0.0, 0.0])))
    out[:3] = matrix_to_axis_angle(rot @ axis_angle_to_matrix(pose[:3].astype(np.float64)))
    return out


def test_weights_grow_only_for_the_side_turned_into_view(model):
    from talkface.face.geometry import axis_angle_to_matrix

    hidden = int(np.argmax(model.sides.alpha.reshape(2, -1).max(1)))
    pose = model.track.pose[0]
    w = {yaw: model.sides.weights(axis_angle_to_matrix(_turn(pose, yaw)[:3].astype(np.float64)))
         for yaw in (-25, -10, 10, 25)}
    towards = max(w, key=lambda k: w[k][hidden])  # the turn direction that reveals the hidden side
    assert w[towards][hidden] > 0.9
    assert w[-towards][hidden] == 0.0
    assert w[towards // 25 * 10][hidden] < w[towards][hidden]  # a smaller turn blends in less
    assert all(v[1 - hidden] == 0.0 for v in w.values())


def test_novel_views_of_the_turned_head_match_the_real_frames_better(frames, model):
    """Animate frame 0 to the tracked pose and shape of the frames where the real head turned > 12°: the face
    region must be closer to the real frames with the completion (mirror texture and symmetric depth) than
    without. Measured at 256²: MAE 11.53 with vs 12.45 without (0–255); the mirror texture alone gave 12.16, so
    losing the depth part, a wrong mirror, gain or blend would fail this."""
    from talkface.face.geometry import axis_angle_to_matrix, euler_degrees, matrix_to_axis_angle
    from talkface.face.landmarks import FACE_OVAL, LIPS_OUTER
    from talkface.face.pipeline import build_track
    from talkface.face.tracker import track_raw
    from talkface.portrait import PortraitRenderer

    track = build_track(track_raw(frames), 25.0)
    yaw = euler_degrees(track.pose[:, :3])[:, 0]
    turned = np.flatnonzero(np.abs(yaw - yaw[0]) > 12)[::3]
    assert len(turned) >= 15
    r0v = axis_angle_to_matrix(track.pose[0, :3].astype(np.float64))
    r0p = axis_angle_to_matrix(model.track.pose[0, :3].astype(np.float64))
    renderers = {"with": PortraitRenderer(model), "without": PortraitRenderer(replace(model, sides=None))}
    errors = {k: [] for k in renderers}
    size = model.size
    for t in turned:
        pose = model.track.pose[0].copy()
        pose[:3] = matrix_to_axis_angle(axis_angle_to_matrix(track.pose[t, :3].astype(np.float64)) @ r0v.T @ r0p)
        pose[3:] = model.track.pose[0, 3:] + track.pose[t, 3:] - track.pose[0, 3:]
        shape = track.landmarks3d[t] - track.landmarks3d[0] + model.track.landmarks3d[0]
        real = model.box.extract(frames[t], size).astype(np.float32)
        lm = model.box.to_crop(track.landmarks2d[t], size)
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [np.round(lm[list(FACE_OVAL)]).astype(np.int32)], 1)
        lips = np.zeros_like(mask)
        cv2.fillPoly(lips, [np.round(lm[list(LIPS_OUTER)]).astype(np.int32)], 1)
        mask = (mask > 0) & (cv2.dilate(lips, np.ones((9, 9), np.uint8)) == 0)
        for k, r in renderers.items():
            errors[k].append(np.abs(r.render(pose, shape).astype(np.float32) - real).mean(2)[mask].mean())
    with_sides, without = np.mean(errors["with"]), np.mean(errors["without"])
    assert with_sides < without - 0.5, (with_sides, without)
