"""Build the shipped canonical face and universal morphable model from the clips in ../shared/data.

    python -m talkface.face.build_canonical [--data DIR]

1. track every training clip of videos/ and driving/ (split: talkface.splits);
2. generalised Procrustes over every 3rd frame → a first mean; the 25% of mesh points that move least
   in the head frame become the stable set; Procrustes again on those → canonical.npz;
3. re-track with that canonical face and fit the regional PCA basis → morphable.npz.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..media import iter_frames
from ..splits import clips, shared_data_dir
from .canonical import CANONICAL_PATH, align_to, canonical_face, procrustes_mean
from .morphable import MORPHABLE_PATH, fit_morphable, identity_mean
from .pipeline import build_track
from .tracker import track_raw

STABLE_FRACTION = 0.25


def _raw_tracks(paths: list[Path]):
    out = []
    for p in paths:
        raw = track_raw(iter_frames(p))
        if raw.found.mean() < 0.9 or raw.cuts():
            print(f"skip {p.name}: found {raw.found.mean():.2f}, cuts {raw.cuts()}")
            continue
        print(f"tracked {p.name}: {len(raw.found)} frames")
        out.append((p, raw))
    return out


def _stable_points(per_person: list[np.ndarray], mean: np.ndarray) -> np.ndarray:
    """Mesh points with the least motion in the head frame, averaged over people."""
    motion = np.mean([align_to(s, mean).std(0).sum(-1) for s in per_person], axis=0)[:468]
    return np.sort(np.argsort(motion)[: int(STABLE_FRACTION * 468)])


def build(data: Path) -> dict:
    paths = clips("videos", False, data) + clips("driving", False, data)
    raws = _raw_tracks(paths)
    per_person = [raw.points[raw.found][::3].astype(np.float64) for _, raw in raws]
    mean0 = procrustes_mean(np.concatenate(per_person))
    stable = _stable_points(per_person, mean0)
    weights = np.zeros(478)
    weights[stable] = 1.0
    mean = procrustes_mean(np.concatenate(per_person), weights=weights)
    CANONICAL_PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(CANONICAL_PATH, mean=mean.astype(np.float32), stable=stable.astype(np.int16))
    canonical_face.cache_clear()
    shapes = [build_track(raw, 25.0).landmarks3d for _, raw in raws]
    model = fit_morphable(shapes, identity_mean(np.concatenate(shapes)))
    model.save(MORPHABLE_PATH)
    report = {"clips": [p.name for p, _ in raws], "frames": int(sum(len(s) for s in shapes)),
              "stable_points": int(len(stable)),
              "explained_stdev_cm": {r: [round(float(v), 4) for v in model.stdev[r]] for r in model.regions}}
    (CANONICAL_PATH.parent / "build_report.json").write_text(json.dumps(report, indent=1))
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    print(json.dumps(build(ap.parse_args().data), indent=1))


if __name__ == "__main__":
    main()
