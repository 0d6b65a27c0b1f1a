"""Layer 3: fitting an avatar to a video on the CPU — staged optimisation, progress bar, atomic checkpoints,
resume after a kill, and publishing the finished avatar directory.

Stages (fractions of the iterations, `TrainConfig.stages`):
- warmup: canonical Gaussians only (no motion), so colours and shape settle on the average face;
- motion: face and mouth motion fields, audio net and Gaussians together, with densification;
- fuse:   everything at a reduced learning rate, the Gaussian set frozen, to polish the fused render.
TalkingGaussian trains the face and mouth branches in separate stages because it blends two renders in image
space; we rasterize both branches in one depth-sorted pass, so they can be trained jointly from the start.
"""
from __future__ import annotations

import itertools
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import UserError
from ..face import FaceTrack
from ..media import DEFAULT_FPS, iter_frames
from ..store import load_npz, save_npz
from .config import AvatarConfig
from .condition import UpperBasis, augment, fit_upper_basis, reference_frame, smooth, windows
from .dataset import AvatarDataset, CropBoxes, build_dataset, check_video, crop_boxes, plan_split, track_frames
from .model import AvatarModel, make_camera
from .store import file_digest, publish, write_avatar_files, write_background
from .strategy import DensifyPrune

DATASET_KIND = "avatar_dataset"
DATASET_VERSION = 4  # 4: + the avatar's own upper-face basis
LOOKUP_REFRESH = 10  # steps between hash-grid lookup refreshes (centres move far less than a cell meanwhile)
BOX_MARGIN = 8  # pixels around the head mask that the loss looks at (covers the SSIM window)


def work_dir(output: Path) -> Path:
    """Where an unfinished fit keeps its dataset and checkpoints (resumable)."""
    return output.with_name(output.name + ".partial")


# ---- dataset preparation (cached in the work dir) ------------------------------------------------------------
def prepare(video: Path, cfg: AvatarConfig, work: Path
            ) -> tuple[AvatarDataset, FaceTrack, CropBoxes, dict, UpperBasis | None]:
    """Track, crop and featurise the training part of `video` and fit the avatar's upper-face basis on it (or
    reload all of it from an interrupted fit)."""
    cache = work / "dataset.npz"
    from ..audio.encoder import WEIGHTS

    stamp = {"video": str(video.resolve()), "size": video.stat().st_size, "mtime": video.stat().st_mtime,
             "data": asdict(cfg.data), "encoder": file_digest(WEIGHTS) if WEIGHTS.is_file() else None,
             "upper": [cfg.model.upper_eyes, cfg.model.upper_brows] if cfg.model.upper_face else None}
    if cache.is_file():
        try:
            arrays, meta = load_npz(cache, DATASET_KIND, DATASET_VERSION)
            if meta.get("stamp") == stamp:
                ds = AvatarDataset(resolution=cfg.data.resolution, **{k: arrays[k] for k in _DS_ARRAYS})
                track = FaceTrack.load(work / "track.npz")
                basis = UpperBasis.from_arrays(arrays) if cfg.model.upper_face else None
                return ds, track, crop_boxes(track, cfg.data.crop_scale), meta["audio"], basis
        except UserError:
            pass
    from ..audio import features_from_file, load_encoder

    duration = check_video(video)
    split = plan_split(duration, cfg.data)
    track = track_frames(video, split.train_end)
    usable = track.valid.sum() / track.fps
    if usable < cfg.data.min_train_seconds:
        raise UserError(f"{video}: only {usable:.1f} s of the training part show a face; talkface needs at least "
                        f"{cfg.data.min_train_seconds:.0f} s.")
    load_encoder()  # a clear UserError when the encoder weights are missing
    digest = file_digest(WEIGHTS)
    features = features_from_file(video)
    if file_digest(WEIGHTS) != digest:
        raise UserError("the speech encoder's weights changed while this fit computed its features; run it again.")
    ref = reference_frame(track)
    basis = (fit_upper_basis(track.landmarks3d, track.valid, {"eyes": cfg.model.upper_eyes,
                                                              "brows": cfg.model.upper_brows})
             if cfg.model.upper_face else None)
    ds = build_dataset(video, cfg.data, track, features, 0, split.train_end, track.landmarks3d[ref], basis)
    for i, frame in enumerate(itertools.islice(iter_frames(video, DEFAULT_FPS), split.train_end)):
        write_background(work, i, frame)
    audio = {"in_dim": int(ds.audio.shape[2]), "window": int(ds.audio.shape[1]),
             "encoder_sha256": digest, "features": "phoneme posteriors + encoder embedding",
             "reference_frame": ref}
    track.save(work / "track.npz")
    meta = {"stamp": stamp, "audio": audio, "split": asdict(split)}
    save_npz(cache, DATASET_KIND, DATASET_VERSION, {**{k: getattr(ds, k) for k in _DS_ARRAYS},
                                                    **(basis.to_arrays() if basis is not None else {})}, meta)
    return ds, track, crop_boxes(track, cfg.data.crop_scale), audio, basis


