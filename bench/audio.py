"""Speech front-end benchmark: encoder accuracy (held-out LJ, held-out TTS voice, noise), encoder speed,
TTS speed, forced alignment vs Piper durations. Writes the `audio` section of docs/BENCHMARKS.md.

Run: `.venv/bin/python bench/audio.py`
"""
from __future__ import annotations

import difflib
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import numpy as np  # noqa: E402

from bench._report import SHARED_DATA, machine_line, markdown_table, median_time, write_section  # noqa: E402
from talkface.audio.align import align, speech_segments  # noqa: E402
from talkface.audio.corpus import HELD_OUT_ESPEAK, HELD_OUT_LJ, lj_transcripts, n_label_frames  # noqa: E402
from talkface.audio.encoder import encode_mel, load_encoder  # noqa: E402
from talkface.audio.espeak import synthesize_espeak  # noqa: E402
from talkface.audio.features import compute_features, to_mono_16k  # noqa: E402
from talkface.audio.mel import log_mel  # noqa: E402
from talkface.audio.phones import SIL, frame_labels  # noqa: E402
from talkface.audio.tts import synthesize  # noqa: E402
from talkface.audio.visemes import viseme_index, viseme_probs  # noqa: E402
from talkface.media import load_audio  # noqa: E402

SR = 16000
PARAGRAPH = (
    "The old lighthouse stood at the edge of the cliff for more than two hundred years, and every night its "
    "lamp turned slowly over the dark water. Sailors who passed the point in winter storms told stories about "
    "the keeper, a quiet woman who climbed the narrow stairs twice each evening to trim the wick and polish the "
    "great glass lens. She kept a journal of every ship she saw, writing the names, the weather and the time in "
    "small careful letters. When the harbor was finally given an electric light, the journal was sent to the "
    "museum in the town, where children still read it on rainy afternoons. Some pages tell of nights when "
    "the wind screamed through the rocks, the rain fell sideways, and the "
    "keeper stayed awake until dawn, watching for signals of distress. On one such night she saw a small boat "
    "drifting toward the reef without a sail. She rang the bell, lit every lamp she had, and waited. In the "
    "morning the fishermen found the boat safe on the sand, its crew tired and cold but alive, and they walked "
    "up the hill to thank her with bread, fish and a bottle of wine."
)
HELD_OUT_TTS_SENTENCES = (
    "The museum opens at nine and closes early on holidays.",
    "Please bring a warm coat, because the evening wind is strong near the water.",
    "Every child in the village learned to swim before the age of seven.",
    "A quiet voice can carry further than a shout in a crowded room.",
    "They painted the boat bright yellow so it could be seen from the shore.",
    "Our teacher measured the shadow of the tower at noon and again at sunset.",
)
ALIGN_SENTENCES = HELD_OUT_TTS_SENTENCES + (
    "She sells seashells by the seashore, and the shells she sells are surely seashells.",
    "The quick brown fox jumped over the lazy dog near the river bank.",
)


def frame_scores(audio16: np.ndarray, labels: np.ndarray, model) -> tuple[int, int, int]:
    """(phone hits, viseme hits, frames): argmax of phone posteriors and of viseme probabilities vs reference."""
    post, _ = encode_mel(log_mel(audio16), model)
    n = min(len(post), len(labels))
    phone_hits = int((post[:n].argmax(1) == labels[:n]).sum())
    viseme_hits = int((viseme_probs(post[:n]).argmax(1) == viseme_index(labels[:n])).sum())
    return phone_hits, viseme_hits, n


def accuracy_row(name: str, items, model) -> list:
    """Table row: phone and viseme accuracy summed over (audio16, labels) items."""
    tot = np.zeros(3)
    for audio16, labels in items:
        tot += frame_scores(audio16, labels, model)
    return [name, f"{tot[2] / 50:.1f} s", f"{tot[0] / tot[2]:.1%}", f"{tot[1] / tot[2]:.1%}"]


