"""The avatar's mouth condition on real speech: coefficient offsets, augmentation, streamed generation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SPEECH = DATA / "speech" / "english_60s.wav"

pytestmark = pytest.mark.skipif(not SPEECH.is_file(), reason="../shared/data is missing")


def test_tracked_offsets_are_zero_at_the_reference_and_linear_in_the_shape():
    from talkface.avatar.condition import mouth_stdev, tracked_mouth
    from talkface.face import shipped_morphable

    model = shipped_morphable()
    ref = model.mean
    open_mouth = model.decode({"mouth": (np.eye(12, dtype=np.float32)[:1] * 2.0 * mouth_stdev())})[0]
    coeffs = tracked_mouth(np.stack([ref, open_mouth]), ref)
    assert np.abs(coeffs[0]).max() < 1e-5
    # the first component moved by 2 stdev is read back as exactly that, the others stay ~0
    assert coeffs[1, 0] / mouth_stdev()[0] == pytest.approx(2.0, abs=1e-3)
    assert np.abs(coeffs[1, 1:]).max() < 1e-4


def test_augmentation_shrinks_smooths_and_perturbs_within_its_ranges():
    from talkface.avatar.condition import augment, smooth

    rng = np.random.default_rng(0)
    x = np.sin(np.arange(200) * 0.9)[:, None].repeat(12, 1).astype(np.float32)  # fast motion, 1 stdev
    s = smooth(x, 1.5)
    # a Gaussian of sigma 1.5 frames passes exp(-(1.5 * 0.9)^2 / 2) = 0.40 of a 0.9 rad/frame sine (7-frame period)
    assert np.abs(s[10:-10]).max() == pytest.approx(0.40, abs=0.03)
    scales = []
    for _ in range(200):
        out = augment(x[1:6], s[1:6], rng, 0.0, (0.5, 1.0), 0.0)
        scales.append(float(np.median(out / x[1:6])))
    assert 0.5 <= min(scales) and max(scales) <= 1.0 and np.std(scales) > 0.1
    noisy = augment(x[1:6], s[1:6], rng, 0.1, (1.0, 1.0), 0.0)
    assert 0.07 < np.std(noisy - x[1:6]) < 0.13
    always_smooth = augment(x[20:25], s[20:25], rng, 0.0, (1.0, 1.0), 1.0)
    assert np.allclose(always_smooth, s[20:25])


def test_streamed_generation_matches_whole_file_generation():
    """Chunked features + generator (bounded memory) give the same mouth track as one whole-file pass,
    up to the per-chunk loudness normalisation: a misaligned stitch would show as a drop in correlation."""
    from talkface.audio import compute_features
    from talkface.avatar.condition import generated_mouth, generated_mouth_streamed
    from talkface.face import mouth_gap, shipped_morphable
    from talkface.media import load_audio

    wav = load_audio(SPEECH)[: 30 * 16000]
    n = 750
    ref = shipped_morphable().mean
    whole = generated_mouth(compute_features(wav, 16000), ref, n)
    streamed = generated_mouth_streamed(wav, 16000, ref, n, chunk_seconds=8.0, margin_seconds=2.0)
    assert streamed.shape == (n, 12)
    model = shipped_morphable()
    gap_w = mouth_gap(model.decode({"mouth": whole}))
    gap_s = mouth_gap(model.decode({"mouth": streamed}))
    assert np.corrcoef(gap_w, gap_s)[0, 1] > 0.95
    assert np.abs(gap_w - gap_s).mean() < 0.1 * gap_w.std()
