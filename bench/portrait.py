"""Portrait renderer speed: mesh-warp time and frames/s at 256² and 512², alone and end to end with H.264 encoding.

    .venv/bin/python bench/portrait.py            → the "portrait" section (speed)
    .venv/bin/python bench/portrait.py --quality  → the "portrait-quality" section (novel views, inner mouth)

Motion is synthetic but real-shaped: the shipped morphable model's first mouth and eye modes and a head sway,
so every frame moves vertices, refreshes the inner-mouth texture and re-warps the whole crop.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import SHARED_DATA, machine_line, markdown_table, median_time, write_section  # noqa: E402

PORTRAIT = SHARED_DATA / "portraits" / "people_0.png"
SPEECH = SHARED_DATA / "speech" / "english_60s.wav"
N_FRAMES = 100


def motion(model, n: int):
    """(poses [n,6], shapes [n,478,3]): speech-like mouth opening, a blink, and a slow head sway."""
    from talkface.face import shipped_morphable
    from talkface.face.geometry import axis_angle_to_matrix, euler_to_axis_angle, matrix_to_axis_angle

    pose0, shape0 = model.track.pose[0], model.track.landmarks3d[0]
    mm = shipped_morphable().with_identity(shape0)
    t = np.arange(n) / 25.0
    mouth = np.zeros((n, mm.bases["mouth"].shape[0]), np.float32)
    mouth[:, 0] = 2.5 * mm.stdev["mouth"][0] * np.abs(np.sin(2 * np.pi * 2.1 * t))
    eyes = np.zeros((n, mm.bases["eyes"].shape[0]), np.float32)
    eyes[(t % 3.0) < 0.2, 0] = 3 * mm.stdev["eyes"][0]
    shapes = mm.decode({"mouth": mouth, "eyes": eyes})
    poses = np.repeat(pose0[None], n, 0).astype(np.float32)
    sway = np.stack([8 * np.sin(2 * np.pi * 0.3 * t), 4 * np.sin(2 * np.pi * 0.5 * t),
                     3 * np.sin(2 * np.pi * 0.2 * t)], 1)
    turn = axis_angle_to_matrix(euler_to_axis_angle(sway))
    poses[:, :3] = matrix_to_axis_angle(turn @ axis_angle_to_matrix(pose0[:3]))
    return poses, shapes


def bench_size(size: int) -> list[object]:
    """One table row: build time, warp ms, render ms, render fps, end-to-end fps with encoding."""
    from talkface.media import VideoWriter
    from talkface.portrait import PortraitRenderer, build_portrait

    t0 = time.perf_counter()
    model = build_portrait(PORTRAIT, size=size)
    build_s = time.perf_counter() - t0
    renderer = PortraitRenderer(model)
    poses, shapes = motion(model, N_FRAMES)
    dst, depth = renderer.vertices(poses[10], shapes[10])
    warp_s = median_time(lambda: renderer.warper.warp(renderer.atlas, model.src_xy, dst, depth=depth),
                         repeats=30, warmup=3)

    def render_all():
        for p, s in zip(poses, shapes):
            renderer.render(p, s)

    render_s = median_time(render_all, repeats=3, warmup=1) / N_FRAMES

    def end_to_end():
        with tempfile.TemporaryDirectory() as tmp:
            with VideoWriter(Path(tmp) / "out.mp4", fps=25) as writer:
                for p, s in zip(poses, shapes):
                    writer.write(renderer.render(p, s))

    e2e_s = median_time(end_to_end, repeats=3, warmup=1) / N_FRAMES
    return [f"{size}²", f"{build_s:.2f}", f"{warp_s * 1e3:.1f}", f"{render_s * 1e3:.1f}", f"{1 / render_s:.0f}",
            f"{1 / e2e_s:.0f}", len(model.triangles)]


def bench_animate(size: int) -> list[object]:
    """One row: the whole `animate` (photo + 60 s of speech → MP4) timed once, with frames/s over all of it."""
    from talkface.portrait.animate import animate

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = animate(PORTRAIT, Path(tmp) / "out.mp4", audio=SPEECH, size=size)
        seconds = time.perf_counter() - t0
    n = result.motion.n_frames
    return [f"{size}²", f"{result.seconds:.1f}", n, f"{seconds:.1f}", f"{n / seconds:.0f}",
            f"{result.seconds / seconds:.1f}x"]


# ---- quality: the photo re-rendered at the real clip's later poses and expressions, against those real frames ----
TURN_CLIPS = ("videos/feifeili_clip1.mp4", "driving/liveportrait_d3.mp4", "videos/kitchen_talk.mp4",
              "videos/obama_clip2.mp4")
MOUTH_CLIPS = ("videos/obama_clip2.mp4", "videos/feifeili_clip3.mp4", "videos/andrew_clip2.mp4")
MAX_QUALITY_FRAMES = 300


def reenactment(clip: Path, cache: dict):
    """(frames, track, model): the clip's first `MAX_QUALITY_FRAMES` frames at 25 fps, its track, and the
    512² portrait model of its first frame."""
    from talkface.eval import track_once
    from talkface.media import iter_frames
    from talkface.portrait import build_portrait

    frames = [f for _, f in zip(range(MAX_QUALITY_FRAMES), iter_frames(clip, 25.0))]
    track = track_once(clip, cache)
    return frames, track, build_portrait(frames[0], size=512)


def driven(model, track, t: int) -> tuple[np.ndarray, np.ndarray]:
    """(pose, shape) that re-enacts frame `t` of `track` on the photo: the rotation and translation relative to the
    clip's frame 0 applied on the photo's pose, the expression offsets on the photo's rest shape."""
    from talkface.face.geometry import axis_angle_to_matrix, matrix_to_axis_angle

    r0v = axis_angle_to_matrix(track.pose[0, :3].astype(np.float64))
    r0p = axis_angle_to_matrix(model.track.pose[0, :3].astype(np.float64))
    pose = model.track.pose[0].copy()
    pose[:3] = matrix_to_axis_angle(axis_angle_to_matrix(track.pose[t, :3].astype(np.float64)) @ r0v.T @ r0p)
    pose[3:] = model.track.pose[0, 3:] + track.pose[t, 3:] - track.pose[0, 3:]
    return pose, track.landmarks3d[t] - track.landmarks3d[0] + model.track.landmarks3d[0]


