"""One photo + speech (`talkface animate`) on the held-out talking clips: lip sync, identity, stillness, speed.

    python bench/animate.py      → prints a table and writes the "animate" section of docs/BENCHMARKS.md

Protocol (issue 8): the first frame of each held-out clip of ../shared/data/videos (talkface.splits) is animated
with that clip's own audio at 512²; the generated video and the real clip are tracked with the same tracker.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._report import SHARED_DATA, machine_line, markdown_table, write_section  # noqa: E402
from talkface.eval import av_offset, footage_synced_correlation, mouth_correlation, track_once  # noqa: E402
from talkface.eval.sync import encoder_openness  # noqa: E402
from talkface.face import mouth_opening  # noqa: E402
from talkface.face.morphable import region_indices  # noqa: E402
from talkface.face.canonical import canonical_face  # noqa: E402
from talkface.media import iter_frames, load_audio  # noqa: E402
from talkface.motion import MotionControls  # noqa: E402
from talkface.motion.expression import expression_sync_lead  # noqa: E402
from talkface.portrait import animate  # noqa: E402
from talkface.splits import HELD_OUT_VIDEOS  # noqa: E402


def first_frame(path: Path) -> np.ndarray:
    return next(iter(iter_frames(path)))


def identity_drift(source_shape: np.ndarray, generated_track) -> float:
    """Median over frames of the mean distance of non-mouth canonical points to `source_shape` [478,3] (the source
    photo's), ÷ inter-ocular (6.3 cm)."""
    mouth = region_indices(canonical_face().mean)["mouth"]
    keep = np.setdiff1d(np.arange(468), mouth)
    diff = np.linalg.norm(generated_track.landmarks3d[:, keep] - np.asarray(source_shape)[None, keep], axis=-1)
    return float(np.median(diff.mean(1)) / 6.3)


def tracker_floor(model, out_dir: Path, n: int = 50) -> float:
    """Identity drift of a motionless video of the photo's own crop (encoded and tracked like the generated video):
    what re-tracking alone costs, i.e. the drift a perfect renderer of a motionless face would show."""
    from talkface.face import track_video
    from talkface.media import VideoWriter

    path = out_dir / "floor.mp4"
    with VideoWriter(path, fps=25) as writer:
        for _ in range(n):
            writer.write(model.crop)
    return identity_drift(model.track.landmarks3d[0], track_video(path))


def background_change(path: Path, source_rgb: np.ndarray) -> float:
    """Mean absolute change (0–255) over all frames of the pixels outside the person (selfie segmentation)."""
    from talkface.face import person_masks
    frames = list(iter_frames(path))
    person = next(person_masks([frames[0]])) > 0.2
    import cv2
    grown = cv2.dilate(person.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    bg = ~grown
    return float(np.mean([np.abs(f[bg].astype(np.int16) - frames[0][bg]).mean() for f in frames]))


def run_clip(clip: Path, out_dir: Path, cache: dict) -> dict:
    image = first_frame(clip)
    out = out_dir / f"{clip.stem}.mp4"
    t0 = time.perf_counter()
    result = animate(image, out, audio=clip, size=512)
    seconds = time.perf_counter() - t0
    gen, real = track_once(out, cache), track_once(clip, cache)
    n = min(gen.n_frames, real.n_frames)
    g, r = mouth_opening(gen)[:n], mouth_opening(real)[:n]
    audio = load_audio(clip)
    speech = encoder_openness(audio, 16000, n)
    off_gen, off_real = av_offset(g, speech), av_offset(r, speech)
    still = out_dir / f"{clip.stem}_still.mp4"
    animate(image, still, audio=clip, size=512, controls=MotionControls(still=True))
    return {"clip": clip.stem, "frames": result.motion.n_frames, "fps": result.motion.n_frames / seconds,
            "corr": mouth_correlation(g, r), "off_gen": off_gen.offset, "off_real": off_real.offset,
            "corr_synced": footage_synced_correlation(g, r, off_real.offset, expression_sync_lead()),
            "identity": identity_drift(result.model.track.landmarks3d[0], gen),
            "identity_clip_f0": identity_drift(real.landmarks3d[0], gen),
            "floor": tracker_floor(result.model, out_dir),
            "bg_still": background_change(still, image)}


def main() -> None:
    """Run every held-out clip and write the section; `--clips a.mp4 b.mp4` runs only those and writes nothing."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", help="held-out clip names to run (a partial run does not write docs)")
    args = parser.parse_args()
    names = args.clips or list(HELD_OUT_VIDEOS)
    cache: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_clip(SHARED_DATA / "videos" / name, Path(tmp), cache) for name in names]
    table = markdown_table(
        ["held-out clip", "frames", "end-to-end fps (512², no TTS)", "mouth-opening corr vs real (lag 0)",
         "same, footage sync undone", "AV offset generated / real (frames)", "identity drift (% IOD)",
         "re-tracking floor (% IOD)",
         "drift vs the clip's smoothed frame-0 track (% IOD)", "background change, --still (0–255)"],
        [[r["clip"], r["frames"], f"{r['fps']:.1f}", f"{r['corr']:.2f}", f"{r['corr_synced']:.2f}",
          f"{r['off_gen']:+d} / {r['off_real']:+d}",
          f"{100 * r['identity']:.2f}", f"{100 * r['floor']:.2f}", f"{100 * r['identity_clip_f0']:.2f}",
          f"{r['bg_still']:.2f}"] for r in rows])
    mean_corr = statistics.mean(r["corr"] for r in rows)
    mean_synced = statistics.mean(r["corr_synced"] for r in rows)
    lead = expression_sync_lead()
    rel = [r["off_gen"] - r["off_real"] for r in rows]
    calibrated = [r["off_gen"] - lead for r in rows]
    body = (f"## One photo + speech: `talkface animate` (`bench/animate.py`)\n\n{machine_line()}\n\n"
            "Protocol: the first frame of each held-out clip (talkface.splits) animated at 512² with the clip's own "
            "audio (default controls, seed 0). Speed = frames / wall time of the whole `animate` call (portrait "
            "build, speech features, motion, render, H.264+AAC encode; no TTS). Mouth-opening corr = Pearson of "
            "the inner-lip gap tracked on the generated vs the real video, at lag 0 and with the real footage's "
            "own sync error undone (`talkface.eval.footage_synced_correlation`: the real mouth moved by its AV "
            f"offset minus the lip lead of in-sync footage, {lead:+d} frame = the median offset of the lip "
            "generator's training clips, to which their speech was aligned). AV offset = lag maximising the "
            "correlation of mouth opening with the encoder's openness signal (k > 0: audio late); in-sync "
            f"footage measures {lead:+d}, so the generated offset minus {lead:+d} is the sync error. Identity drift = "
            "median over frames of the mean distance of non-mouth canonical landmarks (generated video, tracked) to "
            "the source photo's own landmarks (the photo tracked as a still, exactly what the renderer animates), "
            "÷ inter-ocular distance. Re-tracking floor = the same drift for a motionless 50-frame video of the "
            "photo's crop (H.264, video tracker): what tracking alone costs. The last drift column compares with "
            "the real clip's frame 0 as tracked inside the clip (this bench's reference until now): the video "
            "tracker's zero-phase pose smoothing mixes in the following frames, so when the head moves fast at the "
            "start (wda_aoc: pitch 0.5° raw → 2.0° smoothed) that reference is not the photo's shape (3.7% IOD apart "
            "on wda_aoc with no motion rendered at all). Background change = mean |Δ| of pixels outside the "
            "dilated person mask with `--still`.\n\n"
            + table + f"\n\nMean mouth-opening correlation {mean_corr:.2f} at lag 0, **{mean_synced:.2f}** with the "
            f"footage's sync error undone (target ≥ 0.6); generated AV offset − lip lead {calibrated} frames "
            f"(target 0 ± 1; generated − real {rel}); median speed "
            f"{statistics.median(r['fps'] for r in rows):.1f} frames/s "
            f"(target ≥ 25); largest identity drift {100 * max(r['identity'] for r in rows):.2f}% IOD "
            "(target ≤ 2).\n")
    if args.clips:
        print(body)
        return
    write_section("animate", body)


if __name__ == "__main__":
    main()
