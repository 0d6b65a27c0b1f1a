"""The `talkface` command line: one-line errors with exit code 2 and nothing written; a real track run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from talkface.face import FaceTrack

EXE = [sys.executable, "-c", "from talkface.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", ["missing", "not_media", "audio_only", "bad_suffix", "bad_fps"])
def test_track_bad_input_exits_2_without_traceback(tmp_path, data_dir, case):
    out = tmp_path / "track.npz"
    video = {"missing": tmp_path / "none.mp4", "audio_only": data_dir / "speech/LJ001-0001.wav"}.get(
        case, data_dir / "videos/feifeili_clip1.mp4")
    extra: list[str] = []
    if case == "not_media":
        video = tmp_path / "notes.mp4"
        video.write_text("hello")
    if case == "bad_suffix":
        out = tmp_path / "track.txt"
    if case == "bad_fps":
        extra = ["--fps", "0"]
    res = run("track", video, "-o", out, *extra)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") <= 2
    assert not out.exists() and list(tmp_path.glob(".*")) == []


def test_track_writes_track_and_preview(tmp_path, data_dir):
    out, preview = tmp_path / "t.npz", tmp_path / "p.mp4"
    res = run("track", data_dir / "videos/feifeili_clip1.mp4", "-o", out, "--preview", preview)
    assert res.returncode == 0, res.stderr
    track = FaceTrack.load(out)
    assert track.n_frames == 252 and track.valid.all()
    from talkface.media import probe
    info = probe(preview)
    assert info.has_audio and abs(info.duration - track.duration) < 0.05
