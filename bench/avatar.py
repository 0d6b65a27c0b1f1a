"""Avatar benchmark (issue 6): fit on the first 10 s of each talking clip >= 12 s, evaluate on the held-out part
with the held-out audio and ground-truth pose, eye features and upper-face (eyes, brows) coefficients (InsTaG
protocol); fit time, speak speed, speak memory.

    .venv/bin/python bench/avatar.py [--clips obama_clip1 ...] [--preset fast] [--workdir /tmp/avatar_bench]
        [--skip-fit] [--memory-minutes 0]

Writes the "avatar" section of docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._report import SHARED_DATA, machine_line, markdown_table, write_section  # noqa: E402

VIDEOS = SHARED_DATA / "videos"
MIN_SECONDS = 12.0


def talking_clips() -> list[str]:
    """Clips of ../shared/data/videos that are at least 12 s long."""
    from talkface.media import probe

    return [p.stem for p in sorted(VIDEOS.glob("*.mp4")) if probe(p).duration >= MIN_SECONDS]


def avatar_path(workdir: Path, name: str, preset: str, condition: str, augment: bool = True) -> Path:
    """Where the bench keeps the avatar of one clip (the default condition keeps the plain name)."""
    tag = "" if condition == "expression" else "_" + condition.replace("+", "-")
    tag += "" if augment else "_noaug"
    return workdir / f"{name}_{preset}{tag}.avatar"


def fit_clip(name: str, preset: str, workdir: Path, skip: bool, condition: str = "expression",
             iterations: int | None = None, augment: bool = True) -> tuple[Path, float]:
    """Fit (or reuse) the avatar of one clip; returns its path and the fit wall time (s, incl. preprocessing).
    A finished avatar of the current format is reused when `skip` (evaluation can be re-run without refitting)."""
    from talkface.avatar import fit, preset as make_preset
    from talkface.avatar.store import AVATAR_VERSION

    out = avatar_path(workdir, name, preset, condition, augment)
    if skip and (out / "config.json").is_file():
        doc = json.loads((out / "config.json").read_text())
        if doc.get("version") == AVATAR_VERSION:
            return out, doc["training"].get("total_seconds", float("nan"))
    cfg = make_preset(preset)
    cfg.model.condition = condition
    if iterations:
        cfg.train.iterations = iterations
    if not augment:  # train on the raw tracked coefficients (to measure what the augmentation buys)
        cfg.train.expr_noise, cfg.train.expr_smooth_prob = 0.0, 0.0
        cfg.train.expr_scale_min = cfg.train.expr_scale_max = 1.0
    t0 = time.perf_counter()
    fit(VIDEOS / f"{name}.mp4", out, cfg, progress=True)
    total = time.perf_counter() - t0
    doc = json.loads((out / "config.json").read_text())
    doc["training"]["total_seconds"] = total
    (out / "config.json").write_text(json.dumps(doc, indent=1))
    return out, total


def evaluate_clip(name: str, avatar_dir: Path, workdir: Path, condition: str = "generated") -> dict:
    """Render the held-out part with held-out audio + ground-truth pose, eyes and upper face, then score it against
    the truth.
    The mouth coefficients are generated from the held-out audio (`condition="generated"`, the protocol) or
    the tracked ones of the held-out frames (`"tracked"`, the renderer's ceiling)."""
    import torch

    from talkface.audio import compute_features, features_from_file
    from talkface.avatar.condition import windows as coeff_windows
    from talkface.avatar.speak import conditions, mouth_track, reference_shape
    from talkface.avatar import load_avatar, plan_split
    from talkface.avatar.dataset import build_dataset, crop_boxes
    from talkface.avatar.model import make_camera
    from talkface.avatar.speak import paste_back
    from talkface.eval import evaluate
    from talkface.face import region_masks, track_video
    from talkface.media import VideoWriter, iter_frames, load_audio, probe

    video = VIDEOS / f"{name}.mp4"
    from talkface.avatar.speak import check_encoder

    avatar = load_avatar(avatar_dir)
    check_encoder(avatar)
    cfg = avatar.config
    track = track_video(video)
    split = plan_split(probe(video).duration, cfg.data)
    hs, n = split.holdout_start, min(split.n_frames, track.n_frames)
    feats = features_from_file(video)
    ref_shape = reference_shape(avatar)
    # upper-face (eyes, brows) coefficients: the held-out frames' own tracked landmarks projected on the avatar's
    # basis (fitted on its training frames only), like the eye features and the pose
    basis = avatar.upper_basis
    ds = build_dataset(video, cfg.data, track, feats, hs, n, ref_shape, basis, with_background=False)
    boxes = crop_boxes(track.slice(hs, n), cfg.data.crop_scale)
    audio = load_audio(video)[int(hs / 25 * 16000):int(n / 25 * 16000)]
    # the mouth condition: generated from the held-out audio alone (as `speak` would), or the tracked truth
    if condition == "tracked":
        mouth = ds.mouth_coeffs
    else:
        mouth = mouth_track(avatar, compute_features(audio, 16000), n - hs)
    conds = list(conditions(avatar, mouth, feats, n)) if "speech" in cfg.model.condition else None
    stem = f"{avatar_dir.stem}_{condition}"
    gen_path, ref_path = workdir / f"{stem}_heldout_gen.mp4", workdir / f"{stem}_heldout_ref.mp4"
    avatar.model.prepare_inference()
    oval_mse, render_times = [], []
    s = cfg.data.resolution / boxes.side
    with VideoWriter(gen_path, 25, audio, 16000) as gw, VideoWriter(ref_path, 25, audio, 16000) as rw:
        for t, frame in enumerate(iter_frames(video)):
            if t < hs:
                continue
            if t >= n:
                break
            k = t - hs
            t0 = time.perf_counter()
            with torch.inference_mode():
                cond = {}
                if mouth is not None:
                    cond["expression"] = torch.from_numpy(coeff_windows(mouth, k, cfg.model.expression_window))
                if conds is not None:
                    cond["speech"] = conds[t]["speech"]
                if cfg.model.upper_face:
                    cond["upper"] = torch.from_numpy(ds.upper_coeffs[k] / basis.stdev_vector())
                out = avatar.model(cond, torch.from_numpy(ds.eyes[k]),
                                   make_camera(ds.w2c[k], ds.intrinsics[k], ds.resolution))
            x0, y0 = boxes.centres[k] - boxes.side / 2
            gen = paste_back(frame, out["rgb"].numpy(), out["alpha"].numpy(), x0, y0, s)
            render_times.append(time.perf_counter() - t0)
            oval = region_masks(track.landmarks2d[t], frame.shape[0], frame.shape[1])["face"] > 0.5
            oval_mse.append(float(((gen.astype(np.float32) - frame)[oval] ** 2).mean()))
            gw.write(gen)
            rw.write(frame)
    tracks: dict = {}  # evaluate's tracks of the two videos, reused for the footage-corrected correlation
    res = evaluate(gen_path, ref_path, groups=["image", "landmarks", "mouth"], cache=tracks)
    v = res.values
    corr_synced = footage_corrected_mouth_corr(track, feats, gen_path, ref_path, tracks)
    from talkface.avatar.store import file_digest
    from talkface.motion.weights import weights_path

    return {"generator_sha256": file_digest(weights_path("expression"))[:12], "psnr_face": v["psnr_face"], "ssim_face": v["ssim_face"], "psnr_full": v["psnr_full"],
            "psnr_oval": float(np.mean([10 * np.log10(255 ** 2 / max(m, 1e-6)) for m in oval_mse])),
            "lmd_mouth_px": v["lmd_mouth_px"], "mouth_corr": v["mouth_corr"], "mouth_corr_synced": corr_synced,
            "frames": n - hs,
            "render_fps": 1.0 / float(np.median(render_times[5:])) if len(render_times) > 5 else float("nan")}


def footage_corrected_mouth_corr(track, feats, gen_path: Path, ref_path: Path, cache: dict) -> float:
    """Mouth corr of the held-out videos with the footage's own sync error undone: the clip's AV offset is measured
    on the whole real clip (tracked mouth vs the openness of its speech features `feats`), the lead is the lip
    generator's."""
    from talkface.eval import av_offset, footage_synced_correlation, track_once
    from talkface.eval.sync import openness_at_frames
    from talkface.face import mouth_opening
    from talkface.motion.expression import expression_sync_lead

    offset = av_offset(mouth_opening(track), openness_at_frames(feats, track.n_frames)).offset
    gen, ref = mouth_opening(track_once(gen_path, cache)), mouth_opening(track_once(ref_path, cache))
    return footage_synced_correlation(gen, ref, offset, expression_sync_lead())


def speak_speed(avatar_dir: Path, n_frames: int = 150) -> tuple[float, float]:
    """Wall frames/s and CPU ms per frame of `speak`'s render + paste-back loop (pose train, blink train),
    encoding excluded. CPU time is the load-independent number on a shared machine."""
    from talkface.audio import compute_features
    from talkface.avatar import load_avatar
    from talkface.avatar.speak import Driver, frames
    from talkface.media import load_audio

    avatar = load_avatar(avatar_dir)
    wav = load_audio(SHARED_DATA / "speech" / "english_60s.wav")[: int(n_frames / 25 * 16000)]
    feats = compute_features(wav, 16000)
    it = frames(avatar, feats, n_frames, Driver(avatar))
    for _ in range(5):
        next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    count = sum(1 for _ in it)
    return count / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / count


def speak_memory(avatar_dir: Path, minutes: float, workdir: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall time of `talkface speak` on `minutes` of speech (english_60s.wav repeated)."""
    import soundfile as sf

    from talkface.media import load_audio

    one = load_audio(SHARED_DATA / "speech" / "english_60s.wav")
    wav = np.tile(one, int(np.ceil(minutes * 60 * 16000 / len(one))))[: int(minutes * 60 * 16000)]
    path = workdir / f"speech_{minutes:g}min.wav"
    sf.write(str(path), wav, 16000)
    peak_file = workdir / f"speak_{minutes:g}min.peak"
    cmd = [sys.executable, "-c", SPEAK_WITH_PEAK, "speak", str(avatar_dir), "--audio", str(path), "-o",
           str(workdir / f"speak_{minutes:g}min.mp4"), str(peak_file)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return int(peak_file.read_text()) / 1024, time.perf_counter() - t0


SPEAK_WITH_PEAK = """import sys
from talkface.cli import main
peak_file = sys.argv.pop()
try:
    main()
finally:
    hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))
    open(peak_file, 'w').write(hwm.split()[1])
