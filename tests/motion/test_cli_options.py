"""The shared motion flags: one decorator gives a typer command all of them and one validated MotionControls."""
from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from talkface.errors import UserError
from talkface.motion import MotionControls
from talkface.motion.cli_options import OPTIONS, motion_options


def make_app(seen: dict) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @motion_options
    def animate(image: Path, motion: MotionControls, output: Path = typer.Option(Path("out.mp4"), "-o")) -> None:
        seen.update(image=image, motion=motion, output=output)

    return app


def test_every_shared_flag_reaches_the_controls(data_dir, weights):
    seen: dict = {}
    clip = data_dir / "driving/liveportrait_d0.mp4"
    result = CliRunner().invoke(make_app(seen), [
        "face.png", "-o", "x.mp4", "--pose-style", "2", "--blink", "off", "--eyes-from", str(clip),
        "--expression-from", str(clip), "--expression-scale", "1.5", "--head-motion-scale", "0.5",
        "--yaw", "0:0,2:15", "--pitch", "-5", "--roll", "3", "--seed", "7"])
    assert result.exit_code == 0, result.output
    m = seen["motion"]
    assert seen["image"] == Path("face.png") and seen["output"] == Path("x.mp4")
    assert (m.pose_style, m.blink, m.eyes_from, m.expression_scale, m.head_motion_scale, m.seed) == \
        (2, "off", clip, 1.5, 0.5, 7)
    assert m.yaw.times == (0.0, 2.0) and m.pitch.values == (-5.0,) and m.roll.values == (3.0,)
    still = CliRunner().invoke(make_app(seen), ["face.png", "--still"])
    assert still.exit_code == 0 and seen["motion"].still and seen["motion"].blink == "auto"


def test_bad_flag_value_stops_before_the_command_runs(weights):
    seen: dict = {}
    result = CliRunner().invoke(make_app(seen), ["face.png", "--head-motion-scale", "40"])
    assert isinstance(result.exception, UserError) and "head-motion-scale" in str(result.exception)
    assert not seen


def test_help_lists_the_shared_flags():
    result = CliRunner().invoke(make_app({}), ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    for name in OPTIONS:
        assert "--" + name.replace("_", "-") in result.output


def test_decorator_requires_a_motion_parameter():
    with pytest.raises(TypeError, match="motion"):
        motion_options(lambda image: None)
