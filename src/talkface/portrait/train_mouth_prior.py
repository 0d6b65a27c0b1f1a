"""Train the inner-mouth appearance prior from real talking clips (reproduces `portrait/data/mouth_prior.npz`).

    python -m talkface.portrait.train_mouth_prior [--videos ../shared/data/videos] [--out PATH]

Recipe: track every clip (25 fps); keep frames whose mouth opening (inner gap / inner width) is at least
`MIN_OPENING` and whose inner mouth is at least `MIN_MOUTH_WIDTH_PX` wide; warp each inner-lip polygon (shrunk by
`SAMPLE_SHRINK` about its centre) into the normalised mouth patch (fan of triangles, `mouth.py`); divide by the
clip's median skin luminance (exposure); per `N_BINS` quantile bin of opening, the mean patch of all speakers plus
the fine detail of one chosen speaker (`fit_prior`). Only the training clips of `talkface.splits` are used.
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
N_BINS = 10
MIN_PER_BIN = 3  # the detail speaker needs this many open-mouth frames in every opening bin
DETAIL_SIGMA = 3.0  # patch pixels: finer than this is the detail speaker's, coarser is everyone's mean
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


def _sharpness(patches: np.ndarray) -> np.ndarray:
    """[N] mean gradient magnitude of each patch's luminance inside the patch ellipse (detail, not blur)."""
    lum = patches @ np.array([0.299, 0.587, 0.114], np.float32)
    gy, gx = np.gradient(lum, axis=(1, 2))
    inner = patch_mask() > 0
    inner[:, :1] = inner[:, -1:] = False
    return np.sqrt(gx ** 2 + gy ** 2)[:, inner].mean(1)


def fit_prior(patches: np.ndarray, openings: np.ndarray, clip_ids: np.ndarray, tints: np.ndarray,
              sources: list[str]) -> MouthPrior:
    """Per opening bin: the mean of all speakers' patches plus the fine detail of one speaker's typical patch.

    Bins are quantiles of all openings. The mean alone is the least-error texture but a uniform blur (teeth of
    many people never line up); the detail (patch minus its Gaussian blur, sigma `DETAIL_SIGMA` patch pixels)
    of one real speaker's medoid patch in that bin puts tooth edges and lip-rim shading back without moving the
    brightness or colour. The detail speaker is the clip with at least `MIN_PER_BIN` patches in every bin whose
    bin means are closest to everyone's (typical mouths) relative to its sharpness (real detail, not blur):
    score = distance to the global bin means / median sharpness. One speaker for all bins, so the detail never
    jumps between people as the opening changes.
    """
    import cv2

    mask = patch_mask()[..., None]
    x = (patches * mask).astype(np.float32)
    flat = x.reshape(len(x), -1)
    edges = np.quantile(openings, np.linspace(0, 1, N_BINS + 1))
    bins = np.clip(np.searchsorted(edges, openings, side="right") - 1, 0, N_BINS - 1)
    means = np.stack([x[bins == b].mean(0) for b in range(N_BINS)])
    sharp = _sharpness(x)
    scores = {}
    for c in np.unique(clip_ids):
        sel = clip_ids == c
        if np.bincount(bins[sel], minlength=N_BINS).min() < MIN_PER_BIN:
            continue
        dist = np.mean([np.sqrt(np.mean((x[sel & (bins == b)].mean(0) - means[b]) ** 2)) for b in range(N_BINS)])
        scores[int(c)] = float(dist / max(float(np.median(sharp[sel])), 1e-6))
    if not scores:
        raise ValueError(f"no training clip has {MIN_PER_BIN} open-mouth patches in every opening bin")
    best = min(scores, key=scores.get)
    centres, textures = [], []
    for b in range(N_BINS):
        idx = np.flatnonzero((clip_ids == best) & (bins == b))
        pick = x[idx[int(np.argmin(np.linalg.norm(flat[idx] - flat[idx].mean(0), axis=1)))]]
        detail = pick - cv2.GaussianBlur(pick, (0, 0), DETAIL_SIGMA)
        textures.append(((means[b] + detail) * mask).reshape(-1))
        centres.append(float(np.median(openings[bins == b])))
    meta = {"n_patches": int(len(patches)), "clips": sources, "detail_speaker": sources[best],
            "min_opening": MIN_OPENING, "detail_sigma": DETAIL_SIGMA,
            "clip_scores": {sources[c]: round(v, 4) for c, v in sorted(scores.items())},
            "opening_range": [float(openings.min()), float(openings.max())]}
    return MouthPrior(openings=np.array(centres, np.float32), exemplars=np.stack(textures).astype(np.float32),
                      skin_tint=np.median(tints, 0).astype(np.float32), meta=meta)


def collect(videos: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Patches, openings, clip index per patch, each clip's skin tint [C,3] and clip names from the training clips in
    `videos` (the held-out clips of `talkface.splits` are never used)."""
    from ..splits import HELD_OUT_VIDEOS

    warper = MeshWarper(fan_triangles(), (PATCH_H, PATCH_W))
    all_p, all_o, all_c, tints, names = [], [], [], [], []
    for path in sorted(videos.glob("*.mp4")):
        if path.name in HELD_OUT_VIDEOS:
            continue
        p, o, t = clip_patches(path, warper)
        print(f"{path.name}: {len(p)} open-mouth patches")
        if len(p):
            all_p.append(p)
            all_o.append(o)
            all_c.append(np.full(len(p), len(names), np.int64))
            tints.append(t)
            names.append(path.name)
    return np.concatenate(all_p), np.concatenate(all_o), np.concatenate(all_c), np.stack(tints), names


def train(videos: Path, out: Path, cache: Path | None = None) -> MouthPrior:
    """Build the prior from every clip in `videos` and save it to `out` (patches reused from `cache` if given)."""
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            patches, openings, clip_ids = data["patches"], data["openings"], data["clip_ids"]
            tints, names = data["tints"], list(data["names"])
    else:
        patches, openings, clip_ids, tints, names = collect(videos)
        if cache is not None:
            np.savez(cache, patches=patches, openings=openings, clip_ids=clip_ids, tints=tints, names=np.array(names))
    prior = fit_prior(patches, openings, clip_ids, tints, names)
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
