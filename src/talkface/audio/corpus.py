"""Training corpus for the phoneme encoder, built on the fly and cached outside the repository.

Three sources, all at 16 kHz with a phone label per 50 Hz frame:
- Piper `joe-us` speech at varied rate/noise settings, labelled with Piper's exact phone durations;
- espeak-ng speech over many English voices, variants, rates and pitches, labelled with exact phoneme events;
- real speech from `../shared/data`: LJ Speech clips forced-aligned to their transcripts, and clips without a
  transcript (speech files, the audio of the talking videos) pseudo-labelled by pocketsphinx recognition
  followed by forced alignment of the recognised words.
Sentences come from plain English text on this machine (license texts, Python docstrings) plus the LJ
training transcripts; every word is kept only if cmudict knows it.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .phones import frame_labels

SR = 16000
HELD_OUT_LJ = ("LJ001-0006", "LJ001-0007", "LJ001-0008")
# A TTS setting never used in training, for the report: an espeak voice + variant pair kept out of the corpus.
HELD_OUT_ESPEAK = ("en-gb-x-rp", "f4")
ESPEAK_VOICES = ("en-us", "en", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
ESPEAK_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f5", "klatt", "klatt2",
                   "klatt4", "adam", "andy", "linda", "max", "michel", "norbert", "edward", "david", "steph")
# Driving clips whose soundtrack may be music rather than the speaker (shared/data/README.md): not used.
MUSIC_VIDEOS = ("kitchen_talk", "outdoor_talk", "expressive_talk")
TEXT_SOURCES = ("/usr/share/common-licenses",)
PY_DOC_MODULES = ("argparse", "collections", "logging", "email", "http.client", "json", "pathlib", "random",
                  "statistics", "string", "textwrap", "threading", "typing", "unittest", "urllib.request",
                  "zipfile", "calendar", "decimal", "fractions", "tarfile", "csv", "sqlite3", "smtplib", "pdb")


@dataclass
class Utterance:
    """One training utterance: 16 kHz audio, a phone index per 50 Hz frame, and where it came from."""

    audio: np.ndarray
    labels: np.ndarray
    source: str


def shared_data() -> Path:
    """`../shared/data` next to the repository (DESIGN: test media are read from there, never copied)."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def cache_dir() -> Path:
    """User cache folder for the synthesized corpus."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("talkface")) / "audio_corpus"


def n_label_frames(n_samples: int) -> int:
    """Encoder output frames for `n_samples` of 16 kHz audio (half the 100 Hz mel frames, rounded up)."""
    return (1 + n_samples // 160 + 1) // 2


def lj_transcripts() -> dict[str, str]:
    """LJ Speech id → normalised transcript from the shared data."""
    path = shared_data() / "speech" / "ljspeech_transcripts.csv"
    with open(path, encoding="utf-8") as fh:
        return {row[0]: row[2] for row in csv.reader(fh, delimiter="|", quoting=csv.QUOTE_NONE) if len(row) >= 3}


def english_sentences(limit: int, seed: int = 0) -> list[str]:
    """Up to `limit` distinct English sentences (4–24 words, all in cmudict) from text on this machine."""
    from .align import _cmudict

    words_ok = _cmudict()
    texts = []
    for folder in TEXT_SOURCES:
        for path in sorted(Path(folder).glob("*")) if Path(folder).is_dir() else []:
            if path.is_file():
                texts.append(path.read_text(errors="ignore"))
    texts += module_docstrings(PY_DOC_MODULES)
    held = set(HELD_OUT_LJ)
    texts += [t for k, t in lj_transcripts().items() if k not in held]
    out = plain_sentences(texts, words_ok, min_words=4)
    random.Random(seed).shuffle(out)
    return out[:limit]


def module_docstrings(names) -> list[str]:
    """Docstrings of the named standard-library modules and their members (modules that fail to import are
    skipped): plenty of varied, well-formed English prose that needs no download."""
    import importlib
    import inspect

    docs = []
    for name in names:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        docs += [d for _, obj in inspect.getmembers(mod)
                 if (callable(obj) or inspect.ismodule(obj)) and (d := inspect.getdoc(obj))]
    return docs


def plain_sentences(texts, vocab, min_words: int, exclude=frozenset()) -> list[str]:
    """Unique sentences of `texts` with `min_words`–24 words, plain punctuation only, every word in `vocab`
    (lower case) and not in `exclude` (lower case), in order of appearance."""
    seen, out = set(), []
    for text in texts:
        for sent in re.split(r"(?<=[.!?;:])\s+|\n\s*\n", re.sub(r"[ \t]*\n[ \t]*", " ", text)):
            sent = re.sub(r"\s+", " ", sent).strip()
            words = re.findall(r"[A-Za-z']+", sent)
            if not min_words <= len(words) <= 24 or not re.fullmatch(r"[A-Za-z',;:.!?\-\"() ]+", sent):
                continue
            key = sent.lower()
            if all(w.lower() in vocab for w in words) and key not in seen and key not in exclude:
                seen.add(key)
                out.append(sent)
    return out


def random_word_sentences(n: int, seed: int) -> list[str]:
    """Sentences of random common cmudict words, for phone coverage beyond what the prose offers."""
    from .align import _cmudict

    rng = random.Random(seed)
    vocab = [w for w in _cmudict() if w.isalpha() and 2 <= len(w) <= 10]
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(5, 14))) + "." for _ in range(n)]


def _resample(audio: np.ndarray, sr: int) -> np.ndarray:
    """float32 audio at 16 kHz."""
    import soxr

    return audio.astype(np.float32) if sr == SR else soxr.resample(audio, sr, SR).astype(np.float32)


def piper_utterance(text: str, rng: random.Random) -> Utterance:
    """One Piper sentence at a random rate/noise setting, labelled by its exact durations."""
    from .tts import VoiceSettings, synthesize

    settings = VoiceSettings(length_scale=rng.uniform(0.75, 1.35), noise_scale=rng.uniform(0.4, 0.9),
                             noise_w=rng.uniform(0.5, 1.0))
    audio, sr, phones = synthesize(text, settings)
    audio16 = _resample(audio, sr)
    return Utterance(audio16, frame_labels(phones, n_label_frames(len(audio16))).astype(np.int8), "piper")


def espeak_settings(rng: random.Random) -> tuple[str, int, int, int]:
    """A random training espeak voice+variant, rate (wpm), pitch and pitch range (never the held-out pair)."""
    while True:
        lang, variant = rng.choice(ESPEAK_VOICES), rng.choice(ESPEAK_VARIANTS)
        if (lang, variant) != HELD_OUT_ESPEAK and variant != HELD_OUT_ESPEAK[1]:
            break
    voice = lang + (f"+{variant}" if variant else "")
    return voice, rng.randint(120, 260), rng.randint(20, 85), rng.randint(20, 90)


def espeak_utterance(text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> Utterance:
    """One espeak-ng sentence labelled by its exact phoneme events."""
    from .espeak import synthesize_espeak
    from .text import normalise_text

    audio, sr, phones = synthesize_espeak(normalise_text(text), voice, rate, pitch, pitch_range)
    audio16 = _resample(audio, sr)
    return Utterance(audio16, frame_labels(phones, n_label_frames(len(audio16))).astype(np.int8), f"espeak:{voice}")


def recognise(audio16: np.ndarray) -> str:
    """Word hypothesis of pocketsphinx's en-us recogniser (LM search) for pseudo-labelling."""
    from pocketsphinx import Decoder

    from .align import _model_paths, _pcm16

    paths = _model_paths()
    dec = Decoder(hmm=paths["hmm"], dict=paths["dict"], samprate=SR, dither=True, loglevel="FATAL")
    dec.start_utt()
    dec.process_raw(_pcm16(audio16), full_utt=True)
    dec.end_utt()
    hyp = dec.hyp()
    return re.sub(r"\(\d+\)|<[^>]*>|\[[^\]]*\]", " ", hyp.hypstr if hyp else "").strip()


