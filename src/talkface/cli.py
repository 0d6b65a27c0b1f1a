"""The `talkface` command line: one typer app, one thin command per job.

Commands only parse flags, validate them and call the stage that does the work; a `UserError`
anywhere prints its one sentence and exits with code 2, without a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Speech to talking-head video on an ordinary CPU.")


def _output_path(path: Path, suffixes: tuple[str, ...]) -> Path:
    """Validate an output path's suffix and folder up front, so no work is done for an unwritable target."""
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{path}: output must end in {' or '.join(suffixes)}.")
    if path.exists() and path.is_dir():
        raise UserError(f"{path}: is a directory.")
    return path


@app.command()
def track(
    video: Path = typer.Argument(..., help="Video (or image) with one face."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the track (.npz)."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Also write an annotated preview video (.mp4)."),
    fps: float = typer.Option(25.0, "--fps", help="Frame rate the video is normalised to."),
) -> None:
    """Track the face of VIDEO: landmarks, head pose, blinks, gaze; optionally a preview video."""
    from .face import track_video
    from .face.preview import write_preview

    _output_path(output, (".npz",))
    if preview is not None:
        _output_path(preview, (".mp4",))
    result = track_video(video, fps=fps, progress=True)
    result.save(output)
    if preview is not None:
        write_preview(video, result, preview)
    print(f"tracked {result.n_frames} frames ({result.valid.mean():.0%} with a face) -> {output}")


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("talkface-demo"), "-o", "--output-dir", help="Folder for the demo outputs."),
) -> None:
    """Run the most complete pipeline on built-in inputs (scikit-image's astronaut photo); no arguments needed."""
    from skimage import data

    from .atomic import atomic_path
    from .face import track_video
    from .face.preview import write_preview

    output_dir.mkdir(parents=True, exist_ok=True)
    image = output_dir / "astronaut.png"
    with atomic_path(image) as tmp:
        import cv2
        cv2.imwrite(str(tmp), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    result = track_video(image)
    result.save(output_dir / "astronaut_track.npz")
    write_preview(image, result, output_dir / "astronaut_preview.mp4")
    print(f"demo: tracked the astronaut photo -> {output_dir / 'astronaut_track.npz'}, "
          f"preview {output_dir / 'astronaut_preview.mp4'}")


def main() -> None:
    """Console-script entry point: run the app and turn user errors into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except UserError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr)
        sys.exit(UserError.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("talkface: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors arrive here with standalone_mode=False
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
