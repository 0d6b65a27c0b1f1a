"""Train the shipped motion models: `python -m talkface.motion.train [--part all|eyes|expression|pose]`.

Data (the fixed split of `talkface.splits`, by clip): the training clips of ../shared/data/videos (tracked faces +
their own speech) for the expression generator; those plus the training clips of ../shared/data/driving (silent:
pose, brows and eyes only) for the pose generator and the eye statistics. Held-out clips are only evaluated.
Tracks and features are cached under the user cache dir. Writes weights/{eyes,expression,pose}.safetensors and
weights/training_report.json (numbers for MODEL_CARD.md). CPU, one thread, a few minutes in total.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..face import mouth_opening, shipped_morphable
from ..face.landmarks import MOUTH_GAP
from .data import Clip, load_clips
from .weights import WEIGHTS_DIR

REPORT = WEIGHTS_DIR / "training_report.json"
LIPS_EXCLUDED = ("kitchen_talk.mp4", "outdoor_talk.mp4")
"""Training clips whose audio is not the speaker's clean speech (data README: weakly correlated, music; measured
envelope AV offsets -7 and +8 frames): used for pose/eyes, never for lip sync."""
LIPS_EXTRA = ("small_face_1080p_overlay.mp4", "odd_fps_22.mp4")
"""Talking clips of ../shared/data/videos_hard with the speaker's own speech, used for lip sync only: 13.5 s more
of two more speakers (+10 % frames). The third single-face clip there, small_face_hevc_portrait, is left out: its
measured AV offset is -9 frames (the audio 360 ms early), not a sync a generator should learn."""
BETA = 0.1  # KL weight of the pose CVAE (after warm-up)
FREE_BITS = 0.25  # nats per latent dimension the KL is not pushed below, so the decoder keeps using the latent


# ---------------------------------------------------------------- eyes

def train_eyes(clips: list[Clip]) -> dict:
    """Fit the eye rig and the blink/gaze process parameters on the training tracks."""
    from dataclasses import asdict

    from .eyes import _eyes_file, fit_eye_rig, fit_eye_stats, save_eyes

    tracks = [c.track for c in clips]
    rig, stats = fit_eye_rig(tracks), fit_eye_stats(tracks)
    info = {"clips": [c.name for c in clips], "frames": int(sum(t.n_frames for t in tracks))}
    save_eyes(rig, stats, info)
    _eyes_file.cache_clear()
    return {"stats": asdict(stats), **info}


# ---------------------------------------------------------------- expression

def speech_offset(clip: Clip) -> int:
    """AV offset of a training clip (frames; > 0 = audio late): tracked mouth vs the encoder's openness read-out."""
    from ..eval import av_offset
    from ..eval.sync import openness_at_frames

    openness = openness_at_frames(clip.speech, clip.track.n_frames, clip.track.fps)
    return av_offset(mouth_opening(clip.track), openness).offset


def shift_rows(x: np.ndarray, k: int) -> np.ndarray:
    """Rows moved earlier by k frames (x'[t] = x[t + k]), edges repeated: undoes audio that is k frames late."""
    idx = np.clip(np.arange(len(x)) + k, 0, len(x) - 1)
    return x[idx]


@dataclass
class MouthClip:
    """Arrays of one clip for expression training."""

    x: np.ndarray  # [T, D] speech inputs
    coeffs: np.ndarray  # [T, 12] mouth coefficients w.r.t. the shipped mean (cm)
    refstate: np.ndarray  # [T, 13] reference conditioning if frame t were the reference
    lips: np.ndarray  # [T, 2, 3] inner-lip gap points


def mouth_clip(clip: Clip, use_phonemes: bool, use_mel: bool = True, shift: int = 0,
               use_loudness: bool = False) -> MouthClip:
    """Expression-training arrays of a tracked clip with speech (speech moved `shift` frames earlier)."""
    from .expression import reference_state
    from .features import expression_inputs

    lm = clip.track.landmarks3d
    coeffs = shipped_morphable().encode(lm)["mouth"]
    ref = np.stack([reference_state(s) for s in lm])
    x = shift_rows(expression_inputs(clip.speech, use_phonemes, clip.track.n_frames, use_mel, use_loudness), shift)
    return MouthClip(x, coeffs, ref, lm[:, list(MOUTH_GAP)])


