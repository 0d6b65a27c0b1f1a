"""Face tracking on real clips: pose, stability, blinks, mouth vs speech, masks, morphable model, bad input."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from talkface.errors import UserError
from talkface.face import (FaceTrack, blink_events, fit_morphable, identity_mean, mouth_opening, region_masks,
                           shipped_morphable, track_video)
from talkface.face.geometry import (axis_angle_to_matrix, euler_degrees, euler_to_axis_angle, matrix_to_axis_angle,
                                    project_canonical, similarity_fit, unproject_to_canonical)
from talkface.face.pipeline import build_track
from talkface.face.tracker import track_raw
from talkface.media import VideoWriter, iter_frames, load_audio
from talkface.splits import HELD_OUT_VIDEOS

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.tracking_quality import audio_envelope, best_lag_corr, jitter_rms, rotation_steps_deg  # noqa: E402


@pytest.fixture(scope="module")
def obama_raw(data_dir):
    return track_raw(iter_frames(data_dir / "videos/obama_clip1.mp4"))


@pytest.fixture(scope="module")
def obama(obama_raw):
    return build_track(obama_raw, 25.0, source="obama_clip1")


def test_geometry_round_trips():
    """Axis-angle ↔ matrix ↔ Euler conversions invert each other; Umeyama recovers a known similarity."""
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(20, 3)) * 0.5
    assert np.allclose(matrix_to_axis_angle(axis_angle_to_matrix(vec)), vec, atol=1e-9)
    ypr = rng.uniform(-40, 40, size=(20, 3))
    assert np.allclose(euler_degrees(euler_to_axis_angle(ypr)), ypr, atol=1e-9)
    src = rng.normal(size=(50, 3))
    rot = axis_angle_to_matrix(np.array([0.3, -0.2, 0.1]))
    s, r, t = similarity_fit(src, (2.5 * src @ rot.T + [1, 2, 3])[None])
    assert np.allclose(s, 2.5) and np.allclose(r, rot) and np.allclose(t, [1, 2, 3])
    intr = np.array([[500, 0, 128], [0, 500, 128], [0, 0, 1]], np.float32)
    pose = np.array([[0.1, 0.2, -0.1, 1.0, -2.0, 30.0]])
    pts = src[None]
    assert np.allclose(unproject_to_canonical(project_canonical(pts, pose, intr), pose, intr), pts, atol=1e-9)


def test_track_is_complete_and_consistent(obama, tmp_path):
    """Every frame of a talking clip is tracked; landmarks reproject from canonical shape and pose; save/load."""
    assert obama.n_frames == 502 and obama.valid.all()
    assert obama.landmarks2d.shape == (502, 478, 2) and obama.landmarks3d.shape == (502, 478, 3)
    reproj = project_canonical(obama.landmarks3d, obama.pose, obama.intrinsics)[..., :2]
    assert np.abs(reproj - obama.landmarks2d).max() < 1e-2
    # the face is in the frame, eyes level within a few degrees, about 25–35 cm from a 53° camera
    assert (obama.landmarks2d[..., 0].min() > 0) and (obama.landmarks2d[..., 1].max() < 256)
    assert np.abs(euler_degrees(obama.pose[:, :3])).mean(0).max() < 15
    path = tmp_path / "t.npz"
    obama.save(path)
    back = FaceTrack.load(path)
    assert np.array_equal(back.landmarks2d, obama.landmarks2d) and back.fps == 25.0


def test_track_file_version_is_checked(obama, tmp_path):
    from talkface.store import save_npz
    path = tmp_path / "old.npz"
    save_npz(path, "FaceTrack", 999, {"x": np.zeros(1)}, {})
    with pytest.raises(UserError, match="version 999"):
        FaceTrack.load(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(UserError):
        FaceTrack.load(bad)


def test_mouth_moves_with_speech(obama, obama_raw, data_dir):
    """Inner-lip gap correlates with the audio envelope (the clips score 0.18–0.50), and smoothing keeps it."""
    env = audio_envelope(load_audio(data_dir / "videos/obama_clip1.mp4"), obama.n_frames)
    smooth = best_lag_corr(mouth_opening(obama), env)
    raw = best_lag_corr(mouth_opening(build_track(obama_raw, 25.0, smooth=False)), env)
    assert smooth > 0.3
    assert smooth >= raw - 0.01
    gap = mouth_opening(obama)
    assert np.percentile(gap, 95) > 3 * np.percentile(gap, 5) + 0.2  # the mouth really opens and closes


@pytest.mark.parametrize("clip", ["liveportrait_d0.mp4", "liveportrait_d13.mp4", "liveportrait_d19.mp4"])
def test_smoothing_on_still_clips(data_dir, clip):
    """Silent driving clips: no smoothed pose step above 2° unless the raw track has one; jitter ≤ 0.5 px at 512²."""
    raw = track_raw(iter_frames(data_dir / "driving" / clip))
    smooth, rough = build_track(raw, 25.0), build_track(raw, 25.0, smooth=False)
    steps, raw_steps = rotation_steps_deg(smooth.pose), rotation_steps_deg(rough.pose)
    assert np.all((steps <= 2.0) | (raw_steps > 2.0))
    to512 = 512.0 / min(smooth.width, smooth.height)
    assert jitter_rms(smooth.landmarks2d) * to512 <= 0.5
    assert jitter_rms(smooth.landmarks2d) < 0.8 * jitter_rms(rough.landmarks2d)


def test_blinks_detected(data_dir, obama):
    """The blink clip and a talking clip show blinks; counts checked by eye in the preview."""
    d3 = track_video(data_dir / "driving/liveportrait_d3.mp4")
    assert len(blink_events(d3.blink, 25.0)) >= 2
    events = blink_events(obama.blink, 25.0)
    assert 4 <= len(events) <= 20  # ~20 s of a speaker who blinks every second or two
    assert all(1 <= b - a <= 12 for a, b in events)


def test_small_face_in_1080p_is_tracked(data_dir):
    """The full-range detector finds the small face in a 1080×1920 HEVC frame; crop-and-track follows it."""
    frames = [f for _, f in zip(range(40), iter_frames(data_dir / "videos_hard/small_face_hevc_portrait.mp4"))]
    raw = track_raw(frames)
    assert raw.found.all()
    size = np.ptp(raw.points[:, :468, :2], axis=1).max(1)
    assert size.mean() < 0.25 * 1080


def test_several_faces_refused(data_dir):
    with pytest.raises(UserError, match="several faces|shot cuts"):
        track_video(data_dir / "videos_hard/multiple_faces_cuts.mp4")


def _blank_video(path, n, face_frames=None):
    """A video of grey noise frames, with real face frames spliced in at the given indices."""
    rng = np.random.default_rng(1)
    with VideoWriter(path) as w:
        for k in range(n):
            w.write(face_frames[k] if face_frames and k in face_frames else rng.integers(90, 110, (256, 256, 3), np.uint8))


def test_no_face_refused(tmp_path):
    path = tmp_path / "noface.mp4"
    _blank_video(path, 20)
    with pytest.raises(UserError, match="no face"):
        track_video(path)


def test_short_gaps_interpolated_and_mostly_faceless_refused(data_dir, tmp_path):
    """Frames without a face are marked invalid and filled from their neighbours; mostly-faceless video is refused."""
    frames = [f for _, f in zip(range(40), iter_frames(data_dir / "videos/feifeili_clip1.mp4"))]
    rng = np.random.default_rng(2)
    with_gap = [f if not 18 <= k < 22 else rng.integers(90, 110, f.shape, np.uint8) for k, f in enumerate(frames)]
    path = tmp_path / "gap.mp4"
    with VideoWriter(path) as w:
        for f in with_gap:
            w.write(f)
    track = track_video(path)
    assert not track.valid[18:22].any() and track.valid[:17].all()
    mid = track.landmarks2d[20, 1]
    assert np.linalg.norm(mid - (track.landmarks2d[16, 1] + track.landmarks2d[23, 1]) / 2) < 10
    sparse = {k: frames[k] for k in range(0, 40, 5)}
    path2 = tmp_path / "sparse.mp4"
    _blank_video(path2, 40, sparse)
    with pytest.raises(UserError, match="only"):
        track_video(path2)


def test_image_is_a_one_frame_video(data_dir):
    track = track_video(data_dir / "portraits/obama.jpg")
    assert track.n_frames == 1 and track.valid.all()


def test_masks_cover_the_right_regions(obama):
    """Inner mouth lies inside the lips, lips inside the face; masks open when the mouth opens."""
    gap = mouth_opening(obama)
    k_open, k_closed = int(np.argmax(gap)), int(np.argmin(gap))
    m_open = region_masks(obama.landmarks2d[k_open], 256, 256)
    m_closed = region_masks(obama.landmarks2d[k_closed], 256, 256)
    assert m_open["inner_mouth"].sum() > 4 * m_closed["inner_mouth"].sum() + 10
    assert (m_open["inner_mouth"] * (1 - m_open["face"])).sum() < 1.0
    assert m_open["eyes"].sum() > 20 and m_open["face"].sum() > 50 * 50


def test_morphable_model_reconstructs_held_out_frames(data_dir):
    """The shipped regional basis (built without the held-out clips) explains held-out expressions."""
    model = shipped_morphable()
    clip = data_dir / "videos" / HELD_OUT_VIDEOS[0]
    track = track_video(clip)
    person = model.with_identity(identity_mean(track.landmarks3d))
    coeffs = person.encode(track.landmarks3d)
    recon = person.decode(coeffs)
    for region, idx in person.regions.items():
        res = track.landmarks3d[:, idx] - person.mean[idx]
        err = np.linalg.norm(recon[:, idx] - track.landmarks3d[:, idx], axis=-1).mean()
        base = np.linalg.norm(res, axis=-1).mean()
        # the basis explains most lip motion; eyes/brows of a talking clip move little beyond tracking noise
        assert err < (0.35 if region == "mouth" else 0.65) * base, region
        assert err < 0.1, region  # under a millimetre on average
    # regional independence: decoding only the mouth leaves eyes and brows at the mean
    only_mouth = person.decode({"mouth": coeffs["mouth"]})
    assert np.array_equal(only_mouth[:, person.regions["eyes"]], np.repeat(person.mean[None, person.regions["eyes"]], track.n_frames, 0))
    # the mouth coefficients carry the lip opening
    gap_recon = np.linalg.norm(recon[:, 13] - recon[:, 14], axis=-1)
    assert np.corrcoef(gap_recon, mouth_opening(track))[0, 1] > 0.95


def test_fit_morphable_on_tracks(obama):
    model = fit_morphable([obama.landmarks3d], identity_mean(obama.landmarks3d), {"mouth": 4, "eyes": 2, "brows": 2})
    assert model.bases["mouth"].shape[0] == 4
    b = model.bases["mouth"]
    assert np.allclose(b @ b.T, np.eye(4), atol=1e-4)


def test_person_mask_separates_speaker_from_background(data_dir, obama):
    """Selfie segmentation marks the face as person and the top corners of the frame as background."""
    from talkface.face import person_masks
    frame = next(iter_frames(data_dir / "videos/obama_clip1.mp4"))
    mask = next(person_masks([frame]))
    face = region_masks(obama.landmarks2d[0], 256, 256)["face"] > 0.5
    assert mask.shape == (256, 256)
    assert mask[face].mean() > 0.9
    assert mask[:20, :20].mean() < 0.2 and mask[:20, -20:].mean() < 0.2
