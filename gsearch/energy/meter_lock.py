"""One measuring process per energy meter: another's work would count in this one's EPF.

An NVML counter reads a whole board, a RAPL counter a whole CPU package, and a time
meter on the host's cores is slowed by whatever else runs there. Every command that
measures (a search worker, ``profile``, ``calibrate``) therefore holds an exclusive
lock on its meter from before its first reading (idle power included) to its end (an
``flock`` on a file named after the meter, so it is released even on ``kill -9``); a
second process on the same meter is refused with one line before it reads or writes
anything. The model score reads no meter and takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from gsearch.energy.epf import EnergySession
from gsearch.errors import GsearchError
from gsearch.paths import safe_name

# Not tempfile.gettempdir(): a user's own TMPDIR would hide the lock from everyone else
# on the host, and the meter is the host's. /tmp is on every POSIX host (flock is POSIX).
# GSEARCH_METER_LOCK_DIR is for tests, whose fake meters are their own.
LOCK_DIR = Path(os.environ.get("GSEARCH_METER_LOCK_DIR") or "/tmp/gsearch-meters")


def _share(change: Callable[[], None]) -> None:
    """Widen a lock path's mode; only its owner may, and others find it widened."""
    with contextlib.suppress(PermissionError):
        change()


def meter_id(session: EnergySession) -> str:
    """What a meter is shared by: a GPU board, or this host's CPU."""
    facts = session.facts
    if session.device.type == "cuda":
        board = facts.get("gpu_uuid") or facts.get("gpu_index") or session.device.index or 0
        return f"gpu-{board}"
    return f"host-{socket.gethostname()}"


class MeterLock:
    """Exclusive hold of a meter by this process (a context manager)."""

    def __init__(self, meter: str, folder: Path | None = None) -> None:
        self.meter = meter
        self.path = (folder or LOCK_DIR) / f"{safe_name(meter)}.lock"
        self._handle: IO[str] | None = None

    @classmethod
    def for_session(cls, session: EnergySession) -> MeterLock:
        return cls(meter_id(session))

    def __enter__(self) -> MeterLock:
        handle = self._open()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise GsearchError(
                f"the energy meter of {self.meter} is in use by another gsearch process "
                f"({holder}): its work would count in this process's EPF; run one measuring "
                "process per GPU (or per host on the CPU) at a time"
            ) from None
        if handle.writable():
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}{_command()}")
            handle.flush()
        self._handle = handle
        return self

    def _open(self) -> IO[str]:
        """The lock file, shared by every user of this host: the meter is.

        Whoever comes first makes the folder (sticky and writable by all, like /tmp) and
        the file (readable and writable by all). A file another user made readable only
        is locked through a read-only handle: ``flock`` needs no write access.
        """
        folder = self.path.parent
        try:
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                _share(lambda: os.chmod(folder, 0o1777))
            try:
                descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except PermissionError as denied:
                if not self.path.exists():
                    raise denied from None  # the folder is not writable: nothing to open
                return open(self.path)
            _share(lambda: os.fchmod(descriptor, 0o666))
            return os.fdopen(descriptor, "r+")
        except OSError as error:
            raise GsearchError(
                f"cannot open the lock of energy meter {self.meter} ({self.path}): "
                f"{error.strerror}; make {folder} writable by every user (chmod 1777)"
            ) from None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _command() -> str:
    """``, gsearch profile``: what holds the meter, for the refusal of the next process."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    if program == "__main__.py":  # python -m gsearch.cli: .../gsearch/cli/__main__.py
        program = os.path.basename(os.path.dirname(sys.argv[0]))
    if program not in ("gsearch", "cli") or len(sys.argv) < 2:  # console script, -m
        return ""
    return f", gsearch {sys.argv[1]}"


@contextlib.contextmanager
def hold_meter(session: EnergySession) -> Iterator[None]:
    """Hold ``session``'s meter for the block (nothing for the model score, which reads none).

    Enter it before the session's first reading: idle power is a reading too.
    """
    if session.meter is None:
        yield
        return
    with MeterLock.for_session(session):
        yield
