"""talkface.eval: honest metrics for generated talking-head video, and reports with plots.

None of the field's metric networks (SyncNet, FAN, ArcFace, EmoNet, LPIPS' AlexNet) can be downloaded here, so
each metric is defined on what we can measure (mediapipe landmarks, pixels, the audio) and its docstring states
the exact definition. `evaluate()` runs every registered metric group; `write_report()` writes the folder.
"""
from .evaluate import (EvalInputs, EvalResult, GroupResult, MetricGroup, VideoAnalysis, analyse_video, evaluate,
                       metric_definitions, register_metric_group, track_once)
from .image import PSNR_CAP_DB, crop, face_box, psnr, ssim
from .emotion import va_rmse, va_sign_agreement
from .landmarks import MOUTH_INDICES, landmark_distance, lmd_metrics
from .motion import audio_beats, beat_alignment, blink_duration, blink_rate, motion_beats, pose_diversity
from .report import markdown_summary, write_report
from .speed import Speed, measure, peak_rss_mb
from .sync import (SPEECH_SIGNALS, AVOffset, av_offset, footage_synced_correlation, lagged_correlation,
                   mouth_correlation, pearson, register_speech_signal, speech_envelope)

__all__ = [
    "EvalInputs", "EvalResult", "GroupResult", "MetricGroup", "VideoAnalysis", "analyse_video", "evaluate",
    "metric_definitions", "register_metric_group", "track_once", "PSNR_CAP_DB", "crop", "face_box", "psnr", "ssim",
    "MOUTH_INDICES", "landmark_distance", "lmd_metrics", "audio_beats", "beat_alignment", "blink_duration",
    "blink_rate", "motion_beats", "pose_diversity", "markdown_summary", "write_report", "Speed", "measure",
    "peak_rss_mb", "SPEECH_SIGNALS", "AVOffset", "av_offset", "footage_synced_correlation", "lagged_correlation",
    "mouth_correlation", "pearson", "register_speech_signal", "speech_envelope", "va_rmse", "va_sign_agreement",
]
