"""gsearch's files: where they go by default, and how they are written.

Where: ``studies/`` under the working folder holds every default (the study database,
checkpoints, the EPF cache, reports, worker logs and ``gsearch fidelity``'s resume
folder). Relative paths on purpose: a study belongs to the folder it was started in,
like a ``.git``.

How: every file gsearch writes replaces its target in one step, so a reader sees the
old file or the new one, never a part:

>>> with atomic_file(Path("studies/ckpt/last.pt")) as stream:
...     torch.save(state, stream)

The data goes to a temporary file in the target's folder (so the final rename stays on
one file system), is flushed to disk, given the mode ``open`` would have given it
(0o666 less the umask; ``mkstemp`` alone makes it 0o600) and renamed over the target.
Any exception, ``KeyboardInterrupt`` included, removes the temporary file.

Light to import (standard library only), so the command layer and energy/ may both use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

STUDIES_DIR = Path("studies")
DEFAULT_STORAGE_URL = f"sqlite:///{STUDIES_DIR.as_posix()}/gsearch.db"
CHECKPOINTS_DIR = STUDIES_DIR / "checkpoints"
CACHE_DIR = STUDIES_DIR / "cache"
REPORTS_DIR = STUDIES_DIR / "reports"
LOGS_DIR = STUDIES_DIR / "logs"
FIDELITY_DIR = STUDIES_DIR / "fidelity"


def safe_name(text: str) -> str:
    """``text`` as one path component: study names and policies may hold ``/`` or ``=``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def report_dir(study_name: str) -> Path:
    """The default folder of a study's report: ``studies/reports/<study>``."""
    return REPORTS_DIR / safe_name(study_name)


# ---------------------------------------------------------------- writing in one step
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: set it back at once
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """An open stream whose content replaces ``path`` when the block ends without error.

    Args:
        path: The file to write; its folder is created if missing.
        mode: ``wb`` (bytes) or ``w`` (text, UTF-8).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        encoding = None if mode == "wb" else "utf-8"
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Replace ``path`` with ``data`` in one step; returns the path written."""
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w") as stream:
        stream.write(data)
    return Path(path)
