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
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from gsearch.errors import ConfigError

STUDIES_DIR = Path("studies")
DEFAULT_STORAGE_URL = f"sqlite:///{STUDIES_DIR.as_posix()}/gsearch.db"
CHECKPOINTS_DIR = STUDIES_DIR / "checkpoints"
CACHE_DIR = STUDIES_DIR / "cache"
REPORTS_DIR = STUDIES_DIR / "reports"
LOGS_DIR = STUDIES_DIR / "logs"
FIDELITY_DIR = STUDIES_DIR / "fidelity"


def safe_name(text: str) -> str:
    """``text`` as one path component: study names and policies may hold ``/`` or ``=``.

    Letters, digits, ``-``, ``_`` and ``.`` stay; any other character is written as
    ``%`` and the hex of its UTF-8 bytes (``e2gc/digits`` -> ``e2gc%2Fdigits``, ``%`` ->
    ``%25``), so two names never share a folder (``a/b`` and ``a_b`` did once).
    """
    return "".join(c if c.isalnum() or c in "-_." else _escaped(c) for c in text)


def _escaped(char: str) -> str:
    """``%`` and the hex of each UTF-8 byte (a lone surrogate too: names come from argv)."""
    return "".join(f"%{byte:02X}" for byte in char.encode(errors="surrogatepass"))


def report_dir(study_name: str) -> Path:
    """The default folder of a study's report: ``studies/reports/<study>``."""
    return REPORTS_DIR / safe_name(study_name)


# ---------------------------------------------------------------- names the file system holds
# Where the file system does not say (os.pathconf): Linux's NAME_MAX and PATH_MAX, the
# limits of ext4, xfs, btrfs and tmpfs.
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4096
# A ladder's second study is "<study>/full": its folders are 5 bytes longer.
STAGE_SUFFIX = "/full"


def _fs_limit(path: Path, key: str, default: int) -> int:
    """The file system's ``key`` limit where ``path`` (or its deepest existing folder) lies."""
    folder = next((p for p in (path, *path.absolute().parents) if os.path.isdir(p)), Path("/"))
    try:
        return int(os.pathconf(folder, key))
    except (OSError, ValueError):
        return default


def _shown(text: str) -> str:
    """``text`` for a message: whole when short, else its start and its length."""
    return repr(text) if len(text) <= 60 else f"{text[:40]!r}... ({len(text)} characters)"


def check_path(path: str | os.PathLike[str], what: str) -> None:
    """Refuse a path the file system cannot hold: characters it cannot encode, a name
    (one part between slashes) longer than its name limit, or a whole longer than its
    path limit. Looks nothing up beyond the limits; creates nothing.

    Args:
        path: The path a user gave (a folder or a file).
        what: How the user named it (``--out``, ``data root``), for the message.
    """
    text = os.fspath(path)
    try:
        encoded = os.fsencode(text)
    except UnicodeEncodeError as error:
        bad = text[error.start : error.end]
        raise ConfigError(
            f"{what} {_shown(text)} holds {bad!r}, which the file system cannot encode: "
            "pass a path in plain characters"
        ) from None
    target = Path(text)
    name_max = _fs_limit(target, "PC_NAME_MAX", NAME_MAX_BYTES)
    longest = max(encoded.split(b"/"), key=len)
    if len(longest) > name_max:
        raise ConfigError(
            f"{what} {_shown(text)} holds a name of {len(longest)} bytes: the file system "
            f"holds names of at most {name_max} bytes between slashes"
        )
    path_max = _fs_limit(target, "PC_PATH_MAX", PATH_MAX_BYTES)
    whole = len(os.fsencode(os.path.abspath(text)))
    if whole >= path_max:
        raise ConfigError(
            f"{what} {_shown(text)} is {whole} bytes long as an absolute path: the file "
            f"system holds paths of at most {path_max - 1} bytes"
        )


def check_folder_name(name: str, what: str, folder: Path, *, hint: str) -> None:
    """Refuse a ``name`` that cannot become one folder under ``folder``, before anything
    is made: one that would leave it (``..``, ``a/../b``, ``/abs``), one with control
    characters, one the file system cannot hold for its length or its characters.

    The folder made is ``safe_name(name)`` (and ``safe_name(name + STAGE_SUFFIX)`` for a
    ladder), so ``/`` inside a name is allowed: only parts that name a way out are not.

    Args:
        name: The text (a study name).
        what: How to call it in the message (``study name``).
        folder: The folder it becomes a name in (``studies/checkpoints``).
        hint: What the user can do (``pass another --study``).
    """
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or any(part in (".", "..") for part in parts):
        raise ConfigError(
            f"{what} {_shown(name)} would name a folder outside {folder}/: a name may not "
            f"start with a slash nor have . or .. between slashes; {hint}"
        )
    control = next((c for c in name if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise ConfigError(
            f"{what} {_shown(name)} holds the control character {control!r}: a name is "
            f"printed and typed back in commands; {hint}"
        )
    try:
        encoded = os.fsencode(safe_name(name + STAGE_SUFFIX))
    except UnicodeEncodeError as error:
        raise ConfigError(
            f"{what} {_shown(name)} holds {error.object[error.start : error.end]!r}, which "
            f"the file system cannot encode; {hint}"
        ) from None
    suffix = safe_name(STAGE_SUFFIX)  # the ladder's second study: '%2Ffull' more
    room = _fs_limit(folder, "PC_NAME_MAX", NAME_MAX_BYTES) - len(suffix)
    length = len(encoded) - len(suffix)
    if length > room:
        raise ConfigError(
            f"{what} {_shown(name)} is {length} bytes as a folder name under {folder}/: "
            f"at most {room} bytes (the file system's {room + len(suffix)} less "
            f"{len(suffix)} for its '{STAGE_SUFFIX}' stage, written {suffix}); {hint}"
        )
    check_path(folder / safe_name(name + STAGE_SUFFIX), what)


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
