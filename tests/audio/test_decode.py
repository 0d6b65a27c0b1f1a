"""The decoded viseme read-out (`talkface.audio.decode`): the two-encoder average and mel-axis warps on real speech."""
from __future__ import annotations

import numpy as np
import pytest

from talkface.audio.corpus import lj_transcripts, n_label_frames
from talkface.audio.decode import (VTLP_WARPS, averaged_posteriors, decoded_viseme_probs, readout_members,
                                   warp_mel_axis)
from talkface.audio.encoder import encode_mel, load_encoder
from talkface.audio.features import compute_features
from talkface.audio.mel import log_mel
from talkface.audio.phones import frame_labels
from talkface.audio.visemes import VISEMES, phone_to_viseme_matrix, viseme_index, viseme_probs

SR = 16000


@pytest.fixture(scope="module")
def lj_case(data_dir):
    """A held-out LJ clip: audio, its features, and forced-alignment phone labels per 50 Hz frame."""
    from talkface.audio.align import align
    from talkface.media import load_audio

    audio = load_audio(data_dir / "speech" / "LJ001-0007.wav", SR)
    labels = frame_labels(align(audio, SR, lj_transcripts()["LJ001-0007"]), n_label_frames(len(audio)))
    return audio, compute_features(audio, SR), labels


def test_warp_moves_a_spectral_peak_by_the_factor_and_keeps_time():
    mel = np.full((7, 80), -5.0, np.float32)
    mel[:, 40] = 3.0
    np.testing.assert_array_equal(warp_mel_axis(mel, 1.0), mel)
    up, down = warp_mel_axis(mel, 1.05), warp_mel_axis(mel, 0.95)
    assert up.shape == down.shape == mel.shape
    assert np.all(up.argmax(1) == 42) and np.all(down.argmax(1) == 38)  # 40 × 1.05 = 42, 40 × 0.95 = 38
    np.testing.assert_array_equal(up[0], up[6])  # frames stay where they were
    # reading past the top edge repeats the top bin instead of wrapping around
    ramp = np.tile(np.arange(80, dtype=np.float32), (2, 1))
    assert warp_mel_axis(ramp, 0.95)[0, -1] == 79.0 and np.all(np.diff(warp_mel_axis(ramp, 0.95)[0]) >= 0)


def test_warped_speech_is_still_recognised(lj_case):
    """A ±5 % warp must stay inside what the encoder understands (a wrong axis or a time shift would not)."""
    audio, feats, labels = lj_case
    model = load_encoder()
    vis_ref = viseme_index(labels)
    n = min(len(labels), len(feats.phoneme_posteriors))
    plain = np.mean(viseme_probs(feats.phoneme_posteriors[:n]).argmax(1) == vis_ref[:n])
    for factor in VTLP_WARPS:
        post = encode_mel(warp_mel_axis(feats.mel, factor), model)[0]
        acc = np.mean(viseme_probs(post[:n]).argmax(1) == vis_ref[:n])
        assert acc > plain - 0.06, (factor, acc, plain)


def test_decoded_visemes_are_probabilities_that_track_the_alignment(lj_case):
    audio, feats, labels = lj_case
    dec = decoded_viseme_probs(feats)
    assert dec.shape == (len(feats.phoneme_posteriors), len(VISEMES))
    np.testing.assert_allclose(dec.sum(1), 1.0, atol=1e-4)
    assert dec.min() >= 0.0
    n = min(len(labels), len(dec))
    vis_ref = viseme_index(labels[:n])
    single = viseme_probs(feats.phoneme_posteriors)
    acc_dec = np.mean(dec[:n].argmax(1) == vis_ref)
    acc_single = np.mean(single[:n].argmax(1) == vis_ref)
    assert acc_dec > 0.6 and acc_dec >= acc_single - 0.02, (acc_dec, acc_single)
    # the second encoder really ran (the read-out is not the single pass) but mostly agrees with it
    assert np.abs(dec - single).max() > 0.05
    assert np.mean(dec.argmax(1) == single.argmax(1)) > 0.85
    # the single-pass posteriors given by the features are reused exactly: same result as recomputing them
    np.testing.assert_allclose(averaged_posteriors(feats.mel), averaged_posteriors(feats.mel,
                               posteriors=feats.phoneme_posteriors), atol=1e-5)


def test_silence_stays_silence_after_decoding():
    feats = compute_features(np.zeros(2 * SR, np.float32), SR)
    dec = decoded_viseme_probs(feats)
    assert np.all(dec.argmax(1) == VISEMES.index("sil")) and np.median(dec[:, 0]) > 0.9


def test_decoding_matches_a_fresh_log_mel(lj_case):
    """Features computed in 30 s blocks and a one-shot log-mel give the same decoded read-out."""
    audio, feats, _ = lj_case
    direct = averaged_posteriors(log_mel(audio)) @ phone_to_viseme_matrix()
    np.testing.assert_allclose(direct, decoded_viseme_probs(feats), atol=1e-4)


def test_read_out_is_the_mean_of_two_different_encoders(lj_case):
    """The second shipped encoder is another network (not a copy), recognises the speech on its own, and the
    read-out is exactly the mean of the two encoders' posteriors."""
    audio, feats, labels = lj_case
    (second,) = readout_members()
    first = load_encoder()
    assert second is not first
    w1, w2 = first.state_dict(), second.state_dict()
    assert any(not np.allclose(w1[k].numpy(), w2[k].numpy()) for k in w1)
    post2 = encode_mel(feats.mel, second)[0]
    n = min(len(labels), len(post2))
    acc2 = np.mean(viseme_probs(post2[:n]).argmax(1) == viseme_index(labels[:n]))
    assert acc2 > 0.6, acc2
    np.testing.assert_allclose(averaged_posteriors(feats.mel, posteriors=feats.phoneme_posteriors),
                               (feats.phoneme_posteriors + post2) / 2, atol=1e-5)
    with_warps = averaged_posteriors(feats.mel, posteriors=feats.phoneme_posteriors, warps=VTLP_WARPS)
    assert with_warps.shape == post2.shape and np.abs(with_warps - (feats.phoneme_posteriors + post2) / 2).max() > 0.01
