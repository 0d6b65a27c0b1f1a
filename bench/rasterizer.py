"""Benchmark of the CPU Gaussian rasterizer (talkface.render.splat): forward and forward+backward times, throughput
against this machine's measured fp32 ceiling, peak memory and warm-start time. Writes the "rasterizer" section of
docs/BENCHMARKS.md.

    .venv/bin/python bench/rasterizer.py [--rounds 3] [--repeats 7] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import talkface  # noqa: E402,F401  (first: sets NUMBA_THREADING_LAYER / OMP_WAIT_POLICY before any OpenMP loads)
import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench._report import machine_line, markdown_table, median_time, write_section  # noqa: E402
from talkface.render.splat import _kernels as K  # noqa: E402
from talkface.render.splat import face_like_scene, project_gaussians, rasterize  # noqa: E402
from talkface.render.splat.rasterizer import TILE_CHUNK, aligned_empty, bin_gaussians, pack_params  # noqa: E402
from talkface.render.splat.scenes import face_camera  # noqa: E402

# Arithmetic per processed pixel-Gaussian pair in the inner loops (forward: _alphas + _blend / _composite_two,
# backward: _backward_run, in _kernels.py), counted from the source: add, sub, mul = 1, FMA = 2, the one division = 1;
# compares, min/max, selects and sign flips are not counted, nor the forward's per-pixel pair counter (bookkeeping
# for the stop index) or the offsets the backward's second pass recomputes instead of storing.
# forward, pass 1 (_alphas): offsets 2, exponent 8 (2 mul + 3 FMA, opacity folded in as log(opacity)), polynomial
# exp 18 (7 FMA + 4 squarings); pass 2 (_blend and the feature sums): transmittance 2 (1 - alpha, times T),
# weight 1, 4 feature sums 8 (per channel w g + (v h + F) for the two Gaussians of a pass: 4 flops per 2 pairs).
FLOPS_PER_PAIR_FORWARD = 39
# backward, pass 1 as the forward's (28); pass 2: feature dot 7, weight 1, running sum 2, 1 - alpha 1,
# dL/dalpha 4 (incl. the division), 4 feature sums 8, opacity sum 2, dL/dpower 1, offsets x dL/dpower 2,
# 5 moment sums 8, transmittance 1.
FLOPS_PER_PAIR_BACKWARD = 65
CONFIGS = [(256, 5000), (256, 20000), (256, 50000), (512, 5000), (512, 20000), (512, 50000)]
def matmul_gflops(size: int = 2048, repeats: int = 7) -> float:
    """fp32 GEMM GFLOP/s with torch's threads: the machine's practical arithmetic ceiling."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    seconds = median_time(lambda: torch.mm(a, b), repeats=repeats, warmup=2)
    return 2 * size**3 / seconds / 1e9


