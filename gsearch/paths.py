"""Names of the files gsearch keeps under ``studies/`` (checkpoints, logs, reports)."""

from __future__ import annotations


def safe_name(text: str) -> str:
    """``text`` as one path component: study names and policies may hold ``/`` or ``=``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
