"""Checks of paths, names and data that the command layer runs before any work starts.

A command calls these before it creates a study, starts a worker or measures anything,
so that a mistake costs nothing: no empty database, no logs folder, no failed trial, no
hour of training. Nothing here creates, writes or changes a file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsearch.errors import ConfigError, ForeignStudy, StorageFull
from gsearch.paths import check_folder_name, check_path

if TYPE_CHECKING:
    from gsearch.storage import RunStorage

# gsearch.data and gsearch.storage import torch and optuna: imported where used, so that
# the command line starts fast.

# Less free space than this where the study database lives and the next trial's rows
# (a few kB) may not fit: refuse before a trial starts instead of failing inside one.
MIN_FREE_BYTES = 1 << 20
STUDIES_DIR = Path("studies")


def _existing_ancestor(path: Path) -> Path:
    """The deepest part of ``path`` that exists (``path`` itself when it does)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()  # pragma: no cover - the root always exists


def check_output_folder(path: str | os.PathLike[str], what: str) -> None:
    """``path`` is a folder that exists or can be made, and can be written; nothing is made.

    Args:
        path: The folder.
        what: How the user named it (an option such as ``--cache-dir``), for the message.
    """
    folder = Path(path)
    if not str(path).strip():
        raise ConfigError(f"{what} is empty: pass a folder")
    check_path(folder, what)  # a name too long would fail the look-ups below
    existing = _existing_ancestor(folder)
    if not existing.is_dir():
        if existing == folder:
            raise ConfigError(f"{what} {folder} is a file, not a folder: pass a folder")
        raise ConfigError(f"{what} {folder} cannot be made: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {folder} cannot be written: {existing} is not writable")


def check_output_file(path: str | os.PathLike[str], what: str) -> None:
    """``path`` names a file that can be written (made, or replaced); nothing is made."""
    file = Path(path)
    check_path(file, what)
    if file.is_dir():
        raise ConfigError(f"{what} {file} is a folder, not a file: pass a file name")
    check_output_folder(file.parent, f"{what}'s folder")
    if file.exists() and not os.access(file, os.W_OK):
        raise ConfigError(f"{what} {file} cannot be written: the file is read-only")


def check_input_file(path: str | os.PathLike[str], what: str) -> None:
    """``path`` is a file that exists (not a folder)."""
    check_path(path, what)
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"{what} {file} is a folder, not a file")
    if not file.is_file():
        raise ConfigError(f"{what} {file} does not exist")


def check_free_space(folder: Path, url: str) -> None:
    """Refuse a storage whose device has (almost) no space left."""
    from gsearch.storage import redact

    free = shutil.disk_usage(_existing_ancestor(folder)).free
    if free < MIN_FREE_BYTES:
        raise StorageFull(
            f"storage {redact(url)}: no space left on device ({free // 1024} KiB free): free space"
        )


def check_run_storage(
    url: str,
    studies: tuple[str, ...],
    *,
    heartbeat_s: int | None = None,
    grace_s: int | None = None,
) -> RunStorage:
    """The storage can take a run's studies: without creating or changing anything, refuse
    a file that is no Optuna database, a folder that cannot be made, a full device and a
    study of the same name that another program made.

    Returns:
        The run's storage: opened already (with ``heartbeat_s`` and ``grace_s``) when the
        database exists, so the run does not open it again; else opened, and created, by
        the run's first use of it.
    """
    from gsearch.storage import (
        RunStorage,
        check_sqlite_file,
        redact,
        refuse_foreign_study,
        refuse_memory_storage,
        sqlite_path,
    )

    storage = RunStorage(url, heartbeat_s=heartbeat_s, grace_s=grace_s)
    refuse_memory_storage(url)  # a search in it would be lost with its process
    path = sqlite_path(url)
    if path is not None:
        check_path(path, "storage file")  # a name too long fails the look-ups below
        if not path.exists() and not path.is_dir():
            check_output_folder(path.parent, f"storage {redact(url)}: its folder")
            check_free_space(path.parent, url)
            return storage
        check_sqlite_file(url, create=True)  # folder given, not SQLite, another program's
        check_free_space(path.parent, url)
        if path.stat().st_size == 0:
            return storage
    try:
        opened = storage.open_existing()
    except ForeignStudy:
        if path is not None:
            raise
        return storage  # a server database without Optuna's tables yet: the run creates them
    try:
        for name in studies:
            refuse_foreign_study(opened, name, url)
    except BaseException:
        storage.close()
        raise
    return storage


def check_run(config: Any) -> RunStorage:
    """Everything a `run` or `worker` needs, before its study is created.

    ``config`` is the command's RunConfig (its fields are read by name).

    Returns:
        The run's storage, checked (:func:`check_run_storage`): pass it on instead of
        opening the URL again.
    """
    from gsearch.data import check_data_root

    # The study's name becomes folders (checkpoints, worker logs, the report): all
    # under studies/, so one check against the checkpoints' folder holds for them all.
    folders = Path(getattr(config, "checkpoint_root", None) or STUDIES_DIR)
    check_folder_name(config.study, "study name", folders, hint="pass another --study")
    check_output_folder(STUDIES_DIR, "the working folder's studies/")
    for field, what in (("checkpoint_root", "checkpoint folder"), ("cache_dir", "EPF cache")):
        folder = getattr(config, field, None)
        if folder is not None:
            check_output_folder(folder, what)
    check_data_root(config.dataset, config.data_root)
    studies = (config.study, f"{config.study}/full")
    return check_run_storage(
        config.storage,
        studies if config.fidelity == "ladder" else studies[:1],
        heartbeat_s=config.heartbeat_s,
        grace_s=config.grace_s,
    )
