"""What every command shares: the consoles, the parser's one-line errors, and the mapping of
failures to exit codes (a GsearchError: one line on stderr, exit 2).
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable
from typing import NoReturn

from rich.console import Console

from gsearch.errors import GsearchError

console = Console()
err_console = Console(stderr=True)

Command = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise GsearchError(f"{self.prog}: {message}")


def _redact(text: str) -> str:
    from gsearch.storage import redact

    return redact(text)


def _print_error(message: str) -> None:
    """``error: <message>`` as plain text on one line, with every URL's password hidden."""
    line = " ".join(_redact(message).split())
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


# What to lower when a command's step does not fit in memory.
_MEMORY_SETTINGS = {
    "profile": "--batch, --resolution or --num-classes",
    "calibrate": "--batch, --resolution or --num-classes",
    "table": "--resolution",
    "fidelity": "--recipe batch_size or --recipe resolution",
}
_SEARCH_MEMORY = "the space's epf_batch_sizes, --epf-resolution or --recipe batch_size/resolution"


def _out_of_memory(error: Exception, args: argparse.Namespace | None) -> GsearchError | None:
    """An out-of-memory error of torch (CUDA or host) as one line naming what to lower."""
    from gsearch.energy.steps import describe, is_out_of_memory
    from gsearch.errors import OutOfMemory

    if not is_out_of_memory(error):
        return None
    command = getattr(args, "command", None)
    lower = _MEMORY_SETTINGS.get(str(command), _SEARCH_MEMORY)
    return OutOfMemory(f"gsearch {command}: out of memory ({describe(error)}): lower {lower}")


def _known_failure(error: Exception, storage_url: str | None) -> GsearchError | None:
    """The one-line error for a failure of the machine, not of gsearch: a full disk, a
    storage that is locked, read-only or gone."""
    import sqlite3

    import optuna
    import sqlalchemy.exc

    from gsearch.paths import DEFAULT_STORAGE_URL as DEFAULT_STORAGE
    from gsearch.storage import storage_error, storage_fault

    url = storage_url or DEFAULT_STORAGE
    fault = storage_fault(error, url)
    if fault is not None:
        return fault
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        where = f" writing {error.filename}" if error.filename else ""
        return GsearchError(f"no space left on device{where}: free space")
    storage_errors = (
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,
        optuna.exceptions.StorageInternalError,
    )
    if isinstance(error, storage_errors):
        return storage_error(error, url)
    return None
