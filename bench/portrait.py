"""Portrait renderer speed: mesh-warp time and frames/s at 256² and 512², alone and end to end with H.264 encoding.

    .venv/bin/python bench/portrait.py

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


def main() -> None:
    """Run both sizes and write the `portrait` section of docs/BENCHMARKS.md."""
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