class KernelRig:
    """Pre-projected, pre-binned inputs to time the numba raster kernels alone."""

    def __init__(self, size: int, n: int):
        scene, cam = face_like_scene(n, seed=0), face_camera(size)
        with torch.no_grad():
            proj = project_gaussians(scene["means"], scene["log_scales"], scene["quats"], cam)
            self.params, order = pack_params(proj.means2d, proj.conics, torch.sigmoid(scene["opacity_logits"]),
                                             scene["colors"], proj.depths)
        self.valid, self.size = proj.valid.numpy()[order], size
        self.bins = self.bin()
        self.feat = aligned_empty((size, size, 4), np.float32)  # as the rasterizer allocates them
        self.trans = aligned_empty((size, size), np.float32)
        self.last = aligned_empty((size, size), np.int32)
        self.sub_end = np.empty((self.bins.tiles_x * self.bins.tiles_y, 4), np.int64)
        gen = np.random.default_rng(0)
        self.grad_feat = gen.standard_normal((size, size, 4), np.float32)
        self.grad_alpha = gen.standard_normal((size, size), np.float32)
        self.isect_grads = np.empty((self.bins.n_isect, K.N_GRADS), np.float32)
        self.forward()

    def bin(self):
        """Tile binning (exact culling, sort by tile) of the depth-sorted rows."""
        return bin_gaussians(self.params, self.valid, self.size, self.size)

    def forward(self):
        """The forward compositing kernel."""
        b = self.bins
        with numba.parallel_chunksize(TILE_CHUNK):
            K.forward(self.params, b.tile_start, b.gid, b.mask, self.size, self.size, b.tiles_x, self.feat,
                      self.trans, self.last, self.sub_end, numba.get_num_threads())

    def backward(self):
        """The backward kernel (per-intersection gradient sums), without the per-Gaussian reduce."""
        b = self.bins
        with numba.parallel_chunksize(TILE_CHUNK):
            K.backward(self.params, b.tile_start, b.gid, b.mask, self.size, self.size, b.tiles_x, self.feat,
                       self.trans, self.last, self.sub_end, self.grad_feat, self.grad_alpha, self.isect_grads,
                       numba.get_num_threads())

    def pairs(self) -> int:
        """Pixel-Gaussian pairs the kernels evaluate: 64 per (sub-tile, intersection) with its mask bit set, up to
        where the sub-tile's forward loop stopped (early termination)."""
        b, total = self.bins, 0
        for t in range(b.tiles_x * b.tiles_y):
            for s in range(4):
                total += int(((b.mask[b.tile_start[t]:self.sub_end[t, s]] >> s) & 1).sum())
        return total * K.SUB_PIXELS


