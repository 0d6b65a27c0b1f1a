"""Errors a user can fix: the CLI prints their one sentence and exits 2, without a traceback."""


class UserError(Exception):
    """Bad input or a bad flag value, described in one clear sentence."""

    exit_code = 2
