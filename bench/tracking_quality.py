"""Tracking quality and speed on ../shared/data: fps, pose stability, jitter, blinks, mouth-audio correlation.

    python bench/tracking_quality.py        → prints a table and writes the "tracking" section of docs/BENCHMARKS.md
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._report import SHARED_DATA, machine_line, markdown_table, write_section  # noqa: E402
from talkface.errors import UserError  # noqa: E402
from talkface.face import blink_events, mouth_opening  # noqa: E402
from talkface.face.pipeline import build_track, check_raw  # noqa: E402
from talkface.face.geometry import axis_angle_to_matrix  # noqa: E402
from talkface.face.tracker import track_raw  # noqa: E402
from talkface.media import iter_frames, load_audio, probe  # noqa: E402


def rotation_steps_deg(pose: np.ndarray) -> np.ndarray:
    """Angle (degrees) of the rotation between consecutive frames."""
    r = axis_angle_to_matrix(pose[:, :3])
    rel = np.einsum("tji,tjk->tik", r[:-1], r[1:])
    return np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))


def jitter_rms(points2d: np.ndarray) -> float:
    """RMS of landmarks minus their 5-frame moving median (high-frequency residual), in pixels."""
    from scipy.ndimage import median_filter
    med = median_filter(points2d, size=(5, 1, 1), mode="nearest")
    return float(np.sqrt(np.mean(np.sum((points2d - med)[2:-2] ** 2, -1))))


def audio_envelope(audio: np.ndarray, n_frames: int, fps: float = 25.0, sr: int = 16000) -> np.ndarray:
    """RMS energy of the audio per video frame (log-compressed)."""
    hop = int(sr / fps)
    audio = np.pad(audio, (0, max(0, n_frames * hop - len(audio))))[: n_frames * hop]
    return np.log(np.sqrt(np.mean(audio.reshape(n_frames, hop) ** 2, 1)) + 1e-4)


def best_lag_corr(a: np.ndarray, b: np.ndarray, max_lag: int = 7) -> float:
    """Max Pearson correlation of a and b over lags within ±max_lag frames."""
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[: len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        if len(x) > 10 and x.std() > 0 and y.std() > 0:
            best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


def evaluate(path: Path) -> dict:
    info = probe(path)
    t0 = time.perf_counter()
    raw = track_raw(iter_frames(path))
    seconds = time.perf_counter() - t0
    row = {"clip": f"{path.parent.name}/{path.name}", "size": f"{info.width}x{info.height}",
           "frames": len(raw.found), "fps": len(raw.found) / seconds}
    try:
        check_raw(raw, path, 25.0)
    except UserError as exc:
        row["status"] = f"refused: {str(exc).split(': ', 1)[1][:60]}"
        return row
    smooth, rough = build_track(raw, 25.0), build_track(raw, 25.0, smooth=False)
    to512 = 512.0 / min(info.width, info.height)
    row.update(status="ok", found=float(raw.found.mean()),
               jump_raw=float(rotation_steps_deg(rough.pose).max()), jump=float(rotation_steps_deg(smooth.pose).max()),
               jitter_raw=jitter_rms(rough.landmarks2d) * to512, jitter=jitter_rms(smooth.landmarks2d) * to512,
               blinks=len(blink_events(smooth.blink, 25.0)))
    if info.has_audio:
        env = audio_envelope(load_audio(path), smooth.n_frames)
        row["mouth_audio_raw"] = best_lag_corr(mouth_opening(rough), env)
        row["mouth_audio"] = best_lag_corr(mouth_opening(smooth), env)
    return row


def main() -> None:
    paths = sorted((SHARED_DATA / "videos").glob("*.mp4")) + sorted((SHARED_DATA / "videos_hard").glob("*.mp4")) \
        + sorted((SHARED_DATA / "driving").glob("*.mp4"))
    rows = [evaluate(p) for p in paths]
    f = lambda v, d=2: "" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))  # noqa: E731
    table = markdown_table(
        ["clip", "size", "frames", "track fps", "status", "max pose step raw/smoothed (°)",
         "jitter raw/smoothed (px @512)", "blinks", "mouth–audio corr raw/smoothed"],
        [[r["clip"], r["size"], r["frames"], f(r["fps"], 0), r["status"],
          f"{f(r.get('jump_raw'))} / {f(r.get('jump'))}" if "jump" in r else "",
          f"{f(r.get('jitter_raw'))} / {f(r.get('jitter'))}" if "jitter" in r else "", f(r.get("blinks")),
          f"{f(r.get('mouth_audio_raw'))} / {f(r.get('mouth_audio'))}" if "mouth_audio" in r else ""] for r in rows])
    ok = [r for r in rows if r["status"] == "ok"]
    body = (f"## Face tracking (`bench/tracking_quality.py`)\n\n{machine_line()}\n\n"
            "Protocol: every clip of `videos/`, `videos_hard/`, `driving/`, decoded and normalised to 25 fps; "
            "track fps = frames / wall time of decode + detection + mesh tracking (median machine load, one run). "
            "Pose step = largest frame-to-frame head rotation. Jitter = RMS of landmarks minus their 5-frame moving "
            "median, scaled to a 512-px frame (× 512 / shorter side). Mouth–audio corr = best Pearson correlation "
            "of inner-lip gap vs log audio RMS within ±7 frames. Blinks = closure > 0.5 events.\n\n" + table +
            f"\n\nMedian tracking speed: {np.median([r['fps'] for r in rows]):.0f} frames/s; "
            f"median jitter (smoothed) {np.median([r['jitter'] for r in ok]):.2f} px @512.\n")
    write_section("tracking", body)


if __name__ == "__main__":
    main()
