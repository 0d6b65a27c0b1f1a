"""`evaluate`: analyse a generated video (and optionally its ground truth and driving audio) once, then run every
registered metric group on the analyses.

Each video is tracked exactly once per run (a video evaluated against itself too) and decoded once more only for
the pixel metrics; a `cache` dict shared between calls keeps tracks across runs, which the benchmark runner uses.
New metrics slot in with `register_metric_group` (e.g. the emotion issue's valence/arousal metrics):

    def emotion_group(inp: EvalInputs) -> GroupResult:       # inp.generated.track is the tracked FaceTrack
        va = estimate_va(inp.generated.track)               # the emotion issue's AU-based read-out
        v_rmse, a_rmse = va_rmse(va, target_va)
        return GroupResult({"v_rmse": v_rmse, "a_rmse": a_rmse}, {"va_generated": va})
    register_metric_group(MetricGroup("emotion", emotion_group, {"v_rmse": "...", "a_rmse": "..."}))

Reports, JSON and the benchmark tables pick the new keys up without further changes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UserError
from ..face.track import FaceTrack
from . import image as image_metrics
from . import motion, sync
from .landmarks import lmd_metrics
from .speed import peak_rss_mb, reset_peak_rss

FPS = 25.0
SR = 16000


@dataclass
class VideoAnalysis:
    """Everything metrics read from one video: its face track, mouth opening and (if any) the speech with it."""

    path: Path
    track: FaceTrack
    audio: np.ndarray | None  # float32 mono at SR, sample 0 = first video frame
    audio_source: str = ""
    _speech: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # per-frame signals, computed once

    @property
    def n_frames(self) -> int:
        return self.track.n_frames

    @property
    def mouth(self) -> np.ndarray:
        """Inner-lip gap per frame in canonical cm (pose-invariant); NaN where no face was found."""
        if "_mouth" not in self._speech:
            from ..face import mouth_opening

            m = mouth_opening(self.track).astype(np.float64)
            m[~np.asarray(self.track.valid, bool)] = np.nan
            self._speech["_mouth"] = m
        return self._speech["_mouth"]

    def speech(self, name: str) -> np.ndarray | None:
        """The speech signal `name` (see `sync.SPEECH_SIGNALS`) per video frame, computed once; None without audio."""
        if self.audio is None:
            return None
        if name not in self._speech:
            if name not in sync.SPEECH_SIGNALS:
                raise UserError(f"unknown speech signal {name!r}; choose one of {', '.join(sorted(sync.SPEECH_SIGNALS))}.")
            self._speech[name] = np.asarray(sync.SPEECH_SIGNALS[name](self.audio, SR, self.n_frames, FPS), np.float64)
        return self._speech[name]


def _cache_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def track_once(path: str | Path, cache: dict | None = None, progress: bool = False):
    """The face track of `path`, taken from `cache` when this exact file (path, size, mtime) was tracked before."""
    from ..face import track_video

    path = Path(path)
    key = _cache_key(path) if path.exists() else None
    if cache is not None and key in cache:
        return cache[key]
    track = track_video(path, progress=progress)
    if cache is not None and key is not None:
        cache[key] = track
    return track


def load_speech(source: str | Path | np.ndarray | None, video: Path) -> tuple[np.ndarray | None, str]:
    """Speech for a video: an array (16 kHz mono), an audio/video file, or None for the video's own audio (if any)."""
    from ..media import load_audio, probe

    if isinstance(source, np.ndarray):
        return source.astype(np.float32), "array"
    if source is not None:
        return load_audio(source, sr=SR), str(source)
    if probe(video).has_audio:
        return load_audio(video, sr=SR), "own audio track"
    return None, ""


def analyse_video(path: str | Path, audio: str | Path | np.ndarray | None = None, cache: dict | None = None,
                  progress: bool = False) -> VideoAnalysis:
    """Track `path` once and attach its speech (`audio` if given, else the video's own audio track)."""
    path = Path(path)
    track = track_once(path, cache, progress)
    speech, source = load_speech(audio, path)
    return VideoAnalysis(path=path, track=track, audio=speech, audio_source=source)


@dataclass
class EvalInputs:
    """What a metric group sees: the generated video's analysis, the reference's (or None) and the options."""

    generated: VideoAnalysis
    reference: VideoAnalysis | None
    speech_signal: str = "envelope"
    max_lag: int = sync.DEFAULT_MAX_LAG


