"""Forced alignment with pocketsphinx on real LJ Speech clips and on TTS speech."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from talkface.audio.align import align, pronunciation
from talkface.audio.corpus import lj_transcripts
from talkface.audio.phones import SIL
from talkface.audio.tts import synthesize
from talkface.errors import UserError


def _non_sil(phones):
    return [p.label for p in phones if p.label != SIL]


def test_lj_clip_aligns_to_its_transcript(data_dir):
    audio, sr = sf.read(data_dir / "speech" / "LJ001-0002.wav", dtype="float32")
    phones = align(audio, sr, "in being comparatively modern.")
    expected = " ".join(pronunciation(w) for w in "in being comparatively modern".split()).split()
    assert _non_sil(phones) == [p.rstrip("012") for p in expected]
    assert phones[0].start == 0.0 and abs(phones[-1].end - len(audio) / sr) < 0.02
    speech = [p for p in phones if p.label != SIL]
    assert all(0.02 <= p.duration <= 0.4 for p in speech)
    assert 1.0 < speech[-1].end - speech[0].start < len(audio) / sr + 1e-6


def test_every_lj_clip_with_a_transcript_aligns(data_dir):
    for name, text in lj_transcripts().items():
        audio, sr = sf.read(data_dir / "speech" / f"{name}.wav", dtype="float32")
        phones = align(audio, sr, text)
        assert len(_non_sil(phones)) > 10, name


def test_alignment_agrees_with_piper_durations():
    import difflib

    text = "She sells seashells by the seashore, and the shells she sells are surely seashells."
    audio, sr, tts_phones = synthesize(text)
    aligned = align(audio, sr, text)
    a = [p for p in tts_phones if p.label != SIL]
    b = [p for p in aligned if p.label != SIL]
    sm = difflib.SequenceMatcher(a=[p.label for p in a], b=[p.label for p in b], autojunk=False)
    errs = [abs(a[m.a + k].start - b[m.b + k].start) for m in sm.get_matching_blocks() for k in range(m.size)]
    assert len(errs) > 0.8 * len(a)
    assert np.median(errs) < 0.04


def test_out_of_vocabulary_words_use_espeak():
    audio, sr, _ = synthesize("The zorblatt is here.")
    labels = _non_sil(align(audio, sr, "The zorblatt is here."))
    assert labels[:3] == ["DH", "AH", "Z"]


def test_non_english_transcripts_are_refused(data_dir):
    noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    with pytest.raises(UserError, match="words"):
        align(noise, 16000, "海尔集团")
    audio, sr = sf.read(data_dir / "speech_multilingual" / "German1.wav", dtype="float32")
    with pytest.raises(UserError, match="English-only"):
        align(audio, sr, "Ich bin sehr froh, dass wir uns heute hier treffen und zusammen arbeiten können")


@pytest.mark.slow
def test_long_audio_is_split_at_silences_and_aligned(data_dir):
    from talkface.media import load_audio

    texts = lj_transcripts()
    names = ["LJ001-0001", "LJ001-0002", "LJ001-0003", "LJ001-0004", "LJ001-0005"] * 2
    clips = [load_audio(data_dir / "speech" / f"{n}.wav", 16000) for n in names]
    gap = np.zeros(8000, np.float32)
    audio = np.concatenate([x for c in clips for x in (c, gap)])
    assert len(audio) / 16000 > 60  # forces the piecewise path
    phones = align(audio, 16000, " ".join(texts[n] for n in names))
    expected = []
    for n, c in zip(names, clips):
        expected += _non_sil(align(c, 16000, texts[n]))
    import difflib

    # pocketsphinx may pick another listed pronunciation (e.g. "the" DH AH / DH IY) in a longer context
    got = _non_sil(phones)
    assert abs(len(got) - len(expected)) <= 5
    assert difflib.SequenceMatcher(a=got, b=expected, autojunk=False).ratio() > 0.97
