"""Portrait model and renderer on real photos: identity, mouth opening, eyelids, gaze, pose, paste-back, streaming."""
from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkface.errors import UserError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PORTRAITS = DATA / "portraits"

pytestmark = pytest.mark.skipif(not PORTRAITS.is_dir(), reason=f"shared test data not found at {PORTRAITS}")


@pytest.fixture(scope="module")
def model():
    from talkface.portrait import build_portrait
    return build_portrait(PORTRAITS / "people_0.png", size=256)


@pytest.fixture(scope="module")
def renderer(model):
    from talkface.portrait import PortraitRenderer
    return PortraitRenderer(model)


def _source(model):
    return model.track.pose[0].copy(), model.track.landmarks3d[0].copy()


def _polygon_mask(points: np.ndarray, size: int, erode: int = 0) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    if erode:
        mask = cv2.erode(mask, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    return mask > 0


def _open_mouth(shape: np.ndarray, cm: float) -> np.ndarray:
    """Canonical shape with the jaw dropped by `cm`: lower lip and chin points move down, more near the chin."""
    from talkface.face.landmarks import LIPS_INNER
    out = shape.copy()
    y_mid = (shape[13, 1] + shape[14, 1]) / 2
    below = shape[:468, 1] > y_mid
    chin_y = shape[152, 1]
    t = np.clip((shape[:468, 1] - y_mid) / max(chin_y - y_mid, 1e-6), 0, 1)
    w = np.where(below, 0.7 + 0.3 * t, 0.0)
    out[:468, 1] += w * cm
    lower_inner = [i for i in LIPS_INNER if shape[i, 1] > y_mid]
    out[lower_inner, 1] = shape[lower_inner, 1] + cm
    return out


def test_identity_render_reproduces_the_photo(model, renderer):
    pose, shape = _source(model)
    out = renderer.render(pose, shape)
    diff = np.abs(out.astype(int) - model.crop.astype(int)).max(axis=2)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    assert diff.mean() < 1.0
    assert np.percentile(diff, 98) <= 2  # only the re-composed eyes may differ slightly


def test_open_mouth_shows_an_inner_mouth_not_stretched_lips(model, renderer):
    from talkface.face.landmarks import LIPS_INNER, LIPS_OUTER
    from talkface.portrait.mouth import luminance
    pose, shape = _source(model)
    out = renderer.render(pose, _open_mouth(shape, 1.2))
    dst, _ = renderer.vertices(pose, _open_mouth(shape, 1.2))
    inner = _polygon_mask(dst[list(LIPS_INNER)], 256, erode=1)
    assert inner.sum() > 150, "the mouth should be open"
    lips = _polygon_mask(model.rest_xy[list(LIPS_OUTER)], 256) & ~_polygon_mask(model.rest_xy[list(LIPS_INNER)], 256)
    rgb_in = out[inner].astype(np.float32)
    rgb_lips = model.crop[lips].astype(np.float32)
    sat = lambda x: (x.max(1) - x.min(1)) / np.maximum(x.max(1), 1)
    darker = luminance(rgb_in).mean() < 0.85 * luminance(rgb_lips).mean()
    less_lip_coloured = sat(rgb_in).mean() < 0.8 * sat(rgb_lips).mean()
    assert darker or less_lip_coloured
    # the same opening without the inner-mouth layer (plain stretched mesh) would be lip-coloured throughout
    assert np.abs(rgb_in.mean(0) - rgb_lips.mean(0)).max() > 12


def test_a_barely_open_mouth_shows_a_dark_gap_and_a_wide_one_is_lit(model, renderer):
    """Opening ~0.1 (gap / width): the gap is dark against the lips (measured 0.34 of their luminance; 0.76 without
    the cavity shade, a pale lens that reads as closed lips). Opening ~0.3: teeth catch light (1.11), no black hole."""
    from talkface.face.landmarks import LIPS_INNER, LIPS_OUTER
    from talkface.portrait.mouth import luminance, mouth_opening
    pose, shape = _source(model)
    lips = _polygon_mask(model.rest_xy[list(LIPS_OUTER)], 256) & ~_polygon_mask(model.rest_xy[list(LIPS_INNER)], 256)
    lip_luma = luminance(model.crop[lips].astype(np.float32)).mean()
    relative = {}
    for cm in (0.2, 1.2):
        target = _open_mouth(shape, cm)
        out = renderer.render(pose, target)
        inner_xy = renderer.vertices(pose, target)[0][list(LIPS_INNER)]
        relative[round(float(mouth_opening(inner_xy)), 1)] = \
            luminance(out[_polygon_mask(inner_xy, 256)].astype(np.float32)).mean() / lip_luma
    assert set(relative) == {0.1, 0.3}
    assert relative[0.1] < 0.5
    assert relative[0.3] > 0.8


def test_closed_eyes_hide_the_sclera(model, renderer):
    from talkface.face.landmarks import EYE_0, EYE_1
    from talkface.portrait.mouth import luminance
    pose, shape = _source(model)
    closed = shape.copy()
    for eye in (EYE_0, EYE_1):
        upper, lower = list(eye[1:8]), list(eye[9:16])[::-1]
        for u, d in zip(upper, lower):
            closed[u] = closed[d]  # upper lid down onto the lower lid
    out = renderer.render(pose, closed)
    for eye in (EYE_0, EYE_1):
        region = _polygon_mask(model.rest_xy[list(eye)], 256, erode=1)
        before = luminance(model.crop[region].astype(np.float32))
        after = luminance(out[region].astype(np.float32))
        # sclera is the brightest part of an open eye; once the lid is down the eye area is skin-toned, smoother
        assert np.percentile(after, 95) < np.percentile(before, 95) + 1
        assert after.std() < before.std()


def test_gaze_moves_the_iris(model, renderer):
    from talkface.face.landmarks import EYE_0, EYE_1, IRIS_0, IRIS_1
    pose, shape = _source(model)
    looked = shape.copy()
    for iris in (IRIS_0, IRIS_1):
        looked[list(iris), 0] += 0.35  # cm towards the image's right
    base = renderer.render(pose, shape).astype(np.float32).mean(2)
    moved = renderer.render(pose, looked).astype(np.float32).mean(2)
    xs = np.arange(256, dtype=np.float32)[None, :]
    for eye in (EYE_0, EYE_1):
        inside = _polygon_mask(model.rest_xy[list(eye)], 256, erode=1)
        dark_a, dark_b = (255 - base) * inside, (255 - moved) * inside
        ca = (dark_a * xs).sum() / dark_a.sum()
        cb = (dark_b * xs).sum() / dark_b.sum()
        assert cb > ca + 0.5, "the dark iris should move right inside the eye opening"


def test_head_pose_moves_the_face_but_not_the_crop_border(model, renderer):
    from talkface.face.geometry import axis_angle_to_matrix, euler_to_axis_angle, matrix_to_axis_angle
    pose, shape = _source(model)
    turned = pose.copy()
    turned[:3] = matrix_to_axis_angle(axis_angle_to_matrix(euler_to_axis_angle(np.array([15.0, 8.0, 5.0])))
                                      @ axis_angle_to_matrix(pose[:3]))
    out = renderer.render(turned, shape)
    crop = model.crop
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        assert np.abs(out[edge].astype(int) - crop[edge].astype(int)).max() <= 1
    face = _polygon_mask(model.rest_xy[:468], 256)
    assert np.abs(out[face].astype(int) - crop[face].astype(int)).mean() > 5
    _, _, covered = renderer.warper.source_coordinates()
    assert covered.all()


def test_render_frames_streams_and_pastes_back_into_the_original(model):
    from talkface.portrait import load_portrait_image, render_frames
    original = load_portrait_image(PORTRAITS / "people_0.png")
    pose, shape = _source(model)
    shapes = (_open_mouth(shape, 0.1 * (k % 8)) for k in itertools.count())
    poses = itertools.repeat(pose)
    stream = render_frames(model, poses, shapes, original=original)
    frames = list(itertools.islice(stream, 6))
    assert len(frames) == 6
    assert all(f.shape == original.shape for f in frames)
    box = model.box
    outside = np.ones(original.shape[:2], bool)
    outside[int(box.y0):int(np.ceil(box.y0 + box.side)) + 1, int(box.x0):int(np.ceil(box.x0 + box.side)) + 1] = False
    if outside.any():
        assert np.array_equal(frames[3][outside], original[outside])
    assert not np.array_equal(frames[0], frames[4])  # the mouth moved


def test_an_image_without_a_face_is_refused(tmp_path):
    from talkface.portrait import build_portrait
    yy, xx = np.mgrid[0:240, 0:320]
    img = np.stack([xx % 256, yy % 256, (xx + yy) % 256], 2).astype(np.uint8)
    with pytest.raises(UserError, match="no face"):
        build_portrait(img)


def test_an_image_with_two_faces_is_refused():
    from talkface.portrait import build_portrait, load_portrait_image
    a = cv2.resize(load_portrait_image(PORTRAITS / "people_0.png"), (320, 320))
    b = cv2.resize(load_portrait_image(PORTRAITS / "obama.jpg"), (320, 320))
    with pytest.raises(UserError, match="several faces"):
        build_portrait(np.concatenate([a, b], 1))


def _portrait_names() -> list[str]:
    if not PORTRAITS.is_dir():
        return []
    return sorted(p.name for p in PORTRAITS.glob("*") if p.suffix.lower() in {".png", ".jpg"})


REPRESENTATIVE = {"lyl_rgba.png", "happy1.png", "hallo_7_huge.jpg", "anne.jpg"}  # RGBA, small RGBA, 3511², 256²


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in REPRESENTATIVE else pytest.mark.slow)
                                  for n in _portrait_names()])
