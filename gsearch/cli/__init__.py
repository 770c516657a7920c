"""The `gsearch` command: it parses, calls the library, and prints with rich.

Every failure the user can act on is a GsearchError: one line on stderr, exit 2.

One module per command (parser and handler side by side); argument types in types.py;
consoles and the mapping of errors to exit codes in app.py; here the parser and main.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gsearch import __version__
from gsearch.cli.app import (
    Command,
    _known_failure,
    _out_of_memory,
    _Parser,
    _print_error,
    err_console,
)
from gsearch.cli.calibrate import _add_calibrate
from gsearch.cli.dashboard import _add_dashboard
from gsearch.cli.fidelity import _add_fidelity
from gsearch.cli.profile import _add_profile
from gsearch.cli.report import _add_report
from gsearch.cli.run import _add_run
from gsearch.cli.table import _add_table
from gsearch.cli.worker import _add_worker
from gsearch.errors import GsearchError


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gsearch",
        description="Search group-convolution settings for energy per frame, accuracy "
        "and parameters on your own GPU.",
    )
    parser.add_argument("--version", action="version", version=f"gsearch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (
        _add_run,
        _add_worker,
        _add_fidelity,
        _add_report,
        _add_dashboard,
        _add_table,
        _add_profile,
        _add_calibrate,
    ):
        add(sub)
    return parser


def _quiet_optuna() -> None:
    """Our progress display and one-line errors replace Optuna's log lines and warnings."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


class _StderrLines(logging.Handler):
    """The library's log records as plain lines on the stderr of the moment (under a
    progress bar, rich redirects it above the bar)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never take the command down
            self.handleError(record)


def _show_library_logs(quiet: bool) -> None:
    """The library logs (``logging``); the CLI decides what of it a user sees."""
    logger = logging.getLogger("gsearch")
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input or unavailable resource)."""
    _quiet_optuna()
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        _show_library_logs(quiet=bool(getattr(args, "quiet", False)))
        func: Command = args.func
        return func(args)
    except GsearchError as error:
        _print_error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        return 130
    except Exception as error:
        known = _out_of_memory(error, args) or _known_failure(
            error, getattr(args, "storage", None) if args else None
        )
        if known is None:
            raise  # a bug: its traceback is what a report needs
        _print_error(str(known))
        return known.exit_code
