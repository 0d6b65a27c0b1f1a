"""The motion flags shared by every rendering command (`animate`, `speak`), declared once.

Usage in a typer command:

    @app.command()
    @motion_options
    def animate(image: Path, audio: Path, motion: MotionControls) -> None:
        track = generate_motion(speech, motion, reference)

`motion_options` adds `--still --pose-style --pose-from --blink --eyes-from --expression-from --expression-scale
--head-motion-scale --yaw --pitch --roll --seed` to the command and hands it one validated `MotionControls`
(bad values stop the command with a UserError before any work). The `Annotated` aliases below can also be used
one by one.
"""
from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from .controls import MotionControls

PANEL = "Motion"

Still = Annotated[bool, typer.Option("--still", help="Keep the head still (blinks continue unless --blink off).",
                                     rich_help_panel=PANEL)]
PoseStyle = Annotated[Optional[int], typer.Option("--pose-style", help="Head-motion style of training speaker N "
                                                  "(default: the reference video's own style, else the mean style).",
                                                  rich_help_panel=PANEL)]
PoseFrom = Annotated[Optional[Path], typer.Option("--pose-from", help="Take head pose from this video.",
                                                  rich_help_panel=PANEL)]
Blink = Annotated[str, typer.Option("--blink", help="Blinks: 'auto' (generated), 'off', or a video to copy them from.",
                                    rich_help_panel=PANEL)]
EyesFrom = Annotated[Optional[Path], typer.Option("--eyes-from", help="Take gaze from this video.",
                                                  rich_help_panel=PANEL)]
ExpressionFrom = Annotated[Optional[Path], typer.Option("--expression-from", help="Take brows, eye shape and emotion "
                                                        "from this video (lips still follow the speech).",
                                                        rich_help_panel=PANEL)]
ExpressionScale = Annotated[float, typer.Option("--expression-scale", help="Multiply lip and brow motion (0–3).",
                                                rich_help_panel=PANEL)]
HeadMotionScale = Annotated[float, typer.Option("--head-motion-scale", help="Multiply head motion (0–3).",
                                                rich_help_panel=PANEL)]
Yaw = Annotated[Optional[str], typer.Option("--yaw", help="Head yaw in degrees, constant ('15') or keyframed "
                                            "('0:0,2:20' = seconds:degrees).", rich_help_panel=PANEL)]
Pitch = Annotated[Optional[str], typer.Option("--pitch", help="Head pitch in degrees, constant or keyframed.",
                                              rich_help_panel=PANEL)]
Roll = Annotated[Optional[str], typer.Option("--roll", help="Head roll in degrees, constant or keyframed.",
                                             rich_help_panel=PANEL)]
Seed = Annotated[int, typer.Option("--seed", help="Random seed of the generated motion.", rich_help_panel=PANEL)]

OPTIONS: dict[str, tuple[Any, Any]] = {
    "still": (Still, False), "pose_style": (PoseStyle, None), "pose_from": (PoseFrom, None), "blink": (Blink, "auto"),
    "eyes_from": (EyesFrom, None), "expression_from": (ExpressionFrom, None),
    "expression_scale": (ExpressionScale, 1.0),
    "head_motion_scale": (HeadMotionScale, 1.0), "yaw": (Yaw, None), "pitch": (Pitch, None), "roll": (Roll, None),
    "seed": (Seed, 0),
}
"""Parameter name → (annotated type, default) of every shared motion flag."""


def controls_from_options(**values: Any) -> MotionControls:
    """A validated MotionControls from the shared flags' values (raises UserError on a bad value)."""
    return MotionControls(**values).validated()


def motion_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a typer command that takes `motion: MotionControls`: add the shared motion flags instead of it."""
    sig = inspect.signature(func, eval_str=True)  # resolved, so `from __future__ import annotations` commands work
    if "motion" not in sig.parameters:
        raise TypeError(f"{func.__name__} must take a `motion` parameter to use @motion_options")
    clash = set(OPTIONS) & set(sig.parameters)
    if clash:
        raise TypeError(f"{func.__name__} already has parameters {sorted(clash)}")
    kept = [p for p in sig.parameters.values() if p.name != "motion"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotated)
             for name, (annotated, default) in OPTIONS.items()]
    positional = [p for p in kept if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rest = [p for p in kept if p not in positional]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in OPTIONS if name in kwargs}
        return func(*args, motion=controls_from_options(**values), **kwargs)

    wrapper.__signature__ = sig.replace(parameters=positional + rest + added)
    hints = {p.name: p.annotation for p in kept if p.annotation is not p.empty}
    hints.update({name: annotated for name, (annotated, _) in OPTIONS.items()})
    wrapper.__annotations__ = hints
    return wrapper