_DS_ARRAYS = ("images", "head_mask", "mouth_mask", "inner_mouth", "background", "w2c", "intrinsics",
              "audio", "eyes", "mouth_coeffs", "upper_coeffs", "frame_index")


# ---- one training sample -------------------------------------------------------------------------------------
def training_condition(ds: AvatarDataset, t: int, cfg: AvatarConfig, rng: np.random.Generator,
                       smoothed: np.ndarray | None = None, upper_stdev: np.ndarray | None = None
                       ) -> dict[str, torch.Tensor]:
    """Condition of training frame t: tracked mouth coefficients made generated-like (`condition.augment`),
    and/or its speech window, and its tracked upper-face coefficients (as at speak: tracked, never generated,
    so not augmented, ÷ the basis' stdev `upper_stdev`), as the model's condition dict."""
    cond = {}
    if cfg.model.upper_face:
        cond["upper"] = torch.from_numpy(ds.upper_coeffs[t] / upper_stdev)
    if "expression" in cfg.model.condition:
        w = cfg.model.expression_window
        smoothed = smooth(ds.mouth_coeffs, cfg.train.expr_smooth_sigma) if smoothed is None else smoothed
        tr = cfg.train
        x = augment(windows(ds.mouth_coeffs, t, w), windows(smoothed, t, w), rng, tr.expr_noise,
                    (tr.expr_scale_min, tr.expr_scale_max), tr.expr_smooth_prob)
        cond["expression"] = torch.from_numpy(x)
    if "speech" in cfg.model.condition:
        cond["speech"] = torch.from_numpy(ds.audio[t])
    return cond


def sample_tensors(ds: AvatarDataset, t: int) -> dict:
    """Tensors of frame t: target image (0..1), masks, loss box, camera, eye features (the mouth condition is
    added by `training_condition`)."""
    head = torch.from_numpy(ds.head_mask[t])
    ys, xs = np.nonzero(ds.head_mask[t] > 0.05)
    r = ds.resolution
    if len(ys):
        bbox = (max(0, ys.min() - BOX_MARGIN), min(r, ys.max() + BOX_MARGIN + 1),
                max(0, xs.min() - BOX_MARGIN), min(r, xs.max() + BOX_MARGIN + 1))
    else:
        bbox = (0, r, 0, r)
    masks = {"head": head, "mouth": torch.from_numpy(ds.mouth_mask[t]),
             "inner_mouth": torch.from_numpy(ds.inner_mouth[t]), "background": torch.from_numpy(ds.background[t]),
             "bbox": tuple(int(b) for b in bbox)}
    image = torch.from_numpy(ds.images[t]).float() / 255.0
    # The head is composited over the frame with the core of the face cut out (black), so a transparent face
    # shows as a dark hole and is penalised instead of letting the true face (and its mouth) shine through.
    # Only the fully-inside part is cut: in the feathered rim the backdrop is the real frame, exactly as at
    # paste-back time, so the rim's colours are learnt for the composite that speak will actually do.
    hole = ((head > 0.98) | (masks["inner_mouth"] > 0.5)).float()
    return {"image": image, "backdrop": image * (1.0 - hole)[..., None], "masks": masks,
            "camera": make_camera(ds.w2c[t], ds.intrinsics[t], r),
            "eyes": torch.from_numpy(ds.eyes[t])}


