"""The avatar's upper-face condition: eyes + brows coefficients of the shipped morphable model, as offsets from the
avatar's reference, moving the Gaussians geometrically through the expression rig."""
from __future__ import annotations

import numpy as np
import pytest
import torch


def _small_model():
    """An untrained avatar model with few Gaussians (the rig needs no training)."""
    from talkface.avatar import AvatarModel, preset

    cfg = preset("fast").model
    cfg.face_points, cfg.mouth_points = 3000, 400
    cfg.hash_levels, cfg.hash_log2_size = 4, 10
    return AvatarModel(cfg, audio_in_dim=8, audio_window=16)


def _cond(upper: np.ndarray) -> dict[str, torch.Tensor]:
    """A condition dict with the mouth at its reference and the given normalised upper-face offsets."""
    return {"expression": torch.zeros(5, 12), "upper": torch.as_tensor(upper, dtype=torch.float32)}


def test_constants_match_the_shipped_morphable_model():
    from talkface.avatar.condition import UPPER_COEFFS, UPPER_EYES, UPPER_REGIONS, upper_stdev
    from talkface.face import shipped_morphable

    model = shipped_morphable()
    assert set(UPPER_REGIONS) | {"mouth"} == set(model.regions)
    assert len(model.stdev["eyes"]) == UPPER_EYES and len(upper_stdev()) == UPPER_COEFFS
    assert np.array_equal(upper_stdev()[UPPER_EYES:], model.stdev["brows"])


def test_tracked_upper_offsets_are_zero_at_the_reference_and_read_back_a_brow_raise():
    from talkface.avatar.condition import UPPER_EYES, relative_upper, tracked_upper, upper_coefficients, upper_stdev
    from talkface.face import shipped_morphable

    model = shipped_morphable()
    brows = np.zeros((1, 4), np.float32)
    brows[0, 0] = 2.0 * model.stdev["brows"][0]
    raised = model.decode({"brows": brows})[0]
    ref = upper_coefficients(model.mean[None])[0]
    offsets = tracked_upper(np.stack([model.mean, raised]), ref) / upper_stdev()
    assert np.abs(offsets[0]).max() < 1e-4
    assert offsets[1, UPPER_EYES] == pytest.approx(2.0, abs=1e-3)  # the first brow component, 2 stdev
    assert np.abs(np.delete(offsets[1], UPPER_EYES)).max() < 1e-3  # eyes and the other brow components stay
    # a driving video's motion is relative to its own first frame, whatever that person's resting shape is
    fake = type("T", (), {"landmarks3d": np.stack([raised, raised, model.mean])})
    rel = relative_upper(fake) / upper_stdev()
    assert np.abs(rel[:2]).max() < 1e-4 and rel[2, UPPER_EYES] == pytest.approx(-2.0, abs=1e-3)


def test_a_brow_offset_moves_the_brow_gaussians_by_the_landmark_offset_and_leaves_the_mouth():
    from talkface.avatar.condition import UPPER_EYES, upper_stdev
    from talkface.face import shipped_morphable
    from talkface.face.landmarks import BROW_0, BROW_1

    model = _small_model()
    morph = shipped_morphable()
    upper = np.zeros(10, np.float32)
    upper[UPPER_EYES] = 2.0
    face, mouth = model.rig_deformations(_cond(upper))
    # the landmark offsets the rig must reproduce: the shipped model's decode of that brow coefficient
    lm = morph.decode({"brows": (upper[UPPER_EYES:] * upper_stdev()[UPPER_EYES:])[None]})[0] - morph.mean
    brow_lm = list(BROW_0 + BROW_1)
    assert np.linalg.norm(lm[brow_lm], axis=1).mean() > 0.2  # 2 stdev is a visible raise (cm)
    means = model.face.means.detach().numpy()
    canon = model.rig.landmarks.numpy()
    d = np.linalg.norm(means[:, None] - canon[None, brow_lm], axis=-1)
    on_brow = d.min(1) < 0.15
    assert on_brow.sum() >= 10
    moved = face.d_means.detach().numpy()
    nearest = np.array(brow_lm)[d.argmin(1)]
    # Gaussians sitting on a brow landmark move with it (inverse-distance binding: ≥ 70% of its offset)
    err = np.linalg.norm(moved[on_brow] - lm[nearest[on_brow]], axis=1)
    assert np.median(err) < 0.3 * np.linalg.norm(lm[nearest[on_brow]], axis=1).mean()
    # nothing bound only to mouth landmarks moves; the mouth cavity does not move at all
    mouth_lm = morph.regions["mouth"]
    lips = np.linalg.norm(means[:, None] - canon[None, mouth_lm], axis=-1).min(1) < 0.1
    assert np.abs(moved[lips]).max() < 1e-6
    assert np.abs(mouth.d_means.detach().numpy()).max() < 1e-6


def test_raising_the_brows_moves_the_rendered_brows_up_by_the_projected_offset():
    from talkface.avatar.condition import UPPER_EYES
    from talkface.avatar.model import landmark_binding, make_camera
    from talkface.face.landmarks import BROW_0, BROW_1

    model = _small_model()
    canon = model.rig.landmarks
    brow_lm = torch.tensor(BROW_0 + BROW_1)
    idx, _ = landmark_binding(model.face.means, canon, k=1)
    on_brow = torch.isin(idx[:, 0], brow_lm)
    with torch.no_grad():  # white brow Gaussians on a black face, so the rendered brows are a measurable blob
        model.face.color_logits.fill_(-8.0)
        model.face.color_logits[on_brow] = 8.0
    res, depth, f = 256, 60.0, 900.0
    w2c = np.eye(4, dtype=np.float32)
    w2c[2, 3] = depth
    centre = canon.numpy().mean(0)
    cam = make_camera(w2c, np.array([f, f, res / 2 - f * centre[0] / depth, res / 2 - f * centre[1] / depth]), res)
    eyes = torch.zeros(6)

    def brow_centroid_y(upper):
        with torch.no_grad():
            out = model(_cond(upper), eyes, cam, motion=False)
        white = out["rgb"][..., 0].numpy()
        ys = np.arange(res)[:, None].repeat(res, 1)
        return float((white * ys).sum() / white.sum())

    rest = np.zeros(10, np.float32)
    raised = rest.copy()
    raised[UPPER_EYES] = 2.0
    face, _ = model.rig_deformations(_cond(raised))
    expected = float(face.d_means[on_brow, 1].mean()) * f / depth  # pixels (y down)
    shift = brow_centroid_y(raised) - brow_centroid_y(rest)
    assert abs(expected) > 1.0
    assert shift == pytest.approx(expected, rel=0.25)


def test_upper_coefficients_reach_the_face_fields_eye_attention():
    """The learned residual reads every upper-face coefficient (gradient of the face offsets w.r.t. each)."""
    model = _small_model()
    with torch.no_grad():  # a trained-like, varied spatial encoding (a fresh hash table is ~0 everywhere)
        model.face_motion.encoder.table.normal_(0.0, 0.5)
    upper = torch.zeros(10, requires_grad=True)
    cond = {"expression": torch.zeros(5, 12), "upper": upper}
    face, mouth = model.deformations(cond, torch.zeros(6))
    face.learned_means().pow(2).sum().backward()
    assert (upper.grad.abs() > 0).all()