def held_out_lj_items() -> list[tuple[np.ndarray, np.ndarray]]:
    """Held-out LJ clips with forced-alignment frame labels."""
    texts = lj_transcripts()
    items = []
    for name in HELD_OUT_LJ:
        audio = load_audio(SHARED_DATA / "speech" / f"{name}.wav", SR)
        items.append((audio, frame_labels(align(audio, SR, texts[name]), n_label_frames(len(audio)))))
    return items


def noise_pieces() -> list[np.ndarray]:
    """Non-speech stretches (silero-vad) of the shared noisy clips: real background noise."""
    pieces = []
    for path in sorted((SHARED_DATA / "speech").glob("noisy_audio_*.wav")):
        audio = load_audio(path, SR)
        t = 0.0
        for a, b in speech_segments(audio) + [(len(audio) / SR, len(audio) / SR)]:
            if a - t > 0.3:
                pieces.append(audio[int(t * SR):int(a * SR)])
            t = b
    return pieces


def add_noise(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix tiled `noise` into `audio` at `snr_db`."""
    tiled = np.tile(noise, len(audio) // len(noise) + 1)[: len(audio)]
    gain = np.sqrt(np.mean(audio ** 2) / (np.mean(tiled ** 2) * 10 ** (snr_db / 10) + 1e-12))
    return (audio + gain * tiled).astype(np.float32)


def held_out_tts_items() -> list[tuple[np.ndarray, np.ndarray]]:
    """Sentences spoken by the held-out espeak voice setting, with exact phone timings."""
    lang, variant = HELD_OUT_ESPEAK
    items = []
    for text in HELD_OUT_TTS_SENTENCES:
        audio, sr, phones = synthesize_espeak(text, f"{lang}+{variant}", rate=165, pitch=60)
        audio16 = to_mono_16k(audio, sr)
        items.append((audio16, frame_labels(phones, n_label_frames(len(audio16)))))
    return items


def real_noisy_speech_agreement(model) -> str:
    """Speech/silence agreement of the encoder (argmax != SIL) with silero-vad on the real noisy clips."""
    hits = tot = 0
    for path in sorted((SHARED_DATA / "speech").glob("noisy_audio_*.wav")):
        audio = load_audio(path, SR)
        post, _ = encode_mel(log_mel(audio), model)
        vad = np.zeros(len(post), bool)
        for a, b in speech_segments(audio):
            vad[int(a * 50):int(b * 50)] = True
        hits += int(((post.argmax(1) != 0) == vad).sum())
        tot += len(post)
    return f"{hits / tot:.1%}"


def alignment_vs_piper() -> tuple[float, int]:
    """Median |onset difference| (ms) between forced alignment and Piper's own durations, and phones compared."""
    errs = []
    for text in ALIGN_SENTENCES:
        audio, sr, tts_phones = synthesize(text)
        aligned = align(audio, sr, text)
        a = [p for p in tts_phones if p.label != SIL]
        b = [p for p in aligned if p.label != SIL]
        sm = difflib.SequenceMatcher(a=[p.label for p in a], b=[p.label for p in b], autojunk=False)
        errs += [abs(a[m.a + k].start - b[m.b + k].start) for m in sm.get_matching_blocks() for k in range(m.size)]
    return float(np.median(errs) * 1000), len(errs)


def main() -> None:
    """Run everything and write the report section."""
    import torch

    torch.set_num_threads(1)  # 2 vCPUs share one physical core here (notes §7); one thread is as fast
    model = load_encoder()
    lj = held_out_lj_items()
    noise = noise_pieces()
    noise_mix = np.concatenate(noise) if noise else None
    rows = [accuracy_row(f"held-out LJ Speech ({', '.join(HELD_OUT_LJ)}) vs forced alignment", lj, model)]
    if noise_mix is not None:
        for snr in (10, 5, 0):
            rows.append(accuracy_row(f"held-out LJ + real background noise at {snr} dB SNR",
                                     [(add_noise(a, noise_mix, snr), lab) for a, lab in lj], model))
    rows.append(accuracy_row(f"held-out TTS voice (espeak-ng {HELD_OUT_ESPEAK[0]}+{HELD_OUT_ESPEAK[1]}, "
                             "unseen sentences), exact timings", held_out_tts_items(), model))
    acc_table = markdown_table(["test set", "audio", "phone acc", "viseme acc"], rows)
    speech_agree = real_noisy_speech_agreement(model)

    # every LJ clip with a transcript aligns
    texts = lj_transcripts()
    ok = 0
    for name, text in texts.items():
        audio = load_audio(SHARED_DATA / "speech" / f"{name}.wav", SR)
        ok += len([p for p in align(audio, SR, text) if p.label != SIL]) > 0
    align_ms, n_cmp = alignment_vs_piper()

    # speed
    audio60 = load_audio(SHARED_DATA / "speech" / "english_60s.wav", SR)
    dur = len(audio60) / SR
    mel60 = log_mel(audio60)
    t_enc = median_time(lambda: encode_mel(mel60, model), repeats=3)
    t_feat = median_time(lambda: compute_features(audio60, SR), repeats=3)
    t0 = time.perf_counter()
    synthesize("warm up.")
    t_load = time.perf_counter() - t0
    words = len(PARAGRAPH.split())
    t_tts = median_time(lambda: synthesize(PARAGRAPH), repeats=2, warmup=0)
    tts_audio, tts_sr, tts_phones = synthesize(PARAGRAPH)
    tts_dur = len(tts_audio) / tts_sr
    sum_err = abs(sum(p.duration for p in tts_phones) - tts_dur) * 1000
    size_mb = Path(load_encoder.__wrapped__.__globals__["WEIGHTS"]).stat().st_size / 1e6

    speed_rows = [
        ["encoder only (log-mel → posteriors), 60 s speech", f"{t_enc * 1000:.0f} ms", f"{dur / t_enc:.0f}× real time"],
        ["compute_features (resample, log-mel, encoder), 60 s", f"{t_feat * 1000:.0f} ms",
         f"{dur / t_feat:.0f}× real time"],
        [f"TTS, {words}-word paragraph ({tts_dur:.1f} s audio)", f"{t_tts:.2f} s",
         f"RTF {t_tts / tts_dur:.3f} (voice load {t_load:.1f} s, once)"],
    ]
    other_rows = [
        ["forced alignment succeeds on LJ clips with transcripts", f"{ok}/{len(texts)}"],
        ["alignment vs Piper durations, median absolute onset difference", f"{align_ms:.1f} ms ({n_cmp} phones)"],
        ["TTS timings sum vs audio length", f"{sum_err:.3f} ms off"],
        ["real noisy clips: encoder speech/silence agrees with silero-vad", speech_agree],
        ["encoder weights", f"{size_mb:.2f} MB"],
    ]
    md = "\n\n".join([
        "## Speech front-end (`talkface.audio`)",
        f"Machine: {machine_line()}. Frame-level accuracy at 50 Hz; reference labels come from pocketsphinx "
        "forced alignment (LJ) or exact synthesis timings (TTS); the predicted viseme is the argmax of the "
        "summed phone posteriors per viseme of the 15-class table in `talkface/audio/visemes.py`. "
        "Noise is cut from the non-speech parts of the shared noisy clips. "
        "Targets: phone ≥ 55%, viseme ≥ 70% on held-out LJ; encoder ≥ 100× real time; TTS < 0.3 RTF; "
        "alignment vs Piper ≤ 30 ms median.",
        acc_table, markdown_table(["speed", "time", "rate"], speed_rows),
        markdown_table(["check", "result"], other_rows),
    ])
    write_section("audio", md)


if __name__ == "__main__":
    main()