# ---- optimisation --------------------------------------------------------------------------------------------
def make_optimizer(model: AvatarModel, cfg: AvatarConfig) -> torch.optim.Adam:
    """Adam with per-kind learning rates (Gaussian attributes, hash grids, networks)."""
    t = cfg.train
    groups = []
    for field in model.fields().values():
        groups += [{"params": [field.means], "lr": t.lr_means, "name": "means"},
                   {"params": [field.log_scales], "lr": t.lr_scales, "name": "scales"},
                   {"params": [field.quats], "lr": t.lr_quats, "name": "quats"},
                   {"params": [field.opacity_logits], "lr": t.lr_opacity, "name": "opacity"},
                   {"params": [field.color_logits], "lr": t.lr_colors, "name": "colors"}]
    grids = [model.face_motion.encoder.table, model.mouth_motion.encoder.table]
    nets = [p for n, p in model.named_parameters() if n.startswith(("audio_net", "expression_net", "face_motion",
                                                                     "mouth_motion"))
            and not n.endswith("encoder.table")]
    groups += [{"params": grids, "lr": t.lr_grid, "name": "grid"}, {"params": nets, "lr": t.lr_net, "name": "net"}]
    for g in groups:
        g["base_lr"] = g["lr"]
    return torch.optim.Adam(groups, eps=1e-15)


def stage_at(step: int, cfg: AvatarConfig) -> str:
    """Name of the training stage that `step` falls in."""
    edge = 0.0
    for name, frac in cfg.train.stages:
        edge += frac * cfg.train.iterations
        if step < edge:
            return name
    return cfg.train.stages[-1][0]


def set_learning_rates(opt: torch.optim.Adam, step: int, stage: str, cfg: AvatarConfig) -> None:
    """Stage-dependent learning rates: motion parts idle in warmup, everything reduced in fuse, means decay."""
    t = cfg.train
    progress = step / max(1, t.iterations)
    for g in opt.param_groups:
        lr = g["base_lr"]
        if g["name"] == "means":
            lr *= 0.1 ** progress
        if stage == "warmup" and g["name"] in ("grid", "net"):
            lr = 0.0
        if stage == "fuse":
            lr *= t.fuse_lr_factor
        g["lr"] = lr


def save_checkpoint(work: Path, model: AvatarModel, opt, step: int, rng: np.random.Generator, elapsed: float) -> None:
    """Atomic checkpoint of everything needed to continue exactly where we stopped."""
    state = {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "elapsed": elapsed}
    with atomic_path(work / "checkpoint.pt") as tmp:
        torch.save(state, tmp)


def load_checkpoint(work: Path, model: AvatarModel, cfg: AvatarConfig):
    """Restore model, optimizer and RNGs from the work dir; returns (optimizer, step, rng, elapsed) or None."""
    path = work / "checkpoint.pt"
    if not path.is_file():
        return None
    try:
        state = torch.load(path, weights_only=False)
        for name, field in model.fields().items():
            field.load_sizes_from(state["model"], name + ".")
        model.load_state_dict(state["model"])
        opt = make_optimizer(model, cfg)
        opt.load_state_dict(state["optimizer"])
    except Exception:  # a checkpoint from another config or a damaged file: start over rather than crash
        return None
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    return opt, int(state["step"]), rng, float(state.get("elapsed", 0.0))


def train_step(model: AvatarModel, opt, strategy, sample: dict, step: int, cfg: AvatarConfig) -> dict:
    """One iteration: render, losses, backward, strategy bookkeeping, optimizer step."""
    stage = stage_at(step, cfg)
    set_learning_rates(opt, step, stage, cfg)
    out = model(sample["cond"], sample["eyes"], sample["camera"], sample["backdrop"], motion=stage != "warmup")
    out["means2d"].retain_grad()
    losses = model.loss_dict(out, sample["image"], sample["masks"], cfg.train)
    total = sum(losses.values())
    opt.zero_grad(set_to_none=True)
    total.backward()
    strategy.after_backward(model, out, step)
    opt.step()
    metrics = model.metrics_dict(out, sample["image"], sample["masks"])
    if strategy.step(model, opt, step):
        model.refresh_lookups()
    return {"loss": float(total.detach()), "stage": stage, **metrics}