def test_every_shared_portrait_loads_and_yields_a_model(name):
    from talkface.portrait import build_portrait
    try:
        model = build_portrait(PORTRAITS / name, size=256)
    except UserError as exc:
        assert str(exc).strip(), "refusals must say why"
        return
    assert model.crop.shape == (256, 256, 3)
    assert model.meta["fit_residual_px"] < 1.0
    assert 0 < model.box.side <= max(model.original_shape)


def test_unusual_image_files_load_as_upright_rgb(tmp_path):
    """16-bit, grayscale, EXIF-rotated and transparent files all become upright RGB uint8 and track."""
    from PIL import Image
    from talkface.portrait import build_portrait, load_portrait_image
    rgb = load_portrait_image(PORTRAITS / "anne.jpg")
    gray16 = (rgb.mean(2) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
    rotated = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, k=1)))  # stored sideways ...
    exif = rotated.getexif()
    exif[274] = 6  # ... with "rotate 90° clockwise to display"
    rotated.save(tmp_path / "exif.jpg", exif=exif, quality=95)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:20, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name in ("g16.png", "gray.png", "exif.jpg", "rgba.png"):
        img = load_portrait_image(tmp_path / name)
        assert img.dtype == np.uint8 and img.shape == rgb.shape, name
    assert np.abs(load_portrait_image(tmp_path / "exif.jpg").astype(int) - rgb).mean() < 6
    assert (load_portrait_image(tmp_path / "rgba.png")[:20] == 255).all()
    model = build_portrait(tmp_path / "g16.png", size=256)
    ref = build_portrait(PORTRAITS / "anne.jpg", size=256)
    assert np.abs(model.rest_xy[:468] - ref.rest_xy[:468]).mean() < 3.0


