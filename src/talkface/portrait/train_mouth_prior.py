"""Train the inner-mouth appearance prior from real talking clips (reproduces `portrait/data/mouth_prior.npz`).

    python -m talkface.portrait.train_mouth_prior [--videos ../shared/data/videos] [--out PATH]

Recipe: track every clip (25 fps); keep frames whose mouth opening (inner gap / inner width) is at least
`MIN_OPENING` and whose inner mouth is at least `MIN_MOUTH_WIDTH_PX` wide; warp each inner-lip polygon (shrunk by
`SAMPLE_SHRINK` about its centre) into the normalised mouth patch (fan of triangles, `mouth.py`); divide by the
clip's median skin luminance (exposure); PCA over all patches (`N_MODES` modes); tabulate each mode's mean
coefficient in `N_BINS` quantile bins of opening (the conditional mean mouth for that opening).
Deterministic given the clips. `--cache FILE` keeps the extracted patches for re-fitting without re-tracking.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..face.landmarks import LIPS_INNER, LIPS_OUTER
from ..media import iter_frames
from ..render.warp import MeshWarper
from .mouth import (CHEEK_0, CHEEK_1, PATCH_H, PATCH_W, PRIOR_PATH, MouthPrior, colour_stats, fan_triangles,
                    inner_vertices, mouth_opening, patch_layout, patch_mask)

MIN_OPENING = 0.06
MIN_MOUTH_WIDTH_PX = 36  # smaller mouths are mostly compression blur and lip bleed
MAX_FRAMES_PER_CLIP = 400
N_MODES = 12
N_BINS = 10
# mediapipe's inner-lip contour sits on the lips' inner rim; sampling a slightly shrunk polygon keeps the
# prior about the mouth's inside (teeth, tongue, cavity), since the renderer draws the lips up to the contour
SAMPLE_SHRINK = (0.94, 0.72)
DEFAULT_VIDEOS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "videos"


def clip_patches(path: Path, warper: MeshWarper) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised patches [N, H, W, 3], their openings [N] and the clip's skin tint [3] for one clip."""
    from ..face.tracker import track_raw

    raw = track_raw(iter_frames(path))  # two passes over the clip keep memory flat
    layout = patch_layout()
    patches, openings, lumas, tints = [], [], [], []
    for k, frame in enumerate(iter_frames(path)):
        if k >= len(raw.found) or not raw.found[k]:
            continue
        pts = raw.points[k, :, :2]
        inner = pts[list(LIPS_INNER)]
        stats = colour_stats(frame, pts[list(LIPS_OUTER)], inner, [pts[list(CHEEK_0)], pts[list(CHEEK_1)]])
        lumas.append(stats.skin_luma)
        tints.append(stats.skin_tint)
        o = float(mouth_opening(inner))
        if o < MIN_OPENING or np.linalg.norm(inner[5] - inner[15]) < MIN_MOUTH_WIDTH_PX:
            continue
        centre = inner.mean(0)
        sample = centre + (inner - centre) * np.array(SAMPLE_SHRINK, np.float32)
        patch = warper.warp(frame, inner_vertices(sample), layout)
        patches.append(patch.astype(np.float32))
        openings.append(o)
    if not patches:
        return np.zeros((0, PATCH_H, PATCH_W, 3), np.float32), np.zeros(0, np.float32), np.median(tints, 0)
    idx = np.arange(len(patches))
    if len(idx) > MAX_FRAMES_PER_CLIP:
        idx = np.linspace(0, len(idx) - 1, MAX_FRAMES_PER_CLIP).astype(int)
    skin_luma = float(np.median(lumas))
    return (np.stack([patches[i] for i in idx]) / skin_luma, np.array([openings[i] for i in idx], np.float32),
            np.median(np.stack(tints), 0))


def fit_prior(patches: np.ndarray, openings: np.ndarray, tint: np.ndarray, sources: list[str]) -> MouthPrior:
    """PCA of the masked patches and per-bin mean coefficients against opening."""
    mask = patch_mask()[..., None]
    x = (patches * mask).reshape(len(patches), -1).astype(np.float64)
    mean = x.mean(0)
    xc = x - mean
    # PCA through the N x N Gram matrix (N patches << pixels): eigenvectors give the modes directly
    evals, evecs = np.linalg.eigh(xc @ xc.T)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.maximum(evals[order], 0.0), evecs[:, order]
    sig = np.sqrt(evals)
    modes = (evecs[:, :N_MODES].T @ xc) / np.maximum(sig[:N_MODES, None], 1e-9)
    coeff = xc @ modes.T
    edges = np.quantile(openings, np.linspace(0, 1, N_BINS + 1))
    centres, table = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (openings >= lo) & (openings <= hi)
        centres.append(float(np.median(openings[sel])))
        # the bin's mean mouth: smooth from bin to bin (a single "typical" real mouth per bin was tried and
        # jumps between people and lighting from one bin to the next)
        table.append(coeff[sel].mean(0))
    explained = float((sig[:N_MODES] ** 2).sum() / (sig ** 2).sum())
    meta = {"n_patches": int(len(patches)), "clips": sources, "min_opening": MIN_OPENING,
            "explained_variance": round(explained, 4), "opening_range": [float(openings.min()), float(openings.max())]}
    return MouthPrior(mean=mean.astype(np.float32), modes=modes.astype(np.float32),
                      openings=np.array(centres, np.float32), coeffs=np.array(table, np.float32),
                      skin_tint=np.asarray(tint, np.float32), meta=meta)


def collect(videos: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Patches, openings, median skin tint and clip names from every clip in `videos`."""
    warper = MeshWarper(fan_triangles(), (PATCH_H, PATCH_W))
    all_p, all_o, tints, names = [], [], [], []
    for path in sorted(videos.glob("*.mp4")):
        p, o, t = clip_patches(path, warper)
        print(f"{path.name}: {len(p)} open-mouth patches")
        if len(p):
            all_p.append(p)
            all_o.append(o)
            tints.append(t)
            names.append(path.name)
    return np.concatenate(all_p), np.concatenate(all_o), np.median(np.stack(tints), 0), names


def train(videos: Path, out: Path, cache: Path | None = None) -> MouthPrior:
    """Build the prior from every clip in `videos` and save it to `out` (patches reused from `cache` if given)."""
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            patches, openings, tint, names = data["patches"], data["openings"], data["tint"], list(data["names"])
    else:
        patches, openings, tint, names = collect(videos)
        if cache is not None:
            np.savez(cache, patches=patches, openings=openings, tint=tint, names=np.array(names))
    prior = fit_prior(patches, openings, tint, names)
    prior.save(out)
    print(json.dumps(prior.meta, indent=1))
    return prior


def main() -> None:
    """Command-line entry: train and save the prior."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS)
    ap.add_argument("--out", type=Path, default=PRIOR_PATH)
    ap.add_argument("--cache", type=Path, default=None, help="save/reuse the extracted patches here (.npz)")
    args = ap.parse_args()
    train(args.videos, args.out, args.cache)


if __name__ == "__main__":
    main()
