"""Writing report files: the whole file or nothing, with the user's permissions.

Each file replaces its target in one step (:func:`gsearch.paths.write_atomic`), so a
failure never leaves a half-written report, and gets the mode a plain ``open`` would
give (0o666 less the umask): the report is meant to be shared.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gsearch.errors import GsearchError
from gsearch.paths import write_atomic


def prepare_folder(folder: Path) -> None:
    """Create ``folder`` and check that files can be made there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as error:
        raise GsearchError(
            f"report folder {folder} is not writable ({error.strerror}): pass another --out"
        ) from None


class AtomicWriter:
    """Writes whole files into one folder (temporary name, then rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []

    def write(self, name: str, data: bytes | str) -> Path:
        target = self.folder / name
        try:
            write_atomic(target, data.encode() if isinstance(data, str) else data)
        except OSError as error:
            raise GsearchError(f"cannot write {target}: {error.strerror}") from None
        self.written.append(target)
        return target
