"""Writing report files: the whole file or nothing, with the user's permissions.

Each file is written to a temporary name in its folder and renamed into place, so a
failure never leaves a half-written report. ``mkstemp`` creates files readable by
their owner only; the report is meant to be shared, so each gets the mode a plain
``open`` would give (0o666 less the umask).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gsearch.errors import GsearchError


def current_umask() -> int:
    """The process's umask (reading it means setting it: set it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        self.mode = 0o666 & ~current_umask()
        self.written: list[Path] = []

    def write(self, name: str, data: bytes | str) -> Path:
        target = self.folder / name
        raw = data.encode() if isinstance(data, str) else data
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            os.chmod(temporary, self.mode)
            os.replace(temporary, target)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise GsearchError(f"cannot write {target}: {error.strerror}") from None
        self.written.append(target)
        return target
