"""Errors that the CLI turns into one clear line and exit status 2."""

from __future__ import annotations


class GsearchError(Exception):
    """A failure the user can act on: bad input, missing data, unavailable hardware.

    The message is one line that names what was wrong and what is allowed.
    The CLI prints it as ``error: <message>`` and exits with status 2.
    """

    exit_code = 2
