"""Text normalisation, Piper TTS timings, espeak-ng, and the `talkface tts` command."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from talkface.audio.espeak import synthesize_espeak, word_to_arpabet
from talkface.audio.phones import PHONES, SIL, ipa_to_arpabet
from talkface.audio.text import normalise_text, words_of
from talkface.audio.tts import synthesize
from talkface.errors import UserError


def test_numbers_and_symbols_are_spelled_out():
    text = normalise_text("It costs $3.50 & 25% more in 1984, on the 21st at 7:05; 1,234 items.")
    assert not any(ch.isdigit() for ch in text)
    for phrase in ("three dollars fifty cents", "and twenty five percent", "nineteen eighty four,",
                   "twenty first", "seven oh five", "one thousand two hundred thirty four items"):
        assert phrase in text
    assert words_of("Call 911!") == ["call", "nine", "hundred", "eleven"]


def test_ipa_mapping_handles_diphthongs_and_affricates():
    assert ipa_to_arpabet("tʃˈɜːtʃ") == ["CH", "ER", "CH"]
    assert ipa_to_arpabet("həlˈoʊ") == ["HH", "AH", "L", "OW"]
    assert ipa_to_arpabet("bˈaɪ") == ["B", "AY"]


@pytest.fixture(scope="module")
def spoken():
    return synthesize("Hello world, the 3 quick foxes jumped!")


def test_tts_timings_cover_the_audio_exactly(spoken):
    audio, sr, phones = spoken
    assert sr == 22050 and audio.dtype == np.float32 and len(audio) > sr
    assert phones[0].start == 0.0
    assert abs(phones[-1].end - len(audio) / sr) < 1e-9
    assert all(abs(a.end - b.start) < 1e-9 for a, b in zip(phones, phones[1:]))
    assert all(p.label in PHONES for p in phones)


def test_tts_phones_follow_the_text(spoken):
    _, _, phones = spoken
    seq = [p.label for p in phones if p.label != SIL]
    assert seq[:8] == ["HH", "AH", "L", "OW", "W", "ER", "L", "D"]
    assert "TH" in seq and "R" in seq and "IY" in seq  # "three" was spelled out
    assert all(0.005 < p.duration < 0.6 for p in phones if p.label != SIL)


@pytest.mark.parametrize("text", ["", "   ", "?!... ---"])
def test_empty_text_is_a_user_error(text):
    with pytest.raises(UserError):
        synthesize(text)


def test_espeak_events_give_contiguous_timed_phones():
    audio, sr, phones = synthesize_espeak("hello world", "en-us+f3", rate=160)
    assert len(audio) > 0.5 * sr
    labels = [p.label for p in phones if p.label != SIL]
    assert labels == ["HH", "AH", "L", "OW", "W", "ER", "L", "D"]
    assert abs(phones[-1].end - len(audio) / sr) < 1e-6
    assert word_to_arpabet("zorblatt")[:2] == ["Z", "AO"]


def test_cli_tts_writes_wav_and_timings(tmp_path):
    from typer.testing import CliRunner

    from talkface.cli import app

    out, tsv = tmp_path / "speech.wav", tmp_path / "speech.tsv"
    result = CliRunner().invoke(app, ["tts", "Testing 1 2 3.", "-o", str(out), "--phonemes", str(tsv)])
    assert result.exit_code == 0, result.output
    audio, sr = sf.read(out)
    rows = [line.split("\t") for line in tsv.read_text().splitlines()]
    assert abs(float(rows[-1][2]) - len(audio) / sr) < 1e-3
    bad = CliRunner().invoke(app, ["tts", "", "-o", str(tmp_path / "x.wav")])
    assert isinstance(bad.exception, UserError)
