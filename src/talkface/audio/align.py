"""Forced phone alignment of English speech to its transcript with pocketsphinx (en-us model from the wheel).

Recipe (measured in the offline-dependency notes): a fresh `Decoder` per utterance, `dither=True` (digital
silence otherwise breaks the phone pass), `bestpath=False` (otherwise the second pass fails); pass 1 aligns
words, pass 2 (`set_alignment`) aligns phones, in 10 ms frames. Words missing from cmudict get a
pronunciation from espeak-ng. Audio longer than `MAX_SEGMENT_S` is cut at silences found by silero-vad;
each piece's words are found by recognising the piece and matching the recognised words to the transcript.
Alignment is English-only: other languages fail with a `UserError` that says so.
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from ..errors import UserError
from .phones import SIL, Phone, merge_adjacent, normalise_arpabet
from .text import words_of

SR = 16000
MAX_SEGMENT_S = 60.0


@lru_cache(maxsize=1)
def _model_paths() -> dict[str, str]:
    """Paths of the en-us acoustic model and cmudict shipped in the pocketsphinx wheel."""
    from pocketsphinx import get_model_path

    root = get_model_path()
    return {"hmm": os.path.join(root, "en-us", "en-us"), "dict": os.path.join(root, "en-us", "cmudict-en-us.dict")}


@lru_cache(maxsize=1)
def _cmudict() -> dict[str, str]:
    """cmudict (first pronunciation of each word), read once, for OOV checks without a decoder."""
    out: dict[str, str] = {}
    with open(_model_paths()["dict"], encoding="utf-8") as fh:
        for line in fh:
            word, _, phones = line.strip().partition(" ")
            if "(" not in word:
                out.setdefault(word, phones)
    return out


def pronunciation(word: str) -> str:
    """Space-separated ARPAbet pronunciation of `word`: cmudict if present, else espeak-ng letter-to-sound."""
    hit = _cmudict().get(word)
    if hit:
        return hit
    from .espeak import word_to_arpabet

    phones = word_to_arpabet(word)
    return " ".join(phones) if phones else ""


def align(audio: np.ndarray, sr: int, transcript: str) -> list[Phone]:
    """Phones of `transcript` (English) timed against `audio`; raises `UserError` when alignment fails."""
    words = words_of(transcript)
    if not words:
        raise UserError("the transcript has no words to align.")
    check_english(words)
    audio16 = _to_16k(audio, sr)
    if len(audio16) < SR // 10:
        raise UserError("the audio is too short to align (under 0.1 s).")
    if len(audio16) <= MAX_SEGMENT_S * SR:
        phones = _align_segment(audio16, words)
    else:
        phones = _align_long(audio16, words)
    return _fill_silence(phones, len(audio16) / SR)


def check_english(words: list[str], max_unknown: float = 0.3) -> None:
    """Refuse transcripts that do not look English (too many words missing from cmudict): alignment is
    English-only, and letter-to-sound guesses for a whole foreign sentence would give confident nonsense."""
    unknown = sum(w not in _cmudict() for w in words)
    if len(words) >= 4 and unknown > max_unknown * len(words):
        raise UserError(f"the transcript does not look like English ({unknown} of {len(words)} words are not in "
                        "the English pronunciation dictionary); forced alignment is English-only.")


def _to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """Mono float32 audio resampled to 16 kHz."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1 if audio.shape[1] <= 8 else 0)
    if sr != SR:
        import soxr

        audio = soxr.resample(audio, sr, SR).astype(np.float32)
    return audio


def _pcm16(audio16: np.ndarray) -> bytes:
    """Peak-normalised int16 bytes (pocketsphinx works on 16-bit PCM)."""
    peak = float(np.max(np.abs(audio16))) if len(audio16) else 0.0
    scale = 0.9 / peak if peak > 1e-6 else 1.0
    return (np.clip(audio16 * scale, -1, 1) * 32767).astype(np.int16).tobytes()


def _new_decoder(words: list[str]):
    """A fresh pocketsphinx Decoder with the alignment settings and any OOV words added."""
    from pocketsphinx import Decoder

    paths = _model_paths()
    dec = Decoder(hmm=paths["hmm"], dict=paths["dict"], lm=None, samprate=SR, bestpath=False, dither=True,
                  loglevel="FATAL")
    missing = [(w, pronunciation(w)) for w in sorted(set(words)) if dec.lookup_word(w) is None]
    missing = [(w, pron) for w, pron in missing if pron]
    for i, (word, pron) in enumerate(missing):
        dec.add_word(word, pron, update=i == len(missing) - 1)  # rebuild the search once, after the last
    return dec


