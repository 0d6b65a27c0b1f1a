"""The avatar's upper-face condition: its own eyes + brows basis (`UpperBasis`, a PCA of the training frames'
canonical landmark offsets from their median face), whose coefficients move the Gaussians geometrically through the
expression rig and feed the face field's eye attention."""
from __future__ import annotations

import numpy as np
import pytest
import torch

SIZES = {"eyes": 4, "brows": 3}


def _synthetic_motion(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Canonical landmark frames [n, 478, 3] of a person whose upper face moves along a few directions the
    shipped basis does not span (random per-region patterns, the dominant brow one a pure raise: all brow-region
    vertices up), plus 0.005 cm of jitter; and their true offsets from the resting face [n, 478, 3]. The person
    (the directions) is the same for every seed; the seed draws the frames."""
    from talkface.avatar.condition import upper_indices
    from talkface.face import shipped_morphable

    person, rng = np.random.default_rng(0), np.random.default_rng(seed)
    rest = shipped_morphable().mean
    offsets = np.zeros((n, 478, 3))
    for r, idx in upper_indices().items():
        k = SIZES[r] - 1  # one direction fewer than the basis has: the basis must capture all of them
        dirs = person.normal(size=(k, len(idx), 3))
        if r == "brows":
            dirs[0] = 0.0
            dirs[0, :, 1] = -1.0  # y down: a raise
        dirs /= np.linalg.norm(dirs.reshape(k, -1), axis=1)[:, None, None]
        amp = rng.normal(size=(n, k)) * np.linspace(3.0, 1.0, k)  # cm along each unit direction
        offsets[:, idx] = np.einsum("tk,kvc->tvc", amp, dirs)
    frames = rest + offsets + rng.normal(0.0, 0.005, size=offsets.shape)
    return frames.astype(np.float32), offsets.astype(np.float32)


def _basis():
    """The person-specific basis of the synthetic motion."""
    from talkface.avatar.condition import fit_upper_basis

    frames, _ = _synthetic_motion()
    return fit_upper_basis(frames, components=SIZES)


def _small_model(basis=None):
    """An untrained avatar model with few Gaussians and the synthetic person's basis (the rig needs no training)."""
    from talkface.avatar import AvatarModel, preset

    cfg = preset("fast").model
    cfg.face_points, cfg.mouth_points = 3000, 400
    cfg.hash_levels, cfg.hash_log2_size = 4, 10
    cfg.upper_eyes, cfg.upper_brows = SIZES["eyes"], SIZES["brows"]
    return AvatarModel(cfg, audio_in_dim=8, audio_window=16, upper_basis=basis or _basis())


def _cond(upper: np.ndarray) -> dict[str, torch.Tensor]:
    """A condition dict with the mouth at its reference and the given normalised upper-face coefficients."""
    return {"expression": torch.zeros(5, 12), "upper": torch.as_tensor(upper, dtype=torch.float32)}


def test_the_persons_basis_reconstructs_its_upper_face_motion_better_than_the_shipped_basis():
    """Fitted on the training frames, the basis explains the person's own motion down to the tracking jitter on
    frames it never saw, where the shipped 6 + 4 components (pooled over people) miss most of it."""
    from talkface.avatar.condition import fit_upper_basis, upper_indices
    from talkface.face import shipped_morphable

    frames, truth = _synthetic_motion(seed=0)
    basis = fit_upper_basis(frames, components=SIZES)
    assert basis.sizes == SIZES and basis.size == 7 and basis.n_eyes == 4
    held, held_truth = _synthetic_motion(n=60, seed=1)  # other frames of the same person
    index = np.concatenate(list(upper_indices().values()))
    own = basis.decode(basis.encode(held)) + basis.reference - shipped_morphable().mean
    err_own = np.linalg.norm((own - held_truth)[:, index], axis=-1).mean()
    shipped = shipped_morphable()
    coeffs = shipped.encode(held)
    ship = shipped.decode({r: coeffs[r] for r in ("eyes", "brows")}) - shipped.mean
    err_ship = np.linalg.norm((ship - held_truth)[:, index], axis=-1).mean()
    motion = np.linalg.norm(held_truth[:, index], axis=-1).mean()
    assert err_own < 0.05 * motion and err_own < 0.1 * err_ship
    # zero coefficients are the median training face; the stdev normalises each component to ~1 over training
    assert np.abs(basis.encode(basis.reference[None])).max() < 1e-5
    norm = basis.encode(frames) / basis.stdev_vector()
    assert np.sqrt((norm ** 2).mean(0)) == pytest.approx(np.ones(7), abs=0.05)


def test_a_driving_videos_motion_is_relative_to_its_first_frame_whatever_its_identity():
    from talkface.avatar.condition import upper_indices

    basis = _basis()
    frames, _ = _synthetic_motion(n=10, seed=3)
    other = frames + np.random.default_rng(1).normal(0.0, 0.3, size=(1, 478, 3)).astype(np.float32)  # identity
    rel, rel_other = basis.relative(frames), basis.relative(other)
    assert np.abs(rel[0]).max() < 1e-6 and np.allclose(rel, rel_other, atol=1e-4)
    assert np.allclose(rel, basis.encode(frames) - basis.encode(frames[:1]), atol=1e-5)
    assert len(upper_indices()["eyes"]) > 0


def test_a_brow_coefficient_moves_the_brow_gaussians_by_its_landmark_offset_and_leaves_the_mouth():
    from talkface.face import shipped_morphable
    from talkface.face.landmarks import BROW_0, BROW_1

    basis = _basis()
    model = _small_model(basis)
    upper = np.zeros(basis.size, np.float32)
    upper[basis.n_eyes] = 2.0
    face, mouth = model.rig_deformations(_cond(upper))
    # the landmark offsets the rig must reproduce: the basis' decode of that brow coefficient
    lm = basis.decode((upper * basis.stdev_vector())[None])[0]
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
    mouth_lm = shipped_morphable().regions["mouth"]
    lips = np.linalg.norm(means[:, None] - canon[None, mouth_lm], axis=-1).min(1) < 0.1
    assert np.abs(moved[lips]).max() < 1e-6
    assert np.abs(mouth.d_means.detach().numpy()).max() < 1e-6


def test_raising_the_brows_moves_the_rendered_brows_by_the_projected_offset():
    from talkface.avatar.model import landmark_binding, make_camera
    from talkface.face.landmarks import BROW_0, BROW_1

    basis = _basis()
    model = _small_model(basis)
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

    rest = np.zeros(basis.size, np.float32)
    raised = rest.copy()
    raised[basis.n_eyes] = 2.0  # the dominant brow component of the synthetic person: a raise
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
    upper = torch.zeros(sum(SIZES.values()), requires_grad=True)
    cond = {"expression": torch.zeros(5, 12), "upper": upper}
    face, mouth = model.deformations(cond, torch.zeros(6))
    face.learned_means().pow(2).sum().backward()
    assert (upper.grad.abs() > 0).all()


def test_the_basis_is_stored_in_the_weights_and_a_mismatched_size_is_refused():
    """A model built without a basis (loading) receives the fitted one from the state dict; sizes must match."""
    from talkface.avatar import AvatarModel, preset

    basis = _basis()
    model = _small_model(basis)
    cfg = preset("fast").model
    cfg.face_points, cfg.mouth_points = 3000, 400
    cfg.hash_levels, cfg.hash_log2_size = 4, 10
    cfg.upper_eyes, cfg.upper_brows = SIZES["eyes"], SIZES["brows"]
    empty = AvatarModel(cfg, audio_in_dim=8, audio_window=16)
    empty.load_state_dict(model.state_dict())
    loaded = empty.rig.upper_basis()
    assert np.array_equal(loaded.reference, basis.reference)
    for r in SIZES:
        assert np.array_equal(loaded.bases[r], basis.bases[r]) and np.array_equal(loaded.stdev[r], basis.stdev[r])
    cfg.upper_brows += 1
    with pytest.raises(ValueError, match="upper-face basis"):
        AvatarModel(cfg, audio_in_dim=8, audio_window=16, upper_basis=basis)