def wall_and_cpu_ms(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock ms and median process CPU ms (all threads) of `fn()` after one warm-up call. CPU time
    is much less sensitive to other jobs on the machine: a quiet 2-thread run takes at least CPU / 2."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def min_cpu_ms(fn, repeats: int) -> float:
    """Smallest process CPU ms of `fn()` over `repeats` runs after one warm-up: with one thread this is close to
    what a quiet core takes, whatever else the machine is running."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return 1e3 * best


class single_thread:
    """Context: numba and torch on one thread (restored on exit)."""

    def __enter__(self):
        self.saved = numba.get_num_threads(), torch.get_num_threads()
        numba.set_num_threads(1)
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        numba.set_num_threads(self.saved[0])
        torch.set_num_threads(self.saved[1])


def pipeline_calls(size: int, n: int):
    """The two timed calls of a config: forward without autograd, and forward + MSE + backward to all params."""
    scene, cam = face_like_scene(n, seed=0), face_camera(size)
    leaves = {k: v.clone().requires_grad_(True) for k, v in scene.items()}
    target = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(1))
    bg = torch.tensor([0.1, 0.1, 0.1])

    def forward():
        with torch.no_grad():
            rasterize(**scene, camera=cam, background=bg)

    def forward_backward():
        out = rasterize(**leaves, camera=cam, background=bg)
        ((out["rgb"] - target) ** 2).mean().backward()
        for leaf in leaves.values():
            leaf.grad = None

    return forward, forward_backward


def time_single_thread(size: int, n: int, repeats: int) -> dict[str, float]:
    """Load-robust numbers: min CPU ms on one thread of the pipeline and the kernels."""
    forward, forward_backward = pipeline_calls(size, n)
    with single_thread():
        rig = KernelRig(size, n)
        return {"fwd": min_cpu_ms(forward, repeats), "fwd_bwd": min_cpu_ms(forward_backward, repeats),
                "bin": min_cpu_ms(rig.bin, repeats), "kfwd": min_cpu_ms(rig.forward, repeats),
                "kbwd": min_cpu_ms(rig.backward, repeats), "pairs": rig.pairs()}


def matmul_gflops_single_thread(size: int = 1024, repeats: int = 7) -> float:
    """fp32 GEMM GFLOP/s on one thread from the quickest CPU time: the one-core ceiling."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    with single_thread():
        ms = min_cpu_ms(lambda: torch.mm(a, b), repeats)
    return 2 * size**3 / (ms * 1e-3) / 1e9


def time_pipeline(size: int, n: int, repeats: int) -> dict[str, float]:
    """Median ms of forward (no grad) and forward+MSE+backward to all 3D parameters, projection included."""
    forward, forward_backward = pipeline_calls(size, n)
    fwd_ms, fwd_cpu = wall_and_cpu_ms(forward, repeats)
    fb_ms, fb_cpu = wall_and_cpu_ms(forward_backward, repeats)
    return {"fwd_ms": fwd_ms, "fwd_bwd_ms": fb_ms, "fwd_cpu_ms": fwd_cpu, "fwd_bwd_cpu_ms": fb_cpu}


def time_kernels(size: int, n: int, repeats: int) -> dict[str, float]:
    """Median ms of binning, the forward kernel and the backward kernel alone, plus the pair counts."""
    rig = KernelRig(size, n)
    return {"bin_ms": 1e3 * median_time(rig.bin, repeats), "kfwd_ms": 1e3 * median_time(rig.forward, repeats),
            "kbwd_ms": 1e3 * median_time(rig.backward, repeats), "pairs": rig.pairs(), "n_isect": rig.bins.n_isect}


def run_child(code: str) -> dict:
    """Run `code` in a fresh interpreter (same env) and parse the JSON it prints last."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


PEAK_RSS_CHILD = r"""
import json, torch
from talkface.render.splat import rasterize, face_like_scene
from talkface.render.splat.scenes import face_camera
def status_gb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
scene = {k: v.requires_grad_(True) for k, v in face_like_scene(10, seed=0).items()}
rasterize(**scene, camera=face_camera(32))["rgb"].sum().backward()
base = status_gb("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
scene = {k: v.requires_grad_(True) for k, v in face_like_scene(50000, seed=0).items()}
target = torch.rand(512, 512, 3)
for _ in range(3):
    out = rasterize(**scene, camera=face_camera(512))
    ((out["rgb"] - target) ** 2).mean().backward()
print(json.dumps({"base_gb": base, "peak_gb": status_gb("VmHWM")}))
"""

WARM_START_CHILD = r"""
import json, time, resource
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
from talkface.render.splat import rasterize, face_like_scene
from talkface.render.splat.scenes import face_camera
scene = {k: v.requires_grad_(True) for k, v in face_like_scene(20000, seed=0).items()}
out = rasterize(**scene, camera=face_camera(256))
t2 = time.perf_counter()
out["rgb"].sum().backward()
t3 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"torch_import_s": t1 - t0, "to_first_frame_s": t2 - t1, "first_backward_s": t3 - t2,
                  "total_s": t3 - t0, "cpu_s": ru.ru_utime + ru.ru_stime}))
