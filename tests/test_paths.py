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
    assert paths.report_dir("e2gc/digits") == Path("studies/reports/e2gc%2Fdigits")


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


def test_two_names_never_share_a_folder() -> None:
    # `a/b` and `a_b` once both became `a_b`: two studies' checkpoints and reports mixed.
    from urllib.parse import unquote

    names = ["a/b", "a_b", "a b", "a=b", "a%2Fb", "a%b", "G=8", "G_8", "ü/ß", "a→b", "x\udcff"]
    folders = [paths.safe_name(name) for name in names]
    assert len(set(folders)) == len(names)
    for name, folder in zip(names, folders, strict=True):
        assert "/" not in folder and folder not in (".", "..")
        assert unquote(folder, errors="surrogatepass") == name  # readable back: %XX is UTF-8
    assert paths.safe_name("e2gc-digits_proxy.v2") == "e2gc-digits_proxy.v2"  # safe: as typed
    assert paths.safe_name("e2gc/full") == "e2gc%2Ffull"