def test_native_resolution_crop_pastes_back_without_resampling():
    from talkface.portrait import PortraitRenderer, build_portrait, load_portrait_image, paste_back
    original = load_portrait_image(PORTRAITS / "anne.jpg")
    model = build_portrait(original, size=None)
    assert model.box.is_pixel_aligned and model.size == int(model.box.side)
    renderer = PortraitRenderer(model)
    pose, shape = _source(model)
    still = paste_back(model, renderer.render(pose, shape), original)
    assert still.shape == original.shape
    assert np.abs(still.astype(int) - original.astype(int)).mean() < 0.5
    talking = paste_back(model, renderer.render(pose, _open_mouth(shape, 0.8)), original)
    changed = np.abs(talking.astype(int) - still.astype(int)).max(axis=2) > 8
    ys, _ = np.nonzero(changed)
    from talkface.face.landmarks import BROW_0, BROW_1
    brow_line = model.rest_xy[list(BROW_0 + BROW_1), 1].mean() + model.box.y0
    assert changed.any() and ys.min() > brow_line  # a dropped jaw changes nothing above the brows


def test_face_index_picks_one_of_several_faces():
    from talkface.portrait import build_portrait, load_portrait_image
    a = cv2.resize(load_portrait_image(PORTRAITS / "people_0.png"), (320, 320))
    b = cv2.resize(load_portrait_image(PORTRAITS / "obama.jpg"), (320, 320))
    pair = np.concatenate([a, b], 1)
    right = build_portrait(pair, size=256, face_index=1)
    face_x = right.track.landmarks2d[0][:468, 0].mean()
    assert face_x > 320  # obama, on the right
    left = build_portrait(pair, size=256, face_index=0)
    assert left.track.landmarks2d[0][:468, 0].mean() < 320
    with pytest.raises(UserError, match="face-index"):
        build_portrait(pair, face_index=2)


def test_a_face_cut_by_the_frame_still_renders_without_holes():
    from talkface.face.geometry import axis_angle_to_matrix, euler_to_axis_angle, matrix_to_axis_angle
    from talkface.portrait import PortraitRenderer, build_portrait, load_portrait_image
    img = load_portrait_image(PORTRAITS / "people_0.png")
    cut = np.ascontiguousarray(img[120:330, 140:340])  # forehead and chin outside the picture
    model = build_portrait(cut, size=256)
    renderer = PortraitRenderer(model)
    pose, shape = _source(model)
    assert np.abs(renderer.render(pose, shape).astype(int) - model.crop.astype(int)).mean() < 1.0
    turned = pose.copy()
    turned[:3] = matrix_to_axis_angle(axis_angle_to_matrix(euler_to_axis_angle(np.array([-12.0, 6.0, 0.0])))
                                      @ axis_angle_to_matrix(pose[:3]))
    renderer.render(turned, _open_mouth(shape, 0.6))
    _, _, covered = renderer.warper.source_coordinates()
    assert covered.all()
