"""`talkface eval` on the command line: the report folder it writes, and one-line errors with exit code 2."""
from __future__ import annotations

import json
import sys

import pytest

from talkface.cli import main


def run_cli(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["talkface", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        main()
        raise SystemExit(0)
    return exc.value.code


def test_eval_writes_json_markdown_and_plots(monkeypatch, data_dir, tmp_path, capsys):
    clip = data_dir / "videos" / "feifeili_clip3.mp4"
    out = tmp_path / "report"
    assert run_cli(monkeypatch, "eval", clip, "--reference", clip, "--report", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["av_offset.png", "mouth_opening.png", "psnr.png",
                                                     "report.json", "report.md"]
    report = json.loads((out / "report.json").read_text())
    assert report["values"]["psnr_face"] == 100.0 and report["values"]["lmd_all_px"] == 0.0
    assert report["meta"]["frames"] == len(report["series"]["mouth_generated"]) > 150
    assert "psnr_face" in report["definitions"] and report["speed"]["fps"] > 0
    md = (out / "report.md").read_text()
    assert "| mouth_corr | 1 |" in md and "![av_offset](av_offset.png)" in md
    assert str(out / "report.md") in capsys.readouterr().out


def test_eval_without_reference_or_audio_reports_what_it_can(monkeypatch, data_dir, tmp_path):
    clip = data_dir / "driving" / "W009_front_neutral_level1_001.mp4"
    out = tmp_path / "r"
    assert run_cli(monkeypatch, "eval", clip, "--report", out) == 0
    report = json.loads((out / "report.json").read_text())
    assert "blink_rate" in report["values"] and "psnr_full" not in report["values"]
    assert set(report["skipped"]) >= {"image", "landmarks", "mouth"}
    assert not (out / "psnr.png").exists()


@pytest.mark.parametrize("case", ["missing", "size", "signal"])
def test_eval_bad_input_prints_one_line_and_exits_2(monkeypatch, data_dir, tmp_path, capsys, case):
    small = data_dir / "videos" / "feifeili_clip3.mp4"
    args = {"missing": [tmp_path / "nope.mp4"],
            "size": [small, "--reference", data_dir / "videos" / "wda_aoc.mp4"],
            "signal": [small, "--speech-signal", "telepathy"]}[case]
    assert run_cli(monkeypatch, "eval", *args, "--report", tmp_path / "r") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("talkface: error:") and "\n" not in err
    assert not (tmp_path / "r" / "report.json").exists()