@dataclass
class GroupResult:
    """Scalar metrics (name → value) and per-frame series / curves (name → array) of one metric group."""

    values: dict[str, float] = field(default_factory=dict)
    series: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricGroup:
    """A named set of metrics computed together; skipped (with the reason recorded) when an input is missing."""

    name: str
    compute: Callable[[EvalInputs], GroupResult]
    definitions: dict[str, str]
    needs_reference: bool = False
    needs_audio: bool = False


METRIC_GROUPS: dict[str, MetricGroup] = {}


def register_metric_group(group: MetricGroup) -> MetricGroup:
    """Add (or replace) a metric group; `evaluate` runs every registered group whose inputs are present."""
    METRIC_GROUPS[group.name] = group
    return group


def metric_definitions() -> dict[str, str]:
    """Every registered metric name with the one-line definition printed in reports."""
    out: dict[str, str] = {}
    for group in METRIC_GROUPS.values():
        out.update(group.definitions)
    return out


# --- the metric groups -------------------------------------------------------------------------------------------

def _image_group(inp: EvalInputs) -> GroupResult:
    """Stream both videos frame by frame: PSNR/SSIM on the full frame and on the reference's face box."""
    from ..media import iter_frames

    gen, ref = inp.generated, inp.reference
    lm = ref.track.landmarks2d
    valid = np.asarray(ref.track.valid, bool)
    n = min(gen.n_frames, ref.n_frames)
    per = {k: np.full(n, np.nan) for k in ("psnr_full", "ssim_full", "psnr_face", "ssim_face")}
    for t, (a, b) in enumerate(zip(iter_frames(gen.path, FPS), iter_frames(ref.path, FPS))):
        if t >= n:
            break
        box = image_metrics.face_box(lm[t], ref.track.width, ref.track.height) if valid[t] else None
        for key, value in image_metrics.frame_scores(a, b, box).items():
            per[key][t] = value
    values = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in per.items()}
    return GroupResult(values, {f"{k}_per_frame": v for k, v in per.items()})


register_metric_group(MetricGroup(
    "image", _image_group, needs_reference=True, definitions={
        "psnr_full": "mean over frames of PSNR (dB, peak 255, all RGB pixels); identical frames count as "
                     f"{image_metrics.PSNR_CAP_DB:.0f} dB",
        "ssim_full": "mean over frames of SSIM on BT.601 luma (Gaussian σ=1.5 window, K1=0.01, K2=0.03)",
        "psnr_face": "PSNR of the MSE inside the square box around the reference frame's 478 landmarks "
                     "(+10% margin each side)",
        "ssim_face": "mean of the frame's SSIM map inside that face box",
    }))


def _landmark_group(inp: EvalInputs) -> GroupResult:
    """LMD between the generated and reference landmark tracks over frames where both have a face."""
    gen, ref = inp.generated.track, inp.reference.track
    n = min(gen.n_frames, ref.n_frames)
    ok = np.asarray(gen.valid[:n], bool) & np.asarray(ref.valid[:n], bool)
    series = lmd_metrics(gen.landmarks2d[:n], ref.landmarks2d[:n])
    values = {}
    for k, v in series.items():
        v = v.copy()
        v[~ok] = np.nan
        series[k] = v
        values[k] = float(np.nanmean(v)) if ok.any() else float("nan")
    return GroupResult(values, {f"{k}_per_frame": v for k, v in series.items()})


register_metric_group(MetricGroup(
    "landmarks", _landmark_group, needs_reference=True, definitions={
        "lmd_mouth_px": "mean distance (px) between generated and reference lip points (40 mesh points), each "
                        "frame's set centred on its own centroid",
        "lmd_all_px": "mean distance (px) between all 478 generated and reference landmarks (uncentred)",
        "lmd_mouth_io": "lmd_mouth_px divided by the reference frame's inter-ocular (eye-centre) distance",
        "lmd_all_io": "lmd_all_px divided by the reference frame's inter-ocular distance",
    }))


def _mouth_group(inp: EvalInputs) -> GroupResult:
    """Mouth-opening agreement of generated vs reference: correlation at lag 0 and the best-matching lag."""
    g, r = inp.generated.mouth, inp.reference.mouth
    lags, curve = sync.lagged_correlation(g, r, inp.max_lag)
    moving = not (sync.is_still(g) or sync.is_still(r)) and np.isfinite(curve).any()
    best = float(lags[np.nanargmax(curve)]) if moving else float("nan")
    values = {"mouth_corr": sync.mouth_correlation(g, r), "mouth_lag": best}
    return GroupResult(values, {"mouth_generated": g, "mouth_reference": r, "mouth_lag_curve": curve})


