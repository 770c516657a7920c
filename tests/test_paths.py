from __future__ import annotations

from pathlib import Path

from gsearch import paths
from gsearch.energy.cache import DEFAULT_CACHE_DIR
from gsearch.preflight import STUDIES_DIR
from gsearch.search.config import DEFAULT_STORAGE, RunConfig
from gsearch.workers import LOG_ROOT


def test_every_default_lies_under_studies() -> None:
    assert Path("studies") == paths.STUDIES_DIR
    assert paths.DEFAULT_STORAGE_URL == "sqlite:///studies/gsearch.db"
    for folder in (paths.CHECKPOINTS_DIR, paths.CACHE_DIR, paths.REPORTS_DIR, paths.LOGS_DIR,
                   paths.FIDELITY_DIR):  # fmt: skip
        assert folder.parent == paths.STUDIES_DIR
    assert paths.report_dir("e2gc/digits") == Path("studies/reports/e2gc_digits")


def test_the_modules_that_still_spell_a_default_agree_with_paths() -> None:
    # search/config.py, workers.py, energy/cache.py and preflight.py belong to other
    # issues; until they read gsearch.paths, their literals must say the same.
    fields = RunConfig.__dataclass_fields__
    assert DEFAULT_STORAGE == paths.DEFAULT_STORAGE_URL
    assert fields["checkpoint_root"].default == paths.CHECKPOINTS_DIR
    assert fields["cache_dir"].default == paths.CACHE_DIR
    assert (DEFAULT_CACHE_DIR, LOG_ROOT, STUDIES_DIR) == (
        paths.CACHE_DIR, paths.LOGS_DIR, paths.STUDIES_DIR,
    )  # fmt: skip