def make_strategy(cfg: AvatarConfig) -> DensifyPrune:
    """The default densification strategy of a config."""
    t = cfg.train
    return DensifyPrune(every=t.densify_every, start=int(t.densify_from * t.iterations),
                        stop=int(t.densify_until * t.iterations), grad_threshold=t.grad_threshold,
                        max_gaussians=t.max_gaussians)


def fit(video: str | Path, output: str | Path, cfg: AvatarConfig, progress: bool = True,
        strategy=None) -> Path:
    """Fit an avatar to `video` and write it to the directory `output` (resumes an interrupted fit)."""
    from tqdm import tqdm

    video, output = Path(video), Path(output)
    if not video.exists():
        raise UserError(f"{video}: no such file.")
    work = work_dir(output)
    fresh = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    try:
        ds, track, boxes, audio_meta, basis = prepare(video, cfg, work)
    except BaseException:
        if fresh:  # nothing worth resuming: leave no half-made directory behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    torch.manual_seed(cfg.train.seed)
    model = AvatarModel(cfg.model, audio_meta["in_dim"], audio_meta["window"], seed=cfg.train.seed,
                        upper_basis=basis)
    upper_stdev = basis.stdev_vector() if basis is not None else None
    model.init_colors(ds.images[0], ds.w2c[0], ds.intrinsics[0])
    model.speech_dropout = cfg.train.speech_dropout
    smoothed = smooth(ds.mouth_coeffs, cfg.train.expr_smooth_sigma)
    strategy = strategy or make_strategy(cfg)
    resumed = load_checkpoint(work, model, cfg)
    if resumed is None:
        opt, start, rng, elapsed = make_optimizer(model, cfg), 0, np.random.default_rng(cfg.train.seed), 0.0
    else:
        opt, start, rng, elapsed = resumed
    model.refresh_lookups()
    n_iter = cfg.train.iterations
    bar = tqdm(total=n_iter, initial=start, desc="fitting", unit="it", dynamic_ncols=True, disable=not progress)
    t0 = time.monotonic() - elapsed
    psnr_avg, loss_avg = None, None
    for step in range(start, n_iter):
        if step % LOOKUP_REFRESH == 0:
            model.refresh_lookups()
        t = int(rng.integers(len(ds)))
        sample = sample_tensors(ds, t)
        sample["cond"] = training_condition(ds, t, cfg, rng, smoothed, upper_stdev)
        info = train_step(model, opt, strategy, sample, step, cfg)
        psnr_avg = info["psnr_face"] if psnr_avg is None else 0.95 * psnr_avg + 0.05 * info["psnr_face"]
        loss_avg = info["loss"] if loss_avg is None else 0.95 * loss_avg + 0.05 * info["loss"]
        bar.update(1)
        bar.set_postfix(stage=info["stage"], loss=f"{loss_avg:.4f}", psnr=f"{psnr_avg:.2f}",
                        gaussians=sum(f.count for f in model.fields().values()), refresh=False)
        if (step + 1) % cfg.train.checkpoint_every == 0 and step + 1 < n_iter:
            save_checkpoint(work, model, opt, step + 1, rng, time.monotonic() - t0)
    bar.close()
    wall = time.monotonic() - t0
    meta = {"audio": audio_meta, "source": {"path": str(video), "width": track.width, "height": track.height,
                                            "fps": track.fps, "train_frames": track.n_frames},
            "training": {"iterations": n_iter, "seconds": wall, "train_psnr_face": psnr_avg}}
    write_avatar_files(work, model, cfg, track, boxes, meta)
    for leftover in ("checkpoint.pt", "dataset.npz"):
        (work / leftover).unlink(missing_ok=True)
    publish(work, output)
    return output