register_metric_group(MetricGroup(
    "mouth", _mouth_group, needs_reference=True, definitions={
        "mouth_corr": "Pearson correlation of generated vs reference mouth opening (inner-lip gap, canonical cm) "
                      "per frame; 0 when either mouth is still",
        "mouth_lag": "lag (frames) maximising that correlation within ±max_lag; > 0: reference late; "
                     "undefined (NaN) when either mouth is still",
    }))


def _sync_group(inp: EvalInputs) -> GroupResult:
    """AV offset of the generated video against its speech; with a reference that has audio, its offset too."""
    gen = inp.generated
    res = sync.av_offset(gen.mouth, gen.speech(inp.speech_signal), inp.max_lag)
    values = {"av_offset": float(res.offset), "av_confidence": res.confidence, "av_prominence": res.prominence,
              "mouth_motion_cm": float(np.nanstd(gen.mouth))}
    series = {"av_lags": res.lags.astype(np.float64), "av_curve": res.curve}
    ref = inp.reference
    if ref is not None and ref.audio is not None:
        rres = sync.av_offset(ref.mouth, ref.speech(inp.speech_signal), inp.max_lag)
        values.update({"ref_av_offset": float(rres.offset), "ref_av_confidence": rres.confidence,
                       "av_offset_rel": float(res.offset - rres.offset)})
        series["ref_av_curve"] = rres.curve
    return GroupResult(values, series)


register_metric_group(MetricGroup(
    "sync", _sync_group, needs_audio=True, definitions={
        "av_offset": "lag k (frames, ±max_lag) maximising pearson(mouth[t], speech[t+k]); k > 0: audio late by k "
                     "frames (in-sync real speech: 0..+4, the mouth leads the sound)",
        "av_confidence": "peak height of that correlation curve (Pearson r at the offset); 0 for a still mouth "
                         f"(std < {sync.MOUTH_NOISE_CM} cm, tracking noise)",
        "mouth_motion_cm": "std over time of the mouth opening (canonical cm): how much the mouth moves at all",
        "av_prominence": "peak minus the median of the correlation curve over all lags",
        "ref_av_offset": "the same offset measured on the reference video with its own audio",
        "ref_av_confidence": "the reference's peak correlation",
        "av_offset_rel": "av_offset - ref_av_offset: the generated video's sync error relative to ground truth",
    }))


def _eyes_head_group(inp: EvalInputs) -> GroupResult:
    """Blink statistics, head-motion diversity and (with audio) beat alignment of the generated video,
    and the same statistics of the reference for comparison."""
    values: dict[str, float] = {}
    for prefix, ana in (("", inp.generated), ("ref_", inp.reference)):
        if ana is None:
            continue
        tr = ana.track
        values[prefix + "blink_rate"] = motion.blink_rate(tr.blink, tr.fps)
        values[prefix + "blink_duration"] = motion.blink_duration(tr.blink, tr.fps)
        div = motion.pose_diversity(tr.pose)
        values[prefix + "pose_std_deg"] = div["rotation_deg"]
        values[prefix + "pose_std_cm"] = div["translation_cm"]
        if ana.audio is not None:
            beats = motion.audio_beats(ana.audio, SR, FPS)
            values[prefix + "beat_align"] = motion.beat_alignment(motion.motion_beats(tr.pose), beats)
    return GroupResult(values, {"blink_generated": inp.generated.track.blink.mean(axis=1)})


register_metric_group(MetricGroup(
    "eyes_head", _eyes_head_group, definitions={
        "blink_rate": "blinks per minute; a blink = a run of frames with mean eye closure > 0.5 lasting ≤ 1 s",
        "blink_duration": "mean blink length (s); NaN without blinks",
        "pose_std_deg": "head-motion diversity: mean over pitch/yaw/roll of the std over time (degrees)",
        "pose_std_cm": "mean over x/y/z of the head translation's std over time (cm)",
        "beat_align": "Bailando/SadTalker Beat Align: mean over librosa audio onsets of exp(-d²/2σ²), d = frames "
                      "to the nearest head-speed minimum, σ = 3",
        "ref_blink_rate": "blink_rate of the reference", "ref_blink_duration": "blink_duration of the reference",
        "ref_pose_std_deg": "pose_std_deg of the reference", "ref_pose_std_cm": "pose_std_cm of the reference",
        "ref_beat_align": "beat_align of the reference with its own audio",
    }))


