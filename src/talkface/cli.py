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
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        import click
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