def _align_segment(audio16: np.ndarray, words: list[str], offset: float = 0.0) -> list[Phone]:
    """Two-pass (words, then phones) alignment of one utterance; times are shifted by `offset` seconds."""
    dec = _new_decoder(words)
    speakable = [w for w in words if dec.lookup_word(w) is not None]
    if not speakable:
        raise UserError("none of the transcript's words could be pronounced (alignment is English-only).")
    pcm = _pcm16(audio16)
    try:
        dec.set_align_text(" ".join(speakable))
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        dec.set_alignment()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        alignment = dec.get_alignment()
    except RuntimeError:
        alignment = None
    if alignment is None:
        raise UserError("forced alignment failed: the transcript does not match the audio "
                        "(alignment is English-only).")
    phones = []
    for word in alignment:
        for ph in word:
            label = normalise_arpabet(ph.name)
            phones.append(Phone(label, offset + ph.start / 100.0, offset + (ph.start + ph.duration) / 100.0))
    if not any(p.label != SIL for p in phones):
        raise UserError("forced alignment found no speech for the transcript (alignment is English-only).")
    return phones


def _fill_silence(phones: list[Phone], total: float) -> list[Phone]:
    """Make phones contiguous over [0, total]: gaps and the ends become SIL."""
    out: list[Phone] = []
    t = 0.0
    for p in sorted(phones, key=lambda q: q.start):
        start, end = max(p.start, t), min(p.end, total)
        if start > t + 1e-6:
            out.append(Phone(SIL, t, start))
        if end > start:
            out.append(Phone(p.label, start, end))
            t = end
    if total > t + 1e-6:
        out.append(Phone(SIL, t, total))
    return merge_adjacent(out)


def speech_segments(audio16: np.ndarray) -> list[tuple[float, float]]:
    """Speech regions (seconds) found by silero-vad."""
    import torch
    from silero_vad import get_speech_timestamps

    with torch.inference_mode():
        stamps = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(audio16)), _vad_model(),
                                       sampling_rate=SR, return_seconds=True)
    return [(float(s["start"]), float(s["end"])) for s in stamps]


@lru_cache(maxsize=1)
def _vad_model():
    """silero-vad (weights shipped in its wheel), loaded once."""
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=True)


def split_points(speech: list[tuple[float, float]], total: float, max_len: float = MAX_SEGMENT_S) -> list[float]:
    """Cut times at the middle of silences so every piece is at most about `max_len` seconds."""
    cuts = [0.0]
    gaps = [((a_end + b_start) / 2) for (_, a_end), (b_start, _) in zip(speech, speech[1:])]
    for g in gaps:
        if g - cuts[-1] > max_len * 0.5:
            nxt = [h for h in gaps if h > g and h - cuts[-1] <= max_len]
            if not nxt:
                cuts.append(g)
    while total - cuts[-1] > max_len:  # no usable silence: hard cut
        cuts.append(cuts[-1] + max_len)
    return cuts + [total]


def _align_long(audio16: np.ndarray, words: list[str]) -> list[Phone]:
    """Align long audio piecewise: cut at silences, anchor transcript words to pieces by recognising each
    piece (pocketsphinx LM search) and matching its words to the transcript, then align piece by piece.
    A piece that fails is merged with the next one and retried."""
    total = len(audio16) / SR
    speech = speech_segments(audio16)
    if not speech:
        raise UserError("no speech found in the audio to align.")
    cuts = split_points(speech, total)
    pieces = list(zip(cuts, cuts[1:]))
    owner = assign_words_to_pieces(words, [_recognise(audio16[int(a * SR):int(b * SR)]) for a, b in pieces])
    phones: list[Phone] = []
    k = 0
    while k < len(pieces):
        span = 1
        while True:
            lo, hi = pieces[k][0], pieces[k + span - 1][1]
            piece_words = [w for w, o in zip(words, owner) if k <= o < k + span]
            if not piece_words:
                break
            try:
                phones += _align_segment(audio16[int(lo * SR):int(hi * SR)], piece_words, offset=lo)
                break
            except UserError:
                if k + span >= len(pieces):
                    raise
                span += 1
        k += span
    return phones


def assign_words_to_pieces(words: list[str], hyps: list[list[str]]) -> list[int]:
    """Piece index of every transcript word, from matching the transcript to each piece's recognised words.

    Matched words take their piece; unmatched runs between two anchors are split in proportion to position.
    """
    import difflib

    flat = [w for h in hyps for w in h]
    piece_of = [k for k, h in enumerate(hyps) for _ in h]
    anchors: dict[int, int] = {}
    sm = difflib.SequenceMatcher(a=words, b=flat, autojunk=False)
    for m in sm.get_matching_blocks():
        for i in range(m.size):
            anchors[m.a + i] = piece_of[m.b + i]
    if not anchors:  # nothing recognised: fall back to spreading words evenly
        return [min(len(hyps) - 1, i * len(hyps) // max(len(words), 1)) for i in range(len(words))]
    keys = sorted(anchors)
    owner = np.interp(np.arange(len(words)), keys, [anchors[i] for i in keys])
    return list(np.maximum.accumulate(np.round(owner).astype(int)))


def _recognise(audio16: np.ndarray) -> list[str]:
    """Lower-case words pocketsphinx recognises in a piece of audio (used only as anchors)."""
    from .corpus import recognise

    return recognise(audio16).lower().split()
