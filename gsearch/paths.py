"""Where gsearch keeps its files by default: ``studies/`` under the working folder.

One place for every default: the study database, checkpoints, the EPF cache, reports,
worker logs and ``gsearch fidelity``'s resume folder. Relative paths on purpose: a
study belongs to the folder it was started in, like a ``.git``. Light to import (no
torch), so the command layer and energy/ may both read it.
"""

from __future__ import annotations

from pathlib import Path

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