# --- the run ------------------------------------------------------------------------------------------------------

@dataclass
class EvalResult:
    """Scalar metrics, per-frame series, run facts (meta), speed, and why any group was skipped."""

    values: dict[str, float]
    series: dict[str, np.ndarray]
    meta: dict
    speed: dict
    skipped: dict[str, str]

    def to_dict(self, with_series: bool = True) -> dict:
        """JSON-ready dict (NaN → None)."""
        def clean(v):
            return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else v
        out = {"values": {k: clean(float(v)) for k, v in self.values.items()}, "meta": self.meta,
               "speed": {k: clean(float(v)) for k, v in self.speed.items()}, "skipped": self.skipped,
               "definitions": {k: d for k, d in metric_definitions().items() if k in self.values}}
        if with_series:
            out["series"] = {k: [clean(round(float(x), 5)) for x in np.asarray(v).ravel()] for k, v in self.series.items()}
        return out


def check_same_size(generated: Path, reference: Path) -> None:
    """Refuse, before any tracking, a reference whose frame size differs from the generated video's."""
    from ..media import probe

    g, r = probe(generated), probe(reference)
    if (g.width, g.height) != (r.width, r.height):
        raise UserError(f"{generated} is {g.width}x{g.height} but the reference {reference} is {r.width}x{r.height}; "
                        "image and landmark metrics need the same frame size.")


def evaluate(generated: str | Path, reference: str | Path | None = None,
             audio: str | Path | np.ndarray | None = None, *, speech_signal: str = "envelope",
             max_lag: int = sync.DEFAULT_MAX_LAG, cache: dict | None = None, progress: bool = False,
             groups: list[str] | None = None) -> EvalResult:
    """Evaluate `generated` against an optional ground-truth `reference` video; runs every registered metric group
    (or just `groups`) whose inputs exist. The speech the video should follow is `audio`, else its own audio
    track, else the reference's."""
    if speech_signal not in sync.SPEECH_SIGNALS:
        raise UserError(f"unknown speech signal {speech_signal!r}; choose one of {', '.join(sorted(sync.SPEECH_SIGNALS))}.")
    if not 1 <= max_lag <= 100:
        raise UserError(f"max lag must be between 1 and 100 frames, got {max_lag}.")
    unknown = sorted(set(groups or ()) - set(METRIC_GROUPS))
    if unknown:
        raise UserError(f"unknown metric group(s) {', '.join(unknown)}; known: {', '.join(METRIC_GROUPS)}.")
    reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    cache = {} if cache is None else cache
    if reference is not None:
        check_same_size(Path(generated), Path(reference))
    gen = analyse_video(generated, audio, cache, progress)
    ref = None
    if reference is not None:
        ref = analyse_video(reference, None, cache, progress)
        if ref.audio is None and gen.audio is not None:
            ref.audio, ref.audio_source = gen.audio, gen.audio_source
        elif gen.audio is None and ref.audio is not None:  # a silent generated video follows the reference's speech
            gen.audio, gen.audio_source = ref.audio, f"audio track of {ref.path.name}"
    inp = EvalInputs(gen, ref, speech_signal, max_lag)
    values: dict[str, float] = {}
    series: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for name, group in METRIC_GROUPS.items():
        if groups is not None and name not in groups:
            continue
        if group.needs_reference and ref is None:
            skipped[name] = "no reference video"
            continue
        if group.needs_audio and gen.audio is None:
            skipped[name] = "no audio (the video has no audio track and no --audio was given)"
            continue
        res = group.compute(inp)
        values.update(res.values)
        series.update(res.series)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    meta = {"generated": str(gen.path), "reference": str(ref.path) if ref else None,
            "audio": gen.audio_source or None, "fps": FPS, "frames": gen.n_frames,
            "reference_frames": ref.n_frames if ref else None, "width": gen.track.width,
            "height": gen.track.height, "speech_signal": speech_signal, "max_lag": max_lag}
    speed = {"seconds": seconds, "fps": gen.n_frames / seconds if seconds > 0 else float("nan"),
             "rtf": seconds / (gen.n_frames / FPS), "cpu_seconds": cpu,
             "fps_per_cpu_second": gen.n_frames / cpu if cpu > 0 else float("nan"), "peak_rss_mb": peak_rss_mb()}
    return EvalResult(values, series, meta, speed, skipped)
