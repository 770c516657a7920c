"""A cache of EPF results on disk, so that measuring the same thing twice asks the device nothing.

One JSON file per entry under ``<cache_dir>/epf/``, named by the SHA-256 of its key. The
key is canonical JSON of: the architecture (model, policy, a fingerprint of the built
module), the device and software identity (GPU name and UUID, driver, power limit, or
CPU model and threads; torch, CUDA, cuDNN), the step (batch, resolution, precision,
memory format, mode) and the protocol (windows, repeats, method, energy source). Files
are written to a temporary name and renamed, so concurrent workers never see half a
file; the stored key is compared on read, so a hash collision cannot return a wrong row.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from gsearch.paths import CACHE_DIR, write_atomic

DEFAULT_CACHE_DIR = CACHE_DIR


def key_digest(key: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of ``key``."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class EpfCache:
    """Read and write cached EPF rows.

    Args:
        directory: The cache directory (default ``studies/cache``); created on first write.
    """

    def __init__(self, directory: str | os.PathLike[str] = DEFAULT_CACHE_DIR) -> None:
        self.directory = Path(directory) / "epf"

    def _path(self, key: dict[str, Any]) -> Path:
        return self.directory / f"{key_digest(key)}.json"

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """The stored row for ``key``, or None (also for an unreadable or foreign file)."""
        path = self._path(key)
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        canonical = json.loads(json.dumps(key, sort_keys=True, default=str))
        if not isinstance(entry, dict) or entry.get("key") != canonical:
            return None
        row = entry.get("row")
        return row if isinstance(row, dict) else None

    def put(self, key: dict[str, Any], row: dict[str, Any]) -> Path:
        """Store ``row`` under ``key`` atomically; returns the file written."""
        entry = {"key": key, "row": row}
        return write_atomic(
            self._path(key), json.dumps(entry, sort_keys=True, indent=1, default=str)
        )