"""
"""`talkface speak` that writes its own peak RSS (kB, VmHWM) to the file named last on its command line. The
rusage of a child counts the parent's memory at fork time (this bench holds ~1 GB after evaluating), so it would
report the bench's size, not speak's."""


def main() -> None:
    """Run the benchmark and write the section."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", nargs="*")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/avatar_bench"))
    ap.add_argument("--skip-fit", action="store_true", help="reuse finished avatars of the current format")
    ap.add_argument("--condition", default="expression", help="model condition: expression | expression+speech | speech")
    ap.add_argument("--eval-mouth", default="generated", choices=["generated", "tracked"],
                    help="held-out mouth coefficients: generated from the audio (protocol) or tracked (ceiling)")
    ap.add_argument("--iterations", type=int, help="override the preset's iterations (quick comparisons)")
    ap.add_argument("--no-report", action="store_true", help="do not write docs/BENCHMARKS.md")
    ap.add_argument("--no-augment", action="store_true", help="fit on raw tracked coefficients (comparison)")
    ap.add_argument("--threads", type=int, help="torch/numba threads (default: by the machine's load)")
    ap.add_argument("--memory-minutes", type=float, nargs="*", default=[])
    ap.add_argument("--report-only", action="store_true", help="only rewrite the section from saved results")
    args = ap.parse_args()
    from talkface.avatar.runtime import configure_threads

    configure_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    clips = [] if args.report_only else (args.clips or talking_clips())
    variant = "" if (args.condition, args.eval_mouth, args.iterations, args.no_augment) == \
        ("expression", "generated", None, False) else f"_{args.condition.replace('+', '-')}_{args.eval_mouth}" + \
        (f"_{args.iterations}it" if args.iterations else "") + ("_noaug" if args.no_augment else "")
    saved = args.workdir / f"results_{args.preset}{variant}.json"
    results = json.loads(saved.read_text()) if saved.is_file() else {}
    for name in clips:
        avatar_dir, fit_s = fit_clip(name, args.preset, args.workdir, args.skip_fit, args.condition, args.iterations,
                                     not args.no_augment)
        r = evaluate_clip(name, avatar_dir, args.workdir, args.eval_mouth)
        r["fit_min"] = fit_s / 60
        r["speak_fps"], r["speak_cpu_ms"] = speak_speed(avatar_dir)
        results[name] = r
        print(name, json.dumps(r), flush=True)
        merged = json.loads(saved.read_text()) if saved.is_file() else {}
        merged.update({name: r})
        saved.write_text(json.dumps(merged, indent=1))
    from talkface.splits import HELD_OUT_VIDEOS

    unseen = {name for name in results if f"{name}.mp4" in HELD_OUT_VIDEOS}
    rows = [[name, "no" if name in unseen else "yes", args.preset, r["frames"], f"{r['fit_min']:.1f}", f"{r['psnr_face']:.2f}", f"{r['ssim_face']:.3f}",
             f"{r['psnr_oval']:.2f}", f"{r['lmd_mouth_px']:.2f}", f"{r['mouth_corr']:.2f}",
             f"{r.get('mouth_corr_synced', float('nan')):.2f}", f"{r['speak_fps']:.1f}",
             f"{r.get('speak_cpu_ms', float('nan')):.1f}"]
            for name, r in sorted(results.items())]
    mem = []
    for minutes in args.memory_minutes:
        avatar_dir = avatar_path(args.workdir, sorted(results)[0], args.preset, args.condition, not args.no_augment)
        rss, wall = speak_memory(avatar_dir, minutes, args.workdir)
        mem.append([f"{minutes:g} min", f"{rss:.0f}", f"{wall:.0f}"])
    header = ["clip", "generator trained on it", "preset", "held-out frames", "fit (min)", "PSNR face (dB)", "SSIM face", "PSNR oval (dB)",
              "LMD mouth (px)", "mouth corr", "mouth corr, footage sync undone", "speak fps (wall)",
              "speak CPU ms/frame"]
    md = [f"## Gaussian avatar: fit / speak (`bench/avatar.py`)\n", machine_line() + "\n",
          "Protocol (InsTaG self-reconstruction): fit on the first 10 s, render the held-out tail (last 20% or >= 3 s, "
          "never trained on) from its own audio with ground-truth head pose and eye features, paste the head back "
          "into the ground-truth frame, and score with `talkface.eval`. *PSNR/SSIM face* use the eval box "
          "(landmark box + 10% margin, so it includes some pasted-back background); *PSNR oval* scores only "
          "the pixels inside the face oval (stricter). Fit time includes tracking and feature extraction (nan: the "
          "fit was killed and resumed, so its total wall time is unknown). "
          "*speak* = render + paste-back, encoding excluded, 256^2 crops; wall fps depends on the machine's load, "
          "CPU ms/frame (one thread) does not. The mouth is driven by the coefficients the expression generator "
          "(`talkface.motion.expression`) makes from the held-out audio; *generator trained on it* = the clip "
          "(including its held-out tail) is in the generator's training data (`talkface.splits`), so its mouth "
          "correlation is optimistic — the honest numbers are the clips it never saw. *Mouth corr, footage sync "
          "undone* = `talkface.eval.footage_synced_correlation`: the real mouth moved by the clip's AV offset "
          "(measured on the whole real clip) minus the lip lead of in-sync footage; the generator follows the "
          "audio, so footage whose audio is late (obama_clip1 +4, kristinoem +3, obama_clip2 +2) scores low at "
          "lag 0. The upper face (eyes and brows "
          "coefficients of the avatar's own upper-face basis, fitted on its training frames; avatar format 4) comes, "
          "like the eye features and the pose, from the ground-truth track of the held-out frames (their landmarks "
          "projected on that basis).\n",
          markdown_table(header, rows)]
    if rows:
        keys = ("psnr_face", "ssim_face", "psnr_oval", "lmd_mouth_px", "mouth_corr", "mouth_corr_synced",
                "fit_min")
        means = {k: float(np.nanmean([r.get(k, np.nan) for r in results.values()])) for k in keys}
        md.append("\nMeans: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
        if unseen:
            means = {k: float(np.nanmean([results[n].get(k, np.nan) for n in unseen])) for k in keys}
            md.append(f"\nMeans over the clips the generator never saw ({', '.join(sorted(unseen))}): "
                      + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    if mem:
        md.append("\n`talkface speak` peak RSS (the Python process's VmHWM; the ffmpeg encoder it pipes to is a "
                  "separate process) by audio length (english_60s.wav repeated):\n")
        md.append(markdown_table(["audio", "peak RSS (MB)", "wall (s)"], mem))
    if args.no_report:
        print("\n".join(md))
    else:
        write_section("avatar", "\n".join(md))


if __name__ == "__main__":
    main()