def real_utterances(max_piece_s: float = 12.0) -> list[Utterance]:
    """Real speech from the shared data: LJ training clips by forced alignment, the rest by pseudo-labels."""
    from ..errors import UserError
    from ..media import load_audio
    from .align import align, speech_segments, split_points

    root = shared_data()
    if not root.is_dir():
        return []
    transcripts = lj_transcripts()
    files = sorted((root / "speech").glob("*"))
    files += [p for p in sorted((root / "videos").glob("*.mp4")) if p.stem not in MUSIC_VIDEOS]
    out = []
    for path in files:
        name = path.stem
        if path.suffix == ".csv" or name in HELD_OUT_LJ or name.startswith("noisy_audio"):
            continue
        try:
            audio16 = load_audio(path, SR)
        except UserError:
            continue
        if name in transcripts:
            pieces = [(0.0, audio16, transcripts[name], "real:aligned")]
        else:
            total = len(audio16) / SR
            speech = speech_segments(audio16)
            if not speech:
                continue
            cuts = split_points(speech, total, max_piece_s)
            pieces = []
            for lo, hi in zip(cuts, cuts[1:]):
                seg = audio16[int(lo * SR):int(hi * SR)]
                text = recognise(seg)
                if len(text.split()) >= 2:
                    pieces.append((lo, seg, text, "real:pseudo"))
        for _, seg, text, kind in pieces:
            try:
                phones = align(seg, SR, text)
            except UserError:
                continue
            out.append(Utterance(seg, frame_labels(phones, n_label_frames(len(seg))).astype(np.int8),
                                 f"{kind}:{name}"))
    return out


