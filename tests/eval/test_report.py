"""The report folder: strict JSON (NaN → null), markdown with definitions, plots only for data that exists."""
from __future__ import annotations

import json

import numpy as np

from talkface.eval import EvalResult, write_report


def result(with_reference: bool) -> EvalResult:
    t = np.arange(100)
    values = {"av_offset": 2.0, "av_confidence": 0.4, "mouth_motion_cm": 0.4, "blink_duration": float("nan")}
    series = {"av_lags": np.arange(-10, 11, dtype=float), "av_curve": np.cos(np.arange(-10, 11) / 5)}
    if with_reference:
        values.update({"psnr_face": 30.0, "mouth_corr": 0.8})
        series.update({"mouth_generated": np.sin(t / 5), "mouth_reference": np.sin(t / 5 + 0.2),
                       "psnr_full_per_frame": 30 + np.sin(t), "psnr_face_per_frame": 28 + np.sin(t)})
    meta = {"generated": "gen.mp4", "reference": "gt.mp4" if with_reference else None, "audio": "own audio track",
            "fps": 25.0, "frames": 100, "reference_frames": 100 if with_reference else None, "width": 256,
            "height": 256, "speech_signal": "envelope", "max_lag": 10}
    speed = {"seconds": 1.0, "fps": 100.0, "rtf": 0.25, "cpu_seconds": 0.9, "fps_per_cpu_second": 111.0,
             "peak_rss_mb": 300.0}
    skipped = {} if with_reference else {"image": "no reference video"}
    return EvalResult(values, series, meta, speed, skipped)


def test_report_folder_is_strict_json_markdown_and_only_current_plots(tmp_path):
    out = tmp_path / "rep"
    write_report(result(True), out)
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "mouth_opening.png", "psnr.png",
                                               "av_offset.png"}
    write_report(result(False), out)  # same folder, no reference this time: stale plots must go
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "av_offset.png"}
    report = json.loads((out / "report.json").read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert report["values"]["blink_duration"] is None and report["values"]["av_offset"] == 2
    assert report["skipped"] == {"image": "no reference video"}
    assert "av_offset" in report["definitions"] and set(report["definitions"]) <= set(report["values"])
    md = (out / "report.md").read_text()
    assert "| blink_duration | – |" in md and "Skipped: image (no reference video)" in md
    assert "psnr.png" not in md and not list(out.glob(".*"))  # no temporary files left behind


def test_bad_options_are_refused_before_any_work(tmp_path):
    import pytest

    from talkface.errors import UserError
    from talkface.eval import evaluate

    for kwargs in ({"groups": ["sync", "telepathy"]}, {"max_lag": 0}, {"speech_signal": "nope"}):
        with pytest.raises(UserError):
            evaluate(tmp_path / "never-read.mp4", **kwargs)
    with pytest.raises(UserError, match="no such file"):
        evaluate(tmp_path / "missing.mp4")
