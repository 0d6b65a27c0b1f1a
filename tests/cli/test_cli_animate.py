"""`talkface animate` and `talkface demo` from the command line: bad input exits 2 with one line; the demo works."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

EXE = [sys.executable, "-c", "from talkface.cli import main; main()"]


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.mark.parametrize("case", ["missing_image", "no_face", "empty_text", "both", "bad_size", "bad_scale",
                                  "bad_yaw", "bad_output"])
def test_animate_bad_input_exits_2(tmp_path, data_dir, case):
    image, out = data_dir / "portraits/obama.jpg", tmp_path / "out.mp4"
    args = ["--text", "hello there"]
    if case == "missing_image":
        image = tmp_path / "none.png"
    elif case == "no_face":
        import cv2
        image = tmp_path / "wall.png"
        cv2.imwrite(str(image), np.full((256, 256, 3), 128, np.uint8))
    elif case == "empty_text":
        args = ["--text", "  "]
    elif case == "both":
        args = ["--text", "hi", "--audio", data_dir / "speech/LJ001-0002.wav"]
    elif case == "bad_size":
        args += ["--size", "300"]
    elif case == "bad_scale":
        args += ["--expression-scale", "50"]
    elif case == "bad_yaw":
        args += ["--yaw", "sideways"]
    elif case == "bad_output":
        out = tmp_path / "out.gif"
    res = run("animate", image, "-o", out, *args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and res.stderr.strip()
    assert not out.exists()


def test_demo_runs_without_arguments(tmp_path):
    """The README's main job: no arguments, a talking video with its speech muxed in."""
    from talkface.media import probe
    res = run("demo", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "talkface-demo" / "astronaut_talking.mp4"
    info = probe(out)
    assert info.has_audio and info.width == 512 and info.duration > 3
