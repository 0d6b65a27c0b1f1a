"""Features, the shipped phoneme encoder, visemes and robustness to real-world inputs."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from talkface.audio.corpus import lj_transcripts, n_label_frames
from talkface.audio.features import SpeechFeatures, compute_features, features_from_file
from talkface.audio.mel import log_mel
from talkface.audio.phones import PHONE_INDEX, PHONES, SIL, VOWELS, Phone, frame_labels
from talkface.audio.visemes import VISEMES, VISEME_OF_PHONE, openness, viseme_probs
from talkface.errors import UserError

SR = 16000


@pytest.fixture(scope="module")
def lj(data_dir):
    """A held-out LJ clip (never trained on) at 16 kHz with its aligned phones."""
    from talkface.audio.align import align
    from talkface.media import load_audio

    audio = load_audio(data_dir / "speech" / "LJ001-0007.wav", SR)
    return audio, align(audio, SR, lj_transcripts()["LJ001-0007"])


def test_log_mel_rate_and_chunking_are_exact(data_dir):
    from talkface.audio.mel import iter_log_mel

    audio, _ = sf.read(data_dir / "speech" / "RD_Radio31_000.wav", dtype="float32")
    mono = audio.mean(1) if audio.ndim == 2 else audio
    mel = log_mel(mono)
    assert mel.shape == (1 + len(mono) // 160, 80)
    streamed = np.concatenate(list(iter_log_mel([mono[i:i + 12345] for i in range(0, len(mono), 12345)],
                                                block_frames=700)))
    np.testing.assert_array_equal(mel, streamed)


def test_encoder_puts_silence_on_silence_and_vowels_on_vowels(lj):
    audio, phones = lj
    padded = np.concatenate([np.zeros(SR, np.float32), audio, np.zeros(SR, np.float32)])
    feats = compute_features(padded, SR)
    post = feats.phoneme_posteriors
    assert post.shape == (n_label_frames(len(padded)), len(PHONES))
    np.testing.assert_allclose(post.sum(1), 1.0, atol=1e-4)
    assert np.mean(post[5:45].argmax(1) == PHONE_INDEX[SIL]) > 0.95  # the added second of silence
    labels = frame_labels([Phone(p.label, p.start + 1.0, p.end + 1.0) for p in phones], len(post))
    vowel_ids = [PHONE_INDEX[v] for v in VOWELS]
    vowel_frames = np.isin(labels, vowel_ids)
    assert np.mean(np.isin(post[vowel_frames].argmax(1), vowel_ids)) > 0.6
    assert feats.openness[vowel_frames].mean() > feats.openness[labels == PHONE_INDEX[SIL]].mean() + 0.3


def test_all_zero_audio_is_an_all_silence_track():
    feats = compute_features(np.zeros(2 * SR, np.float32), SR)
    assert np.all(feats.phoneme_posteriors.argmax(1) == PHONE_INDEX[SIL])
    assert feats.at_fps(25).openness.max() < 0.2


def test_at_fps_windows_follow_video_frames(lj):
    audio, _ = lj
    feats = compute_features(audio, SR)
    win = feats.at_fps(25, window=16)
    n = int(np.ceil(len(audio) / SR * 25))
    assert len(win) == n
    assert win.posteriors.shape == (n, 16, len(PHONES)) and win.mel.shape == (n, 32, 80)
    assert win.embedding.shape[:2] == (n, 16) and win.visemes.shape == (n, len(VISEMES))
    t = n // 2  # frame t is centred at (t + 0.5)/25 s = posterior boundary 2t+1: window rows 8, 9 are 2t, 2t+1
    np.testing.assert_array_equal(win.posteriors[t, 8], feats.phoneme_posteriors[2 * t + 1])
    np.testing.assert_array_equal(win.posteriors[t, 7], feats.phoneme_posteriors[2 * t])
    assert win.phone.shape == (n,)


def test_save_load_round_trip_and_version_check(tmp_path, lj):
    audio, phones = lj
    feats = compute_features(audio, SR, phonemes=phones)
    path = tmp_path / "speech.npz"
    feats.save(path)
    back = SpeechFeatures.load(path)
    assert back.phonemes == phones and back.duration == pytest.approx(feats.duration)
    np.testing.assert_allclose(back.phoneme_posteriors, feats.phoneme_posteriors)
    np.testing.assert_allclose(back.mel, feats.mel, atol=0.02)
    from talkface.store import save_npz

    save_npz(tmp_path / "old.npz", "speech_features", 0, {"mel": feats.mel}, {})
    with pytest.raises(UserError, match="version"):
        SpeechFeatures.load(tmp_path / "old.npz")


def test_24bit_48k_stereo_matches_its_16k_mono_conversion(data_dir, tmp_path):
    import soxr

    src = data_dir / "speech_multilingual" / "german_24bit_48k.wav"
    info = sf.info(src)
    assert info.samplerate == 48000 and info.subtype == "PCM_24"
    raw, sr = sf.read(src, dtype="float32", always_2d=True)
    mono16 = soxr.resample(raw.mean(1), sr, SR).astype(np.float32)
    sf.write(tmp_path / "mono16.wav", mono16, SR, subtype="FLOAT")
    a = features_from_file(src)
    b = features_from_file(tmp_path / "mono16.wav")
    n = min(len(a.mel), len(b.mel))
    assert abs(len(a.mel) - len(b.mel)) <= 1
    diff = a.mel[:n] - b.mel[:n]
    # the decoder's stereo downmix may differ from a plain mean by a constant gain: a constant log offset
    assert abs(np.median(diff)) < 0.75
    assert np.median(np.abs(diff - np.median(diff))) < 0.05
    m = min(len(a.phoneme_posteriors), len(b.phoneme_posteriors))
    assert np.mean(a.phoneme_posteriors[:m].argmax(1) == b.phoneme_posteriors[:m].argmax(1)) > 0.95


def test_non_english_speech_still_gives_features(data_dir):
    feats = features_from_file(data_dir / "speech_multilingual" / "chinese1_haierlizhi.wav")
    speechy = feats.phoneme_posteriors.argmax(1) != PHONE_INDEX[SIL]
    assert 0.3 < speechy.mean() <= 1.0
    assert feats.phonemes is None


def test_telephone_8k_audio_works(lj):
    import soxr

    audio, phones = lj
    tel = soxr.resample(audio, SR, 8000).astype(np.float32)
    feats = compute_features(tel, 8000)
    clean = compute_features(audio, SR)
    n = min(len(feats.phoneme_posteriors), len(clean.phoneme_posteriors))
    v_tel = viseme_probs(feats.phoneme_posteriors[:n]).argmax(1)
    v_clean = viseme_probs(clean.phoneme_posteriors[:n]).argmax(1)
    assert np.mean(v_tel == v_clean) > 0.6


@pytest.mark.parametrize("bad", ["missing.wav", "notaudio.wav", "empty.wav"])
def test_unreadable_or_empty_inputs_are_user_errors(tmp_path, bad):
    (tmp_path / "notaudio.wav").write_text("this is not audio")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(UserError):
        features_from_file(tmp_path / bad)


def test_empty_and_nonfinite_arrays_are_user_errors():
    with pytest.raises(UserError):
        compute_features(np.zeros(0, np.float32), SR)
    with pytest.raises(UserError):
        compute_features(np.full(1000, np.nan, np.float32), SR)


def test_viseme_table_covers_every_phone():
    assert set(VISEME_OF_PHONE) == set(PHONES) and 12 <= len(VISEMES) <= 15
    post = np.eye(len(PHONES), dtype=np.float32)
    np.testing.assert_allclose(viseme_probs(post).sum(1), 1.0)
    op = openness(post)
    assert op[PHONE_INDEX["AA"]] > op[PHONE_INDEX["IY"]] > op[PHONE_INDEX["M"]] == 0.0


def test_transcript_gives_aligned_phonemes(lj):
    audio, phones = lj
    feats = compute_features(audio, SR, transcript=lj_transcripts()["LJ001-0007"])
    assert feats.phonemes_source == "alignment"
    assert [p.label for p in feats.phonemes] == [p.label for p in phones]


@pytest.mark.slow
def test_ten_minute_file_streams_in_bounded_memory(data_dir, tmp_path):
    import tracemalloc

    from talkface.media import load_audio

    one = load_audio(data_dir / "speech" / "english_60s.wav", SR)
    path = tmp_path / "long.flac"
    with sf.SoundFile(path, "w", SR, 1, format="FLAC") as fh:
        for _ in range(10):
            fh.write(one)
    features_from_file(data_dir / "speech" / "LJ001-0002.wav")  # warm up: imports and model load are not counted
    tracemalloc.start()
    feats = features_from_file(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert feats.duration == pytest.approx(10 * len(one) / SR, abs=0.05)
    assert len(feats.phoneme_posteriors) == n_label_frames(10 * len(one))
    outputs = feats.mel.nbytes + feats.phoneme_posteriors.nbytes + feats.embedding.nbytes  # about 39 MB
    # never the whole decoded audio (38 MB): outputs plus the mel blocks being joined plus one 30 s chunk
    assert peak < outputs + feats.mel.nbytes + 15e6