def _mask(points: np.ndarray, size: int) -> np.ndarray:
    import cv2
    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [np.round(points).astype(np.int32)], 1)
    return m > 0


def turn_row(clip: Path, cache: dict) -> list[object]:
    """Face-region MAE (0–255, lips excluded) of the re-enacted frames whose real head turned > 12° from frame 0,
    with and without the side completion, and of frames within 5° (control); background MAE (outside the person
    in both the photo and the real frame) over all those frames, with and without the background pinned."""
    import cv2
    from dataclasses import replace
    from talkface.face.geometry import euler_degrees
    from talkface.face.landmarks import FACE_OVAL, LIPS_OUTER
    from talkface.face.mediapipe_models import PersonSegmenter
    from talkface.portrait import PortraitRenderer, build_portrait

    frames, track, model = reenactment(clip, cache)
    yaw = euler_degrees(track.pose[:, :3])[:, 0]
    renderers = {"with": PortraitRenderer(model), "without": PortraitRenderer(replace(model, sides=None)),
                 "unpinned": PortraitRenderer(build_portrait(frames[0], size=512, pin_background=False))}
    err = {"with": [], "without": []}
    small, background = [], {"with": [], "unpinned": []}
    segmenter = PersonSegmenter()
    grow = np.ones((21, 21), np.uint8)
    photo_person = cv2.dilate((segmenter.mask(model.crop) > 0.3).astype(np.uint8), grow) > 0
    for t in range(1, min(len(frames), track.n_frames), 2):
        turned = abs(yaw[t] - yaw[0])
        if 5 <= turned <= 12:
            continue
        pose, shape = driven(model, track, t)
        lm = model.box.to_crop(track.landmarks2d[t], 512)
        lips = cv2.dilate(_mask(lm[list(LIPS_OUTER)], 512).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        mask = _mask(lm[list(FACE_OVAL)], 512) & ~lips
        real_u8 = model.box.extract(frames[t], 512)
        real = real_u8.astype(np.float32)
        wall = ~(photo_person | (cv2.dilate((segmenter.mask(real_u8) > 0.3).astype(np.uint8), grow) > 0))
        for k, r in renderers.items():
            if k == "without" and turned < 5:
                continue
            diff = np.abs(r.render(pose, shape).astype(np.float32) - real).mean(2)
            if k in background and wall.any():
                background[k].append(float(diff[wall].mean()))
            if k != "unpinned":
                (small if turned < 5 else err[k]).append(float(diff[mask].mean()))
    segmenter.close()
    n = len(err["with"])
    fmt = (lambda v: f"{np.mean(v):.2f}" if len(v) else "–")
    return [clip.name, f"{yaw.min() - yaw[0]:+.0f}…{yaw.max() - yaw[0]:+.0f}°", n, fmt(err["without"]),
            fmt(err["with"]), fmt(small), fmt(background["unpinned"]), fmt(background["with"])]


def mouth_row(clip: Path, cache: dict) -> list[object]:
    """Inner-lip region of the re-enacted frames whose real mouth is open ≥ 0.2: MAE against the real frames,
    sharpness (mean luminance gradient) of the rendered vs the real inner mouth, 10th-percentile luminance."""
    from talkface.face.landmarks import LIPS_INNER
    from talkface.portrait import PortraitRenderer
    from talkface.portrait.mouth import luminance, mouth_opening

    frames, track, model = reenactment(clip, cache)
    renderer = PortraitRenderer(model)
    rows = []
    for t in range(1, min(len(frames), track.n_frames), 2):
        inner = model.box.to_crop(track.landmarks2d[t], 512)[list(LIPS_INNER)]
        if mouth_opening(inner) < 0.2:
            continue
        c = inner.mean(0)
        mask = _mask(c + (inner - c) * np.array([0.9, 0.8]), 512)
        if mask.sum() < 30:
            continue
        real = model.box.extract(frames[t], 512).astype(np.float32)
        out = renderer.render(*driven(model, track, t)).astype(np.float32)
        lr, lo = luminance(real), luminance(out)
        sharp = [float(np.hypot(*np.gradient(v))[mask].mean()) for v in (lo, lr)]
        rows.append([float(np.abs(out - real).mean(2)[mask].mean()), *sharp, float(np.percentile(lo[mask], 10)),
                     float(np.percentile(lr[mask], 10))])
    a = np.array(rows)
    return [clip.name, len(a), f"{a[:, 0].mean():.1f}", f"{a[:, 1].mean():.1f} / {a[:, 2].mean():.1f}",
            f"{a[:, 3].mean():.0f} / {a[:, 4].mean():.0f}"]


def quality() -> None:
    """Write the `portrait-quality` section: large head turns and the inner mouth against real frames."""
    cache: dict = {}
    turn = [turn_row(SHARED_DATA / c, cache) for c in TURN_CLIPS if (SHARED_DATA / c).is_file()]
    mouth = [mouth_row(SHARED_DATA / c, cache) for c in MOUTH_CLIPS if (SHARED_DATA / c).is_file()]
    body = (f"### portrait quality against real frames (`bench/portrait.py --quality`)\n\n{machine_line()}. The first "
            "frame of a real clip is the photo (512² crop); every other frame of the clip (first "
            f"{MAX_QUALITY_FRAMES}) is re-enacted on it from the clip's own track (rotation and translation relative "
            "to frame 0, expression offsets on the photo's shape) and compared with the real frame.\n\n"
            "**Large head turns** (face oval minus lips, mean |Δ| in 0–255; frames whose yaw differs from frame 0 "
            "by more than 12°, with and without the side completion of `portrait/sides.py`; frames within 5° as "
            "a control. Background = pixels outside the (dilated) person in both the photo and the real frame, "
            "over all those frames, with the surround moving everywhere vs pinned on the background by the "
            "person segmentation):\n\n"
            + markdown_table(["clip", "yaw range vs frame 0", "turned frames", "face MAE without completion",
                              "face MAE with completion", "face MAE, frames within 5°",
                              "background MAE, background moving", "background MAE, background pinned"], turn)
            + "\n\n**Inner mouth** (held-out clips; inner-lip polygon shrunk to 90 % × 80 %, frames whose real mouth "
            "opening ≥ 0.2; shipped prior):\n\n"
            + markdown_table(["clip", "open frames", "MAE", "sharpness rendered / real",
                              "10th-pct luminance rendered / real"], mouth)
            + "\n\nThe prior's comparison with its previous version is in `portrait/data/MOUTH_PRIOR.md`.")
    write_section("portrait-quality", body)


def main() -> None:
    """Run both sizes and write the `portrait` section of docs/BENCHMARKS.md (`--quality`: the quality section)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality", action="store_true",
                        help="write the portrait-quality section (novel views, inner mouth) instead")
    if parser.parse_args().quality:
        quality()
        return
    if not PORTRAIT.is_file():
        print(f"skipped: {PORTRAIT} not found")
        return
    load_before = os.getloadavg()[0]
    rows = [bench_size(256), bench_size(512)]
    animate_rows, animate_note = [], ""
    if SPEECH.is_file():
        try:
            animate_rows = [bench_animate(512)]
        except Exception as exc:  # the motion/audio stages are separate work; report why this row is missing
            reason = " ".join(str(exc).split())[:160]
            animate_note = f"\n\n`animate` end to end not measured: {exc.__class__.__name__}: {reason}"
    table = markdown_table(["crop", "build s", "warp ms", "render ms/frame", "render fps",
                            "end-to-end fps (render + H.264)", "triangles"], rows)
    body = (f"### portrait (one photo → frames)\n\n{machine_line()}; `{PORTRAIT.name}`, {N_FRAMES} frames of "
            "synthetic speech-like motion (mouth, blink, head sway); medians. The machine is shared: load average "
            f"{load_before:.1f} at the start (on 2 cores), so numbers are noisy.\n\n" + table
            + "\n\n`warp ms` is the mesh warp alone (z-buffer raster + bilinear resolve); `render` adds "
            "projection, surround motion, eyes, mouth texture; end to end adds libx264 (veryfast, crf 18) encoding.")
    if animate_rows:
        body += ("\n\n`animate` end to end (portrait model, speech features, motion generation, rendering, "
                 f"encoding with audio; one run on `{SPEECH.name}`):\n\n"
                 + markdown_table(["crop", "audio s", "frames", "wall s", "frames/s", "real-time factor"],
                                  animate_rows))
    body += animate_note
    write_section("portrait", body)


if __name__ == "__main__":
    main()