def silence_row(use_phonemes: bool, use_mel: bool = True, use_loudness: bool = False) -> np.ndarray:
    """The expression inputs of one frame of digital silence, through the same front-end as real speech."""
    from ..audio.features import compute_features
    from .features import expression_inputs

    feats = compute_features(np.zeros(16000, np.float32), 16000)
    x = expression_inputs(feats, use_phonemes, None, use_mel, use_loudness)
    return x[len(x) // 2]


def closed_frame(clip: MouthClip) -> int:
    """Index of a closed-mouth frame of the clip (5th percentile of the inner-lip gap)."""
    gap = np.linalg.norm(clip.lips[:, 0] - clip.lips[:, 1], axis=-1)
    return int(np.argmin(np.abs(gap - np.percentile(gap, 5))))


def mouth_batch(data: list[MouthClip], rng: np.random.Generator, batch: int, length: int,
                silence: np.ndarray | None = None, p_silence: float = 0.2):
    """Random windows with random reference frames: inputs, reference states, target offsets, lip points.

    With probability `p_silence` the end of a window (from a random frame on) is replaced by digital silence whose
    target is the clip's closed mouth, so silence closes even a wide-open reference mouth."""
    std = shipped_morphable().stdev["mouth"]
    weights = np.array([len(d.x) for d in data], np.float64)
    xs, refs, ys, lips = [], [], [], []
    for i in rng.choice(len(data), batch, p=weights / weights.sum()):
        d = data[i]
        s = rng.integers(0, len(d.x) - length + 1)
        r = rng.integers(0, len(d.x))
        x, coeffs = d.x[s:s + length].copy(), d.coeffs[s:s + length].copy()
        if silence is not None and rng.random() < p_silence:
            cut = int(rng.integers(0, length - 8))
            x[cut:] = silence
            coeffs[cut:] = d.coeffs[closed_frame(d)]
        xs.append(x)
        refs.append(d.refstate[r])
        ys.append((coeffs - d.coeffs[r]) / std)
        lips.append(d.lips[r])
    return [torch.from_numpy(np.stack(a).astype(np.float32)) for a in (xs, refs, ys, lips)]


def mouth_gap_series(offsets: np.ndarray, reference_shape: np.ndarray) -> np.ndarray:
    """Inner-lip gap [T] (cm) of mouth offsets [T,12] (cm units) decoded on `reference_shape`."""
    from ..face import mouth_gap

    shapes = shipped_morphable().with_identity(reference_shape).decode({"mouth": offsets})
    return mouth_gap(shapes)


def evaluate_expression(model, clips: list[Clip], lead: int) -> dict:
    """Held-out clips driven by their own audio, reference = first frame: mouth correlation and lag vs tracking,
    raw (lag 0) and with the footage's own sync error undone (`footage_synced_correlation`; `lead` = the offset
    the model was aligned to)."""
    from ..eval import footage_synced_correlation, lagged_correlation, mouth_correlation
    from .expression import generate_mouth

    rows = {}
    for c in clips:
        ref = c.track.landmarks3d[0]
        gen = mouth_gap_series(generate_mouth(c.speech, ref, c.track.n_frames, model), ref)
        real = mouth_opening(c.track)
        lags, curve = lagged_correlation(gen, real, 5)
        offset = speech_offset(c)
        rows[c.name] = {"corr": round(mouth_correlation(gen, real), 3), "lag": int(lags[np.nanargmax(curve)]),
                        "footage_offset": offset,
                        "corr_synced": round(footage_synced_correlation(gen, real, offset, lead), 3)}
    for key in ("corr", "corr_synced"):
        rows[f"mean_{key}"] = round(float(np.mean([v[key] for v in rows.values() if isinstance(v, dict)])), 3)
    return rows


def window_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation [B] of two batches of series [B,T] (the lip-sync metric, per training window)."""
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-4)


def train_member(data: list[MouthClip], silent: np.ndarray, config, steps: int, seed: int, batch: int, log,
                 w_corr: float = 1.0):
    """One ExpNet trained on the clips' windows (random references, silence augmentation).

    Loss: coefficients (smooth L1) + inner-lip gap (L1, ×4) + frame-to-frame change + `w_corr` × (1 − Pearson
    correlation of the gap over the window). The correlation term raised held-out correlation slightly (0.528 →
    0.545) but taught early openings before phrase onsets (a spurious +8-frame AV-offset peak), so it is off by
    default (MODEL_CARD.md)."""
    from .expression import ExpNet, decoded_gap, gap_points

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ExpNet(config)
    allx = np.concatenate([d.x for d in data])
    model.in_mean.copy_(torch.from_numpy(allx.mean(0)))
    model.in_std.copy_(torch.from_numpy(allx.std(0) + 1e-3))
    _, basis_rows = gap_points(shipped_morphable().mean)
    basis_rows = torch.from_numpy(basis_rows)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    t0 = time.time()
    for step in range(steps):
        x, ref, y, lips = mouth_batch(data, rng, batch, 64, silent)
        x = x + 0.1 * x.std() * torch.randn_like(x) * (torch.rand(len(x), 1, 1) < 0.5)
        pred = model(x, ref)
        gap_t, gap_p = decoded_gap(y, lips, basis_rows), decoded_gap(pred, lips, basis_rows)
        loss = (torch.nn.functional.smooth_l1_loss(pred, y) + 4.0 * (gap_p - gap_t).abs().mean()
                + (torch.diff(pred, dim=1) - torch.diff(y, dim=1)).abs().mean())
        if w_corr:
            loss = loss + w_corr * (1.0 - window_correlation(gap_p, gap_t)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            log(f"expression seed {seed} step {step} loss {loss.item():.4f} ({time.time() - t0:.0f}s)")
    return model.eval()


def train_expression(train: list[Clip], held: list[Clip], steps: int, seed: int, log=print, save: bool = True,
                     batch: int = 16, use_mel: bool = False, channels: int = 64, dropout: float = 0.3,
                     align: bool = True, members: int = 5, use_loudness: bool = True, w_corr: float = 0.0) -> dict:
    """Train the ExpNet-like mouth generator, an ensemble of `members` seeds (shipped weights when `save`);
    returns its held-out numbers.

    With `align` (the default), each clip's speech is shifted so its measured AV offset equals the median over the
    clips, the `sync_lead` stored with the model: real footage is often a few frames out of sync (our clips
    -2..+8), and unaligned clips teach a blurred timing. Inputs are the phoneme encoder's features, plus the
    log-mel with `use_mel` (off by default: with ~140 s of training speech the 320 log-mel inputs let the net learn
    the training voices; phoneme features alone generalised better to held-out speakers, in a speaker-grouped
    cross-validation on the training clips and on the held-out clips)."""
    from .expression import ExpEnsemble, ExpressionConfig, load_expression, save_expression

    use_ph = True  # the phoneme encoder ships with the package
    offsets = [speech_offset(c) for c in train]
    median = int(np.median(offsets))
    shifts = [o - median for o in offsets] if align else [0] * len(train)
    data = [mouth_clip(c, use_ph, use_mel, k, use_loudness) for c, k in zip(train, shifts)]
    silent = silence_row(use_ph, use_mel, use_loudness)
    config = ExpressionConfig(in_dim=data[0].x.shape[1], use_phonemes=use_ph, use_mel=use_mel, channels=channels,
                              dropout=dropout, use_loudness=use_loudness)
    t0 = time.time()
    model = ExpEnsemble([train_member(data, silent, config, steps, seed + k, batch, log, w_corr)
                         for k in range(members)])
    model.eval()
    metrics = evaluate_expression(model, held, median)
    log(f"expression held-out: {metrics}")
    meta = {"train_clips": [c.name for c in train], "steps": steps, "seed": seed, "use_phonemes": use_ph,
            "use_mel": use_mel, "use_loudness": use_loudness, "w_corr": w_corr, "sync_lead": median,
            "clip_shifts": dict(zip([c.name for c in train], shifts)),
            "train_frames": int(sum(len(d.x) for d in data)), "seconds": round(time.time() - t0, 1),
            "held_out": metrics}
    if save:
        save_expression(model, meta)
        load_expression.cache_clear()
    return meta


# ---------------------------------------------------------------- pose

def clip_motion(clip: Clip) -> np.ndarray:
    """[T, 10] rest-relative motion of a tracked clip (`pose.track_motion`)."""
    from .pose import track_motion

    return track_motion(clip.track)


def clip_prosody(clip: Clip) -> np.ndarray:
    """[T, 5] pose inputs of a clip (silence for driving clips)."""
    from .features import pose_inputs, silent_pose_inputs

    n = clip.track.n_frames
    return pose_inputs(clip.speech, n) if clip.speech is not None else silent_pose_inputs(n)


def pose_batch(motions, audios, speakers, by_speaker, cfg, rng, batch: int, history_noise: float):
    """Random chunks with their multi-scale history, audio windows and a style segment of the same speaker."""
    from .pose import audio_window, history_features

    lengths = np.array([len(m) for m in motions], np.float64)
    chunks, hists, auds, segs = [], [], [], []
    seg_len = int(rng.integers(75, 200))
    for i in rng.choice(len(motions), batch, p=lengths / lengths.sum()):
        m = motions[i]
        s = int(rng.integers(0, len(m) - cfg.chunk + 1))
        past = m[max(0, s - cfg.history):s]
        past = past + history_noise * rng.standard_normal(past.shape).astype(np.float32)
        chunks.append(m[s:s + cfg.chunk])
        hists.append(history_features(past, cfg))
        auds.append(audio_window(audios[i], s, cfg))
        j = int(rng.choice(by_speaker[speakers[i]]))
        other = motions[j]
        n = min(seg_len, len(other))
        a = int(rng.integers(0, len(other) - n + 1))
        seg = other[a:a + n]
        segs.append(np.resize(seg, (seg_len, seg.shape[1])) if n < seg_len else seg)
    return [torch.from_numpy(np.stack(v).astype(np.float32)) for v in (chunks, hists, auds, segs)]


def pose_loss(model, chunk, hist, audio, seg, beta: float, cfg, free_bits: float = FREE_BITS):
    """CVAE loss: reconstruction + speed + free-bits KL (the decoder must use the latent for variety)."""
    style = model.style(seg)
    cond = model.cond(audio, hist, style)
    mu, logvar = model.encode(chunk, cond)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    pred = model.decode(z, cond)
    last = hist[:, (cfg.short - 1) * 10:cfg.short * 10][:, None]  # most recent history frame
    has_past = hist[:, -3:-2][:, :, None] > 0
    prev_p = torch.where(has_past, last, pred[:, :1])
    prev_t = torch.where(has_past, last, chunk[:, :1])
    vel_p = torch.diff(torch.cat([prev_p, pred], 1), dim=1)
    vel_t = torch.diff(torch.cat([prev_t, chunk], 1), dim=1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)
    kl = torch.clamp(kl.mean(0), min=free_bits).sum()
    rec = (pred - chunk).pow(2).mean()
    vel = 10.0 * (vel_p - vel_t).pow(2).mean()
    return rec + vel + beta * kl, {"rec": rec.item(), "vel": vel.item(), "kl": kl.item()}


def evaluate_pose(model, held: list[Clip], seed: int) -> dict:
    """Pose diversity and beat alignment of generated vs real motion on held-out clips with speech."""
    from ..eval import audio_beats, beat_alignment, motion_beats, pose_diversity
    from ..face.geometry import euler_to_axis_angle
    from ..media import load_audio
    from ..splits import shared_data_dir
    from .pose import generate_pose

    out = {}
    for c in held:
        if c.speech is None:
            continue
        audio = load_audio(shared_data_dir() / "videos" / c.name)
        beats = audio_beats(audio, 16000)
        style = model.style_table.mean(0).numpy()
        gen = generate_pose(clip_prosody(c), style, seed, model)
        pose = np.zeros((len(gen), 6), np.float32)
        pose[:, :3] = euler_to_axis_angle(gen[:, :3])
        pose[:, 3:] = gen[:, 3:6]
        real = c.track.pose
        out[c.name] = {"div_real": round(pose_diversity(real)["rotation_deg"], 2),
                       "div_gen": round(pose_diversity(pose)["rotation_deg"], 2),
                       "ba_real": round(beat_alignment(motion_beats(real), beats), 3),
                       "ba_gen": round(beat_alignment(motion_beats(pose), beats), 3)}
    return out


def calibrate_gain(model, motions_raw, audios, speakers, names, seed: int) -> np.ndarray:
    """Per-dimension gain making generated motion as varied as the real training clips (median std ratio over clips
    of at least 4 s, each generated with its own speaker's style), clipped to [1, 3]: a CVAE trained on this little
    data regresses towards the mean, and this restores the real spread without changing the timing."""
    from .pose import generate_pose

    ratios = []
    for m, a, sp in zip(motions_raw, audios, speakers):
        if len(m) < 100:
            continue
        gen = generate_pose(a, model.style_table[names.index(sp)].numpy(), seed, model)
        ratios.append(m.std(0) / np.maximum(gen.std(0), 1e-4))
    if not ratios:
        return np.ones(motions_raw[0].shape[1], np.float32)
    return np.clip(np.median(np.stack(ratios), 0), 1.0, 3.0).astype(np.float32)


def train_pose(train: list[Clip], held: list[Clip], steps: int, seed: int, log=print, save: bool = True,
               batch: int = 32, beta: float = BETA, free_bits: float = FREE_BITS) -> dict:
    """Train the pose/brow CVAE with style and multi-scale history, fill the per-speaker style table (shipped
    weights when `save`); returns its held-out numbers."""
    from .pose import PoseConfig, PoseVAE, load_pose, save_pose

    motions_raw = [clip_motion(c) for c in train]
    std = np.concatenate(motions_raw).std(0) + 1e-4
    motions = [(m / std).astype(np.float32) for m in motions_raw]
    audios = [clip_prosody(c) for c in train]
    names = sorted({c.speaker for c in train})
    speakers = [c.speaker for c in train]
    by_speaker = {s: [i for i, sp in enumerate(speakers) if sp == s] for s in names}
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = PoseConfig(n_styles=len(names))
    model = PoseVAE(cfg)
    model.motion_std.copy_(torch.from_numpy(std))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    t0 = time.time()
    for step in range(steps):
        warm = beta * min(1.0, step / (0.3 * steps))
        tensors = pose_batch(motions, audios, speakers, by_speaker, cfg, rng, batch, 0.05)
        loss, parts = pose_loss(model, *tensors, warm, cfg, free_bits)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"pose step {step} loss {loss.item():.4f} {parts} ({time.time() - t0:.0f}s)")
    model.eval()
    with torch.no_grad():
        for k, name in enumerate(names):
            segs = [m[a:a + 125] for i in by_speaker[name] for m in [motions[i]]
                    for a in range(0, max(1, len(m) - 124), 25)]
            segs = [np.resize(s, (125, s.shape[1])) for s in segs]
            model.style_table[k] = model.style(torch.from_numpy(np.stack(segs))).mean(0)
    model.output_gain.copy_(torch.from_numpy(calibrate_gain(model, motions_raw, audios, speakers, names, seed)))
    log(f"pose output gain: {model.output_gain.numpy().round(2).tolist()}")
    metrics = evaluate_pose(model, held, seed)
    log(f"pose held-out: {metrics}")
    meta = {"train_clips": [c.name for c in train], "steps": steps, "seed": seed,
            "train_frames": int(sum(len(m) for m in motions)), "seconds": round(time.time() - t0, 1),
            "output_gain": model.output_gain.numpy().round(3).tolist(), "held_out": metrics}
    if save:
        save_pose(model, names, meta)
        load_pose.cache_clear()
    return meta


# ---------------------------------------------------------------- entry point

def main(argv: list[str] | None = None) -> None:
    """Train the selected parts and record their numbers in weights/training_report.json."""
    parser = argparse.ArgumentParser(prog="python -m talkface.motion.train", description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("all", "eyes", "expression", "pose"), default="all")
    parser.add_argument("--expression-steps", type=int, default=2000)
    parser.add_argument("--expression-members", type=int, default=5)
    parser.add_argument("--pose-steps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    def log(msg: str) -> None:
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    videos, videos_held = load_clips("videos", False), load_clips("videos", True)
    driving = load_clips("driving", False, with_speech=False)
    report = json.loads(REPORT.read_text()) if REPORT.is_file() else {}
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    if args.part in ("all", "eyes"):
        report["eyes"] = train_eyes(videos + driving)
        log(f"eyes: {report['eyes']['stats']}")
    if args.part in ("all", "expression"):
        lips = [c for c in videos if c.name not in LIPS_EXCLUDED] + load_clips("videos_hard", False, names=LIPS_EXTRA)
        report["expression"] = train_expression(lips, videos_held, args.expression_steps, args.seed, log,
                                                members=args.expression_members)
    if args.part in ("all", "pose"):
        report["pose"] = train_pose(videos + driving, videos_held, args.pose_steps, args.seed, log)
    REPORT.write_text(json.dumps(report, indent=1))
    log(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
