"""Train the phoneme-posterior encoder: `python -m talkface.audio.train [--minutes 24] [--out PATH]`.

Builds (or reuses from the cache) the corpus of `corpus.py`, then trains on random 4 s crops with on-the-fly
augmentation: speed (tape-style resampling, labels follow), gain, band-limiting (incl. telephone band and an
8 kHz round trip), synthetic room reverb, additive noise (quiet stretches of real recordings and coloured
noise) at 0–30 dB SNR, and 8-bit mu-law quantisation as a codec stand-in. Real speech is oversampled.
Stops after a wall-clock budget and writes safetensors weights atomically (plus the corpus/run metadata).
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .corpus import HELD_OUT_LJ, SR, Utterance, build_corpus, n_label_frames
from .encoder import WEIGHTS, EncoderConfig, PhonemeEncoder, save_encoder
from .mel import HOP, N_FFT, log_mel_frames
from .visemes import phone_to_viseme_matrix

CROP_S = 4.0
LABEL_HOP = 2 * HOP  # samples per 50 Hz label frame


class CropSampler:
    """Random label-aligned crops from a pool of utterances (short ones are zero-padded with silence)."""

    def __init__(self, utts: list[Utterance], rng: np.random.Generator) -> None:
        self.utts = [u for u in utts if len(u.labels) > 10]
        self.weights = np.array([len(u.audio) for u in self.utts], dtype=float)
        self.weights /= self.weights.sum()
        self.rng = rng

    def sample(self, n_samples: int, n_labels: int, speed: float) -> tuple[np.ndarray, np.ndarray]:
        """A crop of round(n_samples*speed) source samples and the labels of its `n_labels` output frames."""
        u = self.utts[self.rng.choice(len(self.utts), p=self.weights)]
        src_len = int(round(n_samples * speed))
        max_start = max(0, (len(u.audio) - src_len) // LABEL_HOP)
        k = int(self.rng.integers(0, max_start + 1))
        seg = u.audio[k * LABEL_HOP:k * LABEL_HOP + src_len]
        seg = np.pad(seg, (0, src_len - len(seg)))
        idx = k + np.floor((np.arange(n_labels) + 0.5) * speed).astype(int)
        labels = np.where(idx < len(u.labels), u.labels[np.minimum(idx, len(u.labels) - 1)], 0)
        return seg, labels.astype(np.int64)


def noise_bank(real: list[Utterance], rng: np.random.Generator) -> list[np.ndarray]:
    """Quiet stretches (frames labelled silence, low energy) of real recordings, for additive noise."""
    bank = []
    for u in real:
        sil = u.labels == 0
        runs = np.flatnonzero(np.diff(np.r_[0, sil.astype(int), 0]))
        for a, b in zip(runs[::2], runs[1::2]):
            if b - a >= 25:  # at least half a second
                piece = u.audio[a * LABEL_HOP:b * LABEL_HOP]
                if len(piece) > SR // 2 and np.std(piece) > 1e-4:
                    bank.append(piece.astype(np.float32))
    return bank


def coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """White/pink/brown-ish noise of length n (random spectral slope)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.arange(len(spec)), 1.0)
    x = np.fft.irfft(spec / f ** rng.uniform(0.0, 1.0), n=n)
    return (x / (x.std() + 1e-8)).astype(np.float32)