def recipe_key(recipe: dict) -> str:
    """Short hash naming a corpus recipe in the cache."""
    return hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def save_utterances(path: Path, utts: list[Utterance]) -> None:
    """Store utterances as one npz (concatenated audio/labels plus offsets), atomically."""
    from ..atomic import atomic_path

    audio = np.concatenate([u.audio for u in utts]) if utts else np.zeros(0, np.float32)
    labels = np.concatenate([u.labels for u in utts]) if utts else np.zeros(0, np.int8)
    a_off = np.cumsum([0] + [len(u.audio) for u in utts])
    l_off = np.cumsum([0] + [len(u.labels) for u in utts])
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, audio=audio.astype(np.float32), labels=labels, a_off=a_off, l_off=l_off,
                     sources=np.array([u.source for u in utts]))


def load_utterances(path: Path) -> list[Utterance]:
    """Read utterances written by `save_utterances`."""
    with np.load(path) as d:
        audio, labels, a_off, l_off, src = d["audio"], d["labels"], d["a_off"], d["l_off"], d["sources"]
    return [Utterance(audio[a_off[i]:a_off[i + 1]], labels[l_off[i]:l_off[i + 1]], str(src[i]))
            for i in range(len(src))]


def _piper_shard(args: tuple[list[str], int]) -> list[Utterance]:
    """Worker: synthesize a list of sentences with Piper (one process per shard)."""
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    texts, seed = args
    rng = random.Random(seed)
    out = []
    for t in texts:
        try:
            out.append(piper_utterance(t, rng))
        except Exception:  # noqa: BLE001 - a sentence Piper cannot speak is skipped, not fatal
            continue
    return out


def build_corpus(n_piper: int = 420, n_espeak: int = 900, n_random: int = 150, workers: int = 2, seed: int = 0,
                 log=print) -> dict[str, list[Utterance]]:
    """Build (or load from cache) the corpus parts: 'piper', 'espeak', 'real'."""
    recipe = {"n_piper": n_piper, "n_espeak": n_espeak, "n_random": n_random, "seed": seed, "v": 3,
              "held_out": list(HELD_OUT_LJ)}
    folder = cache_dir() / recipe_key(recipe)
    folder.mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[Utterance]] = {}
    sentences = english_sentences(n_piper + n_espeak, seed)
    rand = random_word_sentences(n_random, seed + 1)
    log(f"corpus: {len(sentences)} prose sentences + {len(rand)} random-word sentences; cache {folder}")
    piper_texts = sentences[:n_piper] + rand[: n_random // 2]
    espeak_texts = sentences[n_piper:] + rand[n_random // 2:]
    if len(espeak_texts) < n_espeak:  # reuse prose with other voices when the text supply is short
        espeak_texts += sentences[: n_espeak - len(espeak_texts)]
    builders = {
        "espeak": lambda: _espeak_part(espeak_texts, seed),
        "piper": lambda: _piper_part(piper_texts, workers, seed),
        "real": real_utterances,
    }
    for name, build in builders.items():
        path = folder / f"{name}.npz"
        if path.exists():
            parts[name] = load_utterances(path)
        else:
            parts[name] = build()
            save_utterances(path, parts[name])
        secs = sum(len(u.audio) for u in parts[name]) / SR
        log(f"corpus: {name}: {len(parts[name])} utterances, {secs / 60:.1f} min")
    return parts


def _espeak_part(texts: list[str], seed: int) -> list[Utterance]:
    """espeak-ng utterances over random training voices/rates/pitches."""
    rng = random.Random(seed + 2)
    return [espeak_utterance(t, *espeak_settings(rng)) for t in texts]


def _piper_part(texts: list[str], workers: int, seed: int) -> list[Utterance]:
    """Piper utterances, synthesized in `workers` processes."""
    shards = [(texts[i::workers], seed + 10 + i) for i in range(workers)]
    if workers <= 1:
        return _piper_shard(shards[0])
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        return [u for part in pool.map(_piper_shard, shards) for u in part]
