"""Write an `EvalResult` as a report folder: report.json, report.md and matplotlib plots, each file atomically."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_text_atomic
from .evaluate import FPS, EvalResult, metric_definitions
from .sync import MOUTH_NOISE_CM

NOT_MEASURED = {
    "emotion (V/A RMSE, sign agreement)": "the metric functions exist (talkface.eval.emotion) but the per-frame "
                                          "V/A read-out from landmark AUs comes with the emotion issue",
    "LPIPS, FID, CSIM, Sync-C/D": "their networks (AlexNet, Inception, ArcFace, SyncNet) cannot be downloaded here",
}


def fmt(value: float | None, digits: int = 3) -> str:
    """A metric value for a table: NaN/None as '–', integers without decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}f}"


def markdown_summary(result: EvalResult) -> str:
    """The human-readable report: inputs, one table row per metric with its definition, speed, what was skipped."""
    m, defs = result.meta, metric_definitions()
    lines = [f"# talkface eval: {Path(m['generated']).name}", "",
             f"- generated: `{m['generated']}` ({m['frames']} frames at {m['fps']:g} fps, {m['width']}x{m['height']})",
             f"- reference: `{m['reference']}`" + (f" ({m['reference_frames']} frames)" if m["reference"] else ""),
             f"- speech: {m['audio'] or 'none'}; AV signal `{m['speech_signal']}`, lags searched ±{m['max_lag']} frames",
             "", "| metric | value | definition |", "|---|---|---|"]
    for key, value in result.values.items():
        lines.append(f"| {key} | {fmt(value)} | {defs.get(key, '')} |")
    s = result.speed
    lines += ["", f"Evaluation speed: {fmt(s['fps'], 1)} frames/s ({fmt(s['seconds'], 2)} s wall, "
                  f"{fmt(s['cpu_seconds'], 2)} s CPU, real-time factor {fmt(s['rtf'], 3)}), "
                  f"peak RSS {fmt(s['peak_rss_mb'], 0)} MiB.", ""]
    if result.skipped:
        lines.append("Skipped: " + "; ".join(f"{k} ({v})" for k, v in result.skipped.items()) + ".")
    lines.append("Not measured: " + "; ".join(f"{k} ({v})" for k, v in NOT_MEASURED.items()) + ".")
    plots = [p for p in ("mouth_opening.png", "psnr.png", "av_offset.png") if p in result.meta.get("plots", [])]
    if plots:
        lines += [""] + [f"![{p[:-4]}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _save_figure(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def plot_mouth(result: EvalResult, path: Path) -> bool:
    """Mouth opening over time, generated vs reference (cm); False when there is no reference."""
    s = result.series
    if "mouth_generated" not in s:
        return False
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3))
    t = np.arange(len(s["mouth_generated"])) / FPS
    ax.plot(t, s["mouth_generated"], label="generated", lw=1)
    ax.plot(np.arange(len(s["mouth_reference"])) / FPS, s["mouth_reference"], label="reference", lw=1, alpha=0.8)
    ax.set(xlabel="time (s)", ylabel="inner-lip gap (cm)",
           title=f"mouth opening (r = {fmt(result.values.get('mouth_corr'))})")
    ax.legend(loc="upper right")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return True


def plot_psnr(result: EvalResult, path: Path) -> bool:
    """Per-frame PSNR (full frame and face box); False when there is no reference."""
    s = result.series
    if "psnr_full_per_frame" not in s:
        return False
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3))
    for key, label in (("psnr_full_per_frame", "full frame"), ("psnr_face_per_frame", "face box")):
        ax.plot(np.arange(len(s[key])) / FPS, s[key], label=label, lw=1)
    ax.set(xlabel="time (s)", ylabel="PSNR (dB)", title="per-frame PSNR")
    ax.legend(loc="best")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return True


def plot_av_offset(result: EvalResult, path: Path) -> bool:
    """Correlation of mouth opening and speech against lag, with the chosen offset marked; False without audio."""
    s = result.series
    if "av_curve" not in s:
        return False
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.5))
    lags = s["av_lags"]
    ax.plot(lags, s["av_curve"], marker="o", ms=3, label="generated")
    if "ref_av_curve" in s:
        ax.plot(lags, s["ref_av_curve"], marker="o", ms=3, alpha=0.8, label="reference")
    off = result.values.get("av_offset")
    ax.axvline(off, color="k", lw=0.8, ls="--")
    ax.axvline(0, color="grey", lw=0.5)
    still = result.values.get("mouth_motion_cm", 1.0) < MOUTH_NOISE_CM
    ax.set(xlabel="lag k (frames; > 0: audio late)", ylabel="pearson(mouth[t], speech[t+k])",
           title=f"AV offset {fmt(off)} frames, confidence {fmt(result.values.get('av_confidence'))}"
                 + (" (mouth still)" if still else ""))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return True


def write_report(result: EvalResult, out_dir: str | Path) -> Path:
    """Write report.json, report.md and the plots into `out_dir`; returns the markdown path."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = []
    for name, fn in (("mouth_opening.png", plot_mouth), ("psnr.png", plot_psnr), ("av_offset.png", plot_av_offset)):
        if fn(result, out / name):
            plots.append(name)
        elif (out / name).exists():
            (out / name).unlink()  # a plot from an earlier run into this folder would describe other inputs
    result.meta["plots"] = plots
    write_text_atomic(out / "report.json", json.dumps(result.to_dict(), indent=1, allow_nan=False) + "\n")
    md = out / "report.md"
    write_text_atomic(md, markdown_summary(result))
    return md