def band_limit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Zero-phase band-pass by an FFT mask with 200 Hz cosine edges (numpy FFT: torch's is slow on this CPU)."""
    spec = np.fft.rfft(x)
    f = np.linspace(0, SR / 2, len(spec))
    gain = np.clip((f - lo + 100) / 200, 0, 1) * np.clip((hi + 100 - f) / 200, 0, 1)
    return np.fft.irfft(spec * gain, n=len(x)).astype(np.float32)


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room impulse response (exponentially decaying noise, RT60 0.15–0.8 s)."""
    from scipy.signal import fftconvolve

    rt60 = rng.uniform(0.15, 0.8)
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / max(rng.uniform(0.2, 1.0), 1e-3)
    y = fftconvolve(x, rir / np.linalg.norm(rir))[: len(x)]
    return (y * (x.std() / (y.std() + 1e-8))).astype(np.float32)


def augment(x: np.ndarray, bank: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Randomly degrade one clean 16 kHz crop (each effect with its own probability)."""
    if rng.random() < 0.3:
        x = reverb(x, rng)
    if rng.random() < 0.35:
        if rng.random() < 0.4:  # telephone: 300–3400 Hz and an 8 kHz round trip
            x = band_limit(x, 300.0, 3400.0)
            x = np.interp(np.arange(len(x)), np.arange(0, len(x), 2), x[::2]).astype(np.float32)
        else:
            x = band_limit(x, rng.uniform(0, 300), rng.uniform(3000, 8000))
    if rng.random() < 0.5:
        if bank and rng.random() < 0.6:
            src = bank[rng.integers(len(bank))]
            reps = int(math.ceil(len(x) / len(src)))
            start = rng.integers(len(src))
            noise = np.tile(src, reps + 1)[start:start + len(x)]
        else:
            noise = coloured_noise(len(x), rng)
        snr = rng.uniform(0, 30)
        p_sig = max(float(np.mean(x ** 2)), 1e-8)
        noise = noise * np.sqrt(p_sig / (max(float(np.mean(noise ** 2)), 1e-10) * 10 ** (snr / 10)))
        x = x + noise
    x = x * float(10 ** (rng.uniform(-24, 6) / 20)) / (np.abs(x).max() + 1e-6)
    if rng.random() < 0.1:  # 8-bit mu-law, a crude codec
        mu = 255.0
        y = np.sign(x) * np.log1p(mu * np.minimum(np.abs(x), 1)) / math.log1p(mu)
        y = np.round(y * 127) / 127
        x = np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu
    return x.astype(np.float32)


def mel_batch(wave: torch.Tensor) -> torch.Tensor:
    """Log-mel [B,T,80] of a batch of 16 kHz waveforms (same framing as `mel.log_mel`)."""
    padded = F.pad(wave, (N_FFT // 2, N_FFT // 2))
    return log_mel_frames(padded)


def make_batch(samplers: list[tuple[CropSampler, float]], bank, rng, batch: int,
               do_augment: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of augmented crops (log-mel) and their frame labels."""
    n_samples = int(CROP_S * SR)
    n_labels = n_samples // LABEL_HOP
    probs = np.array([p for _, p in samplers])
    waves, labels = [], []
    for _ in range(batch):
        sampler = samplers[rng.choice(len(samplers), p=probs / probs.sum())][0]
        speed = float(rng.uniform(0.85, 1.15)) if do_augment and rng.random() < 0.6 else 1.0
        seg, lab = sampler.sample(n_samples, n_labels, speed)
        x = seg.astype(np.float32)
        if speed != 1.0:
            x = np.interp(np.linspace(0, len(x) - 1, n_samples), np.arange(len(x)), x).astype(np.float32)
        if do_augment:
            x = augment(x, bank, rng)
        waves.append(torch.from_numpy(x))
        labels.append(torch.from_numpy(lab))
    return mel_batch(torch.stack(waves)), torch.stack(labels)


def phone_and_viseme_loss(logits: torch.Tensor, labels: torch.Tensor, viseme_matrix: torch.Tensor,
                          viseme_weight: float = 0.5) -> torch.Tensor:
    """Phone cross-entropy plus a viseme cross-entropy on summed phone probabilities.

    The second term makes confusions inside a viseme group cheaper than across groups, which is what the
    face cares about.
    """
    flat = logits.reshape(-1, logits.shape[-1])
    target = labels.reshape(-1)
    phone_loss = F.cross_entropy(flat, target, label_smoothing=0.05)
    vis_prob = torch.softmax(flat, -1) @ viseme_matrix
    vis_target = viseme_matrix[target].argmax(-1)
    viseme_loss = F.nll_loss(torch.log(vis_prob.clamp(min=1e-6)), vis_target)
    return phone_loss + viseme_weight * viseme_loss


def mel_stats(utts: list[Utterance]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and std of log-mel over a sample of the corpus."""
    mels = [mel_batch(torch.from_numpy(u.audio[None]))[0] for u in utts[:: max(1, len(utts) // 200)]]
    allm = torch.cat(mels)
    return allm.mean(0), allm.std(0).clamp(min=1e-3)


def frame_accuracy(model: PhonemeEncoder, utts: list[Utterance]) -> float:
    """Frame-level phone accuracy of `model` on whole utterances (no augmentation)."""
    from .encoder import encode_mel
    from .mel import log_mel

    hit = tot = 0
    model.eval()
    for u in utts:
        post, _ = encode_mel(log_mel(u.audio), model)
        n = min(len(post), len(u.labels))
        hit += int((post[:n].argmax(1) == u.labels[:n]).sum())
        tot += n
    model.train()
    return hit / max(tot, 1)


def held_out_lj() -> list[Utterance]:
    """The held-out LJ clips, labelled by forced alignment (for progress logging and the model card)."""
    from ..media import load_audio
    from .align import align
    from .corpus import lj_transcripts, shared_data
    from .phones import frame_labels

    out = []
    texts = lj_transcripts()
    for name in HELD_OUT_LJ:
        path = shared_data() / "speech" / f"{name}.wav"
        if path.exists() and name in texts:
            audio = load_audio(path, SR)
            out.append(Utterance(audio, frame_labels(align(audio, SR, texts[name]), n_label_frames(len(audio))),
                                 name))
    return out


def train(minutes: float = 24.0, out: Path = WEIGHTS, batch: int = 16, lr: float = 2e-3, seed: int = 0,
          threads: int = 2, log=print) -> dict:
    """Build the corpus, train for `minutes` of wall clock, save weights to `out`; returns the run summary."""
    t_start = time.time()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    parts = build_corpus(log=log)
    t_corpus = time.time() - t_start
    real = parts["real"]
    samplers = [(CropSampler(parts["piper"], rng), 0.35), (CropSampler(parts["espeak"], rng), 0.25)]
    if real:
        samplers.append((CropSampler(real, rng), 0.4))
    bank = noise_bank(real, rng)
    model = PhonemeEncoder(EncoderConfig())
    mean, std = mel_stats(parts["piper"] + parts["espeak"] + real)
    model.mel_mean.copy_(mean)
    model.mel_std.copy_(std)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    held = held_out_lj()
    viseme_matrix = torch.from_numpy(phone_to_viseme_matrix())
    budget = minutes * 60.0
    t0 = time.time()
    step, losses = 0, []
    log(f"train: corpus ready in {t_corpus / 60:.1f} min; noise bank {len(bank)} pieces; "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params; budget {minutes} min")
    while True:
        frac = (time.time() - t0) / budget
        if frac >= 1.0:
            break
        for g in opt.param_groups:  # linear warm-up, then cosine decay over the wall-clock budget
            g["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        mel, labels = make_batch(samplers, bank, rng, batch)
        logits, _ = model(mel)
        n = min(logits.shape[1], labels.shape[1])
        loss = phone_and_viseme_loss(logits[:, :n], labels[:, :n], viseme_matrix)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 200 == 0:
            acc = frame_accuracy(model, held) if held else float("nan")
            log(f"train: step {step} {(time.time() - t0) / 60:.1f} min loss {np.mean(losses[-200:]):.3f} "
                f"held-out LJ phone acc {acc:.3f}")
    model.eval()
    summary = {
        "steps": step, "batch": batch, "crop_s": CROP_S, "train_minutes": round((time.time() - t0) / 60, 1),
        "corpus_minutes": {k: round(sum(len(u.audio) for u in v) / SR / 60, 1) for k, v in parts.items()},
        "corpus_utterances": {k: len(v) for k, v in parts.items()},
        "held_out_lj": list(HELD_OUT_LJ), "final_loss": round(float(np.mean(losses[-200:])), 4),
        "held_out_lj_phone_acc": round(frame_accuracy(model, held), 4) if held else None,
        "wall_minutes_total": round((time.time() - t_start) / 60, 1),
    }
    save_encoder(model, Path(out), summary)
    log(f"train: saved {out} ({Path(out).stat().st_size / 1e6:.2f} MB): {summary}")
    return summary


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=24.0, help="training wall-clock budget (corpus excluded)")
    ap.add_argument("--out", type=Path, default=WEIGHTS, help="where to write the safetensors weights")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    train(args.minutes, args.out, args.batch, seed=args.seed, threads=args.threads)


if __name__ == "__main__":
    main()