"""


def measure(rounds: int, repeats: int, configs) -> tuple[dict, list[str]]:
    """Per config, the median over `rounds` of each round's median (and the quietest round)."""
    results, loads = {}, []
    for r in range(rounds):
        loads.append(f"{os.getloadavg()[0]:.1f}")
        for size, n in configs:
            row = {**time_pipeline(size, n, repeats), "ceil_gflops": matmul_gflops(repeats=5),
                   **time_kernels(size, n, repeats)}
            print(f"round {r + 1} {size}^2 / {n // 1000}k: " + ", ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
            results.setdefault((size, n), []).append(row)
    loads.append(f"{os.getloadavg()[0]:.1f}")
    return results, loads


def summarise(rows: list[dict], key: str, pick) -> float:
    """Combine one timing over rounds (median, or min = the quietest round)."""
    return pick(row[key] for row in rows)


def main() -> None:
    """Measure everything and write the markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="one round, 256^2 / 20k and 512^2 / 20k only")
    args = parser.parse_args()
    configs = [(256, 20000), (512, 20000)] if args.quick else CONFIGS
    rounds = 1 if args.quick else args.rounds

    run_child(WARM_START_CHILD)  # make sure the kernel cache is written before anything is timed
    gflops = matmul_gflops()
    results, loads = measure(rounds, args.repeats, configs)
    gflops = max(gflops, matmul_gflops())  # ceiling: best of the two measurements (before and after)
    gflops_1 = matmul_gflops_single_thread()
    single = {cfg: time_single_thread(*cfg, repeats=3 * args.repeats) for cfg in configs}
    gflops_1 = max(gflops_1, matmul_gflops_single_thread())
    warm = [run_child(WARM_START_CHILD) for _ in range(3)]
    memory = run_child(PEAK_RSS_CHILD)
    body = "\n".join([
        "## Gaussian rasterizer (`talkface.render.splat`, `bench/rasterizer.py`)",
        "",
        f"Machine: {machine_line()}; numba {numba.__version__} (threading layer {numba.threading_layer()}, "
        f"{numba.get_num_threads()} threads), torch {torch.__version__} ({torch.get_num_threads()} threads).",
        f"Load average (1 min) at the start of each round and at the end: {', '.join(loads)}. Other jobs share "
        "these 2 cores, so wall-clock times are noisy; the one-thread table below is the load-robust view.",
        "",
        "Scene: `face_like_scene(N)` (Gaussians on a 0.16 x 0.21 x 0.10 m ellipsoid, std 3-15 mm, 1 m from a "
        "camera with focal = width). *fwd* = projection + rasterization without autograd; *fwd+bwd* = projection + "
        "rasterization + MSE loss + backward to all 3D parameters. *raster* = the numba compositing kernels alone "
        "on pre-binned input; *bin* = tile binning of the depth-sorted Gaussians (culling, sort by tile); *pairs* = "
        "pixel-Gaussian pairs the kernels evaluate (64 per sub-tile and intersection, up to early termination). "
        "Flops per pair, counted from the inner loops' source (add/mul = 1, FMA = 2, the division = 1; compares, "
        f"min/max and selects not counted): forward {FLOPS_PER_PAIR_FORWARD}, backward {FLOPS_PER_PAIR_BACKWARD}.",
        "",
        f"**Two threads, wall clock.** Medians over {rounds} round(s) of {args.repeats}-run medians; *quietest* is "
        "the best round's median; Gpair/s uses the quietest raster time. Ceiling: fp32 matmul (torch, 2048², 2 "
        "threads) measured in every round right before that config's kernel timings (*ceiling GFLOP/s* = median "
        "over rounds); *% ceil* = median over rounds of that round's throughput x flops per pair / that round's "
        f"ceiling. Best matmul of the whole run: {gflops:.0f} GFLOP/s = {gflops / FLOPS_PER_PAIR_FORWARD:.2f} "
        f"Gpair/s forward, {gflops / FLOPS_PER_PAIR_BACKWARD:.2f} Gpair/s backward.",
        "",
        two_thread_table(results),
        "",
        f"**One thread, CPU time.** Smallest process CPU ms over {3 * args.repeats} runs with numba and torch on one "
        f"thread. Ceiling: fp32 matmul on one thread {gflops_1:.0f} GFLOP/s (1024², best CPU time) = "
        f"{gflops_1 / FLOPS_PER_PAIR_FORWARD:.2f} Gpair/s forward, {gflops_1 / FLOPS_PER_PAIR_BACKWARD:.2f} "
        "Gpair/s backward.",
        "",
        one_thread_table(single, gflops_1),
        "",
        f"Memory: 512² / 50k forward+backward (3 iterations) peak RSS {memory['peak_gb']:.2f} GB for the whole "
        f"process, of which {memory['base_gb']:.2f} GB is the torch + numba runtime before rendering.",
        f"Warm start (kernels cached): a new process renders its first 256² / 20k frame "
        f"{statistics.median(w['to_first_frame_s'] for w in warm):.2f} s after `import torch` finished (torch "
        f"import {statistics.median(w['torch_import_s'] for w in warm):.2f} s; "
        f"{statistics.median(w['cpu_s'] for w in warm):.2f} s CPU for the whole process incl. a first backward); "
        "median of 3 processes.",
        "",
        "Targets (issue 3): 256² / 20k fwd+bwd ≤ 45 ms; 512² / 20k fwd ≤ 30 ms; fwd ≥ 65 % and bwd ≥ 45 % of "
        "the ceiling; 512² / 50k backward < 1 GB RSS; a second process renders in < 5 s.",
    ])
    write_section("rasterizer", body)


def rate(pairs: float, ms: float, gflops: float, flops_per_pair: int) -> str:
    """Throughput in Gpair/s and as a percentage of the ceiling."""
    gpairs = pairs / (ms * 1e-3) / 1e9
    return f"{gpairs:.2f} ({100 * gpairs * flops_per_pair / gflops:.0f}%)"


def paired_rate(rounds: list[dict], key: str, flops_per_pair: int) -> str:
    """Throughput of the quietest round in Gpair/s, and the median over rounds of each round's share of the matmul
    ceiling measured just before that round's kernel timings (seconds apart, so both see about the same load)."""
    best = min(rounds, key=lambda row: row[key])
    gpairs = best["pairs"] / (best[key] * 1e-3) / 1e9
    shares = [row["pairs"] / (row[key] * 1e-3) / 1e9 * flops_per_pair / row["ceil_gflops"] for row in rounds]
    return f"{gpairs:.2f} ({100 * statistics.median(shares):.0f}%)"


def two_thread_table(results: dict) -> str:
    """Markdown table of the two-thread wall-clock rounds."""
    header = ["image", "N", "isect", "pairs", "fwd ms", "fwd+bwd ms", "quietest fwd / fwd+bwd",
              "CPU ms fwd / fwd+bwd", "bin ms", "raster fwd ms", "raster bwd ms", "ceiling GFLOP/s",
              "fwd Gpair/s (% ceil)", "bwd Gpair/s (% ceil)"]
    rows = []
    for (size, n), rounds in results.items():
        med = {k: summarise(rounds, k, statistics.median) for k in rounds[0]}
        best = {k: summarise(rounds, k, min) for k in rounds[0]}
        rows.append([f"{size}²", f"{n // 1000}k", med["n_isect"], f"{med['pairs'] / 1e6:.1f}M",
                     f"{med['fwd_ms']:.1f}", f"{med['fwd_bwd_ms']:.1f}",
                     f"{best['fwd_ms']:.1f} / {best['fwd_bwd_ms']:.1f}",
                     f"{best['fwd_cpu_ms']:.1f} / {best['fwd_bwd_cpu_ms']:.1f}", f"{med['bin_ms']:.1f}",
                     f"{med['kfwd_ms']:.1f}", f"{med['kbwd_ms']:.1f}",
                     f"{med['ceil_gflops']:.0f}", paired_rate(rounds, "kfwd_ms", FLOPS_PER_PAIR_FORWARD),
                     paired_rate(rounds, "kbwd_ms", FLOPS_PER_PAIR_BACKWARD)])
    return markdown_table(header, rows)


def one_thread_table(single: dict, gflops: float) -> str:
    """Markdown table of the one-thread CPU-time measurements."""
    header = ["image", "N", "fwd ms", "fwd+bwd ms", "bin ms", "raster fwd ms", "raster bwd ms",
              "fwd Gpair/s (% ceil)", "bwd Gpair/s (% ceil)"]
    rows = [[f"{size}²", f"{n // 1000}k", f"{r['fwd']:.1f}", f"{r['fwd_bwd']:.1f}", f"{r['bin']:.1f}",
             f"{r['kfwd']:.2f}", f"{r['kbwd']:.2f}", rate(r["pairs"], r["kfwd"], gflops, FLOPS_PER_PAIR_FORWARD),
             rate(r["pairs"], r["kbwd"], gflops, FLOPS_PER_PAIR_BACKWARD)] for (size, n), r in single.items()]
    return markdown_table(header, rows)


if __name__ == "__main__":
    main()
