"""Optuna storages opened with clear errors: SQLite for one process, PostgreSQL to scale out.

RDB storages get heartbeats, so the running trial of a worker that died (kill -9, lost
host) is marked failed after the grace period and retried once by Optuna's
RetryHeartbeatStaleTrialCallback instead of staying RUNNING forever.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import optuna
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from gsearch.errors import (
    ConfigError,
    ForeignStudy,
    GsearchError,
    StorageFull,
    StorageLocked,
    StorageReadOnly,
    StorageUnavailable,
)
from gsearch.paths import check_path

_log = logging.getLogger(__name__)
HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 30
SQLITE_HEADER = b"SQLite format 3\x00"
# System attrs gsearch writes into its studies; "gsearch:space" marks a study as gsearch's.
STUDY_ATTR_PREFIX = "gsearch:"
STUDY_MARK = STUDY_ATTR_PREFIX + "space"
# Tables every Optuna RDB storage holds: a database without them is another program's.
OPTUNA_TABLES = frozenset({"studies", "trials", "version_info"})
# Every table of Optuna's schema: a database holding only some of them is Optuna's,
# half-created by another process (SQLite commits each CREATE TABLE by itself).
OPTUNA_SCHEMA = OPTUNA_TABLES | {
    "alembic_version", "study_directions", "study_system_attributes",
    "study_user_attributes", "trial_heartbeats", "trial_intermediate_values",
    "trial_params", "trial_system_attributes", "trial_user_attributes", "trial_values",
}  # fmt: skip
# Python modules SQLAlchemy loads per dialect, and the pip package that provides each.
DRIVER_PACKAGES = {
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
    "mysql": "mysql-connector-python",
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "asyncpg": "asyncpg",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}
T = TypeVar("T")

_PASSWORD_IN_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*):[^\s@]*@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``.

    The one place secrets are removed: the CLI passes every line it prints through it.
    """
    return _PASSWORD_IN_URL.sub(r"\1:***@", text)


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL (None for in-memory or another backend)."""
    if not url.startswith("sqlite:///"):
        return None
    rest = url.removeprefix("sqlite:///").partition("?")[0]
    if rest in ("", ":memory:"):
        return None
    return Path(rest)  # sqlite:////abs -> "/abs", sqlite:///rel -> "rel"


def keeps_nothing(url: str) -> bool:
    """True for a storage whose data ends with the process that opened it: SQLite in
    memory (``sqlite://``, ``sqlite:///:memory:``, ``file::memory:``, ``mode=memory``)."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0].lower() != "sqlite":
        return False
    database, _, query = rest.removeprefix("/").partition("?")
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or "mode=memory" in query.lower()
    )


def refuse_memory_storage(url: str, *, shows: str | None = None) -> None:
    """Refuse SQLite in memory. A search in it is lost when it ends (its workers, its
    report and the dashboard are other processes); a reader would find it empty.

    Args:
        url: The storage URL.
        shows: What a reading command would show (``no study to report``); None for
            a command that writes.
    """
    if not keeps_nothing(url):
        return
    if shows is None:
        raise StorageUnavailable(
            f"storage {redact(url)} keeps nothing after this process ends (SQLite in "
            "memory): every trial would be lost and gsearch report could not read them; "
            "pass a file, e.g. --storage sqlite:///studies/gsearch.db"
        )
    raise StorageUnavailable(
        f"storage {redact(url)} is SQLite in memory, new and empty in this process: "
        f"{shows}; pass the --storage a search wrote to, e.g. sqlite:///studies/gsearch.db"
    )


def _named(url: str) -> str:
    return f"storage {redact(url)}" if url else "the storage"


def _sqlite_fault(error: BaseException, url: str) -> GsearchError | None:
    """The true one-line error for an SQLite failure that is not corruption, if it is one."""
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return StorageLocked(
            f"{_named(url)} is locked by another process: wait for it to finish "
            "or retry (SQLite takes one writer at a time; use PostgreSQL for many)"
        )
    if "disk is full" in text or "no space left" in text:
        return StorageFull(f"{_named(url)}: no space left on device: free space")
    if "readonly" in text or "read-only" in text or "read only" in text:
        return StorageReadOnly(
            f"{_named(url)} is read-only: make the file and its folder writable "
            "or pass another --storage"
        )
    if "unable to open" in text:
        return StorageUnavailable(f"cannot open {_named(url)}: {error}")
    return None


def _sqlite_tables(path: Path, url: str) -> list[str]:
    """Names of the tables in an SQLite file, read without writing; corruption is one error."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            tables = [
                row[0]
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            bad = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as error:
        fault = _sqlite_fault(error, url)
        if fault is not None:
            raise fault from None
        raise StorageUnavailable(
            f"storage {redact(url)} is a corrupt SQLite database ({error})"
        ) from None
    if bad and bad[0] != "ok":
        raise StorageUnavailable(f"storage {redact(url)} is a corrupt SQLite database ({bad[0]})")
    return tables


def check_sqlite_file(url: str, create: bool) -> None:
    """Create the folder of a new SQLite file (writers only); refuse a file that is no
    Optuna database, and a folder given as the file. Never writes into an existing file."""
    path = sqlite_path(url)
    if path is None:
        return
    shown = redact(url)
    check_path(path, "storage file")  # a name too long fails the look-ups below
    if path.is_dir():
        raise StorageUnavailable(
            f"storage {shown} names a folder, not a file: pass sqlite:///{path}/gsearch.db"
        )
    if not path.exists():
        if not create:
            raise StorageUnavailable(
                f"storage {shown} does not exist: run a search first or pass --storage"
            )
        blocker = next((p for p in path.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise StorageUnavailable(
                f"cannot create storage {shown}: {blocker} is a file, not a folder"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageUnavailable(
                f"cannot create the folder of storage {shown}: {error.strerror}"
            ) from None
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise StorageUnavailable(f"cannot read storage {shown}: {error.strerror}") from None
    if not header:
        if create:
            return  # an empty file is an empty SQLite database: a writer may set it up
        raise StorageUnavailable(
            f"storage {shown} is an empty file, not an Optuna database: run a search first "
            "or pass another --storage"
        )
    if header != SQLITE_HEADER:
        raise StorageUnavailable(
            f"storage {shown} is not an SQLite database (corrupt or another file): "
            "move it away or pass another --storage"
        )
    tables = _sqlite_tables(path, url)
    if create and set(tables) <= OPTUNA_SCHEMA:
        return  # empty, or Optuna's tables being created by another writer right now
    _refuse_without_optuna_tables(tables, shown, "an SQLite database")


class _HeartbeatTolerantStorage(RDBStorage):
    """RDBStorage whose heartbeat survives a storage outage.

    Optuna records heartbeats in a background thread that dies, printing a traceback,
    on the first database error. A missed beat is harmless (the next one, or the main
    thread's retries, settle it), so it is skipped and the thread lives on.
    """

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        # Optuna wraps some database errors in StorageInternalError.
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            # Debug level: the one-line error of a lost storage comes from the main thread.
            _log.debug("skipped the heartbeat of trial %d: %s", trial_id, error)


def _missing_driver(error: ImportError, url: str) -> StorageUnavailable:
    module = error.name or getattr(error.__cause__, "name", None) or "?"
    package = DRIVER_PACKAGES.get(module.split(".")[0], module)
    scheme = url.partition("://")[0]
    return StorageUnavailable(
        f"storage {redact(url)}: the {scheme} driver is not installed (Python module "
        f"{module!r}): pip install {package}"
    )


def _check_dialect(url: str) -> None:
    """Refuse a URL of something that is not a database (``redis://``, ``http://``)."""
    try:
        sqlalchemy.engine.make_url(url).get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        scheme = url.partition("://")[0]
        raise StorageUnavailable(
            f"storage {redact(url)}: {scheme!r} is not a database that Optuna's storage can "
            "use: use sqlite:///path.db, postgresql://host/db or mysql://host/db"
        ) from None
    except sqlalchemy.exc.ArgumentError:
        pass  # malformed URLs get their message where the storage is opened


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = GRACE_PERIOD_S,
    max_retry: int = 1,
    create: bool = True,
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url`` with heartbeats, or one clear error.

    Args:
        url: ``sqlite:///path.db``, ``postgresql://user@host:port/db`` or another
            SQLAlchemy URL Optuna accepts.
        heartbeat_interval: Seconds between a running trial's heartbeats (None: off).
        grace_period: Seconds without a heartbeat after which a trial counts as dead.
        max_retry: Times a dead trial is retried.
        create: Create a missing SQLite file and Optuna's tables (writers). False for
            readers (report, dashboard): nothing is created, and a database without
            Optuna's tables is refused.
    """
    if not url.strip():
        raise StorageUnavailable("storage URL is empty: use sqlite:///path.db or postgresql://...")
    if "://" not in url:
        raise StorageUnavailable(
            f"storage {redact(url)!r} is not a URL: use sqlite:///path.db or postgresql://host/db"
        )
    refuse_memory_storage(url, shows=None if create else "it holds no study to read")
    _check_dialect(url)
    check_sqlite_file(url, create)
    for delay_s in (*CREATION_RACE_DELAYS_S, None):
        try:
            if not create and sqlite_path(url) is None:  # check_sqlite_file read SQLite's
                _require_optuna_tables(url)
            with warnings.catch_warnings():
                # Heartbeats and the retry callback are marked experimental; we rely on them.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = _HeartbeatTolerantStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=max_retry
                    ),
                    skip_table_creation=not create,
                    skip_compatibility_check=not create,
                )
                if not create:
                    storage._version_manager.check_table_schema_compatibility()
                return storage
        except GsearchError:
            raise
        except ImportError as error:
            raise _missing_driver(error, url) from None
        except Exception as error:  # SQLAlchemy wraps driver errors in many classes
            if delay_s is None or not _lost_creation_race(error):
                raise storage_error(error, url) from None
            # Another worker is creating Optuna's tables in this database right now:
            # once it is done, they exist and opening only reads them.
            _log.debug("tables being created by another process (%s); retrying", error)
            time.sleep(delay_s)
    raise AssertionError("unreachable: the last attempt returns or raises")


class RunStorage:
    """One command's storage, opened once and passed on.

    ``gsearch run`` checks the storage before anything is created (gsearch.preflight);
    when the database exists, the storage opened for that check is kept here with the
    run's heartbeat settings, and the study, the ladder's second study, the workers'
    follower and the front's record all use it. A database that does not exist yet is
    created on the first :meth:`get`, after every check has passed.
    """

    def __init__(
        self,
        url: str,
        *,
        heartbeat_s: int | None = HEARTBEAT_INTERVAL_S,
        grace_s: int | None = GRACE_PERIOD_S,
    ) -> None:
        self.url = url
        self.heartbeat_s = heartbeat_s
        self.grace_s = grace_s
        self.opened: optuna.storages.BaseStorage | None = None

    def open_existing(self) -> optuna.storages.BaseStorage:
        """Open a database that already holds Optuna's tables, creating nothing; refuse
        one without them (:class:`ForeignStudy`)."""
        self.opened = open_storage(
            self.url, heartbeat_interval=self.heartbeat_s, grace_period=self.grace_s, create=False
        )
        return self.opened

    def get(self) -> optuna.storages.BaseStorage:
        """The storage: the one already opened, else opened (and created) now."""
        if self.opened is None:
            self.opened = open_storage(
                self.url, heartbeat_interval=self.heartbeat_s, grace_period=self.grace_s
            )
        return self.opened

    def close(self) -> None:
        """Let go of the database's connections (a no-op when nothing was opened)."""
        engine = getattr(self.opened, "engine", None)
        if engine is not None:
            engine.dispose()
        self.opened = None


# Workers started together on an empty database all create Optuna's tables; all but
# one fail (PostgreSQL: "duplicate key ... pg_type_typname_nsp_index", "relation ...
# already exists"; SQLite: "table ... already exists", "UNIQUE constraint failed:
# alembic_version..."). Four retries over about 4 s let the winner finish.
CREATION_RACE_DELAYS_S = (0.25, 0.5, 1.0, 2.0)
_CREATION_RACE_WORDS = ("already exists", "duplicate key", "unique constraint failed")


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the exceptions behind it (cause, else context), each once.

    Optuna and SQLAlchemy wrap driver errors, and Optuna may raise another exception
    while cleaning up after a failed write, so what happened is often further down.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _lost_creation_race(error: BaseException) -> bool:
    """True when ``error`` says another process created the same table or row first."""
    creation = (
        sqlalchemy.exc.IntegrityError,
        sqlalchemy.exc.ProgrammingError,
        sqlalchemy.exc.OperationalError,  # SQLite's "table ... already exists"
    )
    return any(
        isinstance(e, creation) and any(w in str(e).lower() for w in _CREATION_RACE_WORDS)
        for e in _chain(error)
    )


def _require_optuna_tables(url: str) -> None:
    """Refuse a database without Optuna's tables before Optuna opens it: its storage
    reads ``version_info`` as it starts, and where that table is missing (a new server
    database) fails with a generic commit error instead of saying what is wrong."""
    engine = sqlalchemy.create_engine(url, **_engine_kwargs(url))
    try:
        tables = sqlalchemy.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    _refuse_without_optuna_tables(tables, redact(url), "a database")


def _refuse_without_optuna_tables(tables: Collection[str], shown: str, kind: str) -> None:
    """Refuse a database (``kind``: how to call it) that lacks Optuna's tables."""
    if not tables:
        raise ForeignStudy(
            f"storage {shown} is {kind} that holds no table yet: run a search first or "
            "pass another --storage"
        )
    if not set(tables) >= OPTUNA_TABLES:
        raise ForeignStudy(
            f"storage {shown} is {kind} that holds the tables "
            f"{', '.join(sorted(tables)[:6])}, not an Optuna storage: pass another --storage"
        )


def storage_error(error: BaseException, url: str) -> GsearchError:
    """One true line for a failure to open or use the storage at ``url``."""
    fault = storage_fault(error, url)
    if fault is not None:
        return fault
    # Optuna wraps driver errors (StorageInternalError): the driver's own words say more.
    cause = _connection_error(error) or next(
        (e for e in _chain(error) if getattr(e, "orig", None) is not None), error
    )
    lines = str(getattr(cause, "orig", None) or cause).strip().splitlines()
    reason = redact(lines[0]) if lines else type(error).__name__
    return StorageUnavailable(f"cannot open {_named(url)}: {reason}")


def storage_fault(error: BaseException, url: str = "") -> GsearchError | None:
    """Locked, full or read-only behind ``error`` (searched along its chain), else None."""
    for current in _chain(error):
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return StorageFull(f"{_named(url)}: no space left on device: free space")
        if isinstance(current, (sqlite3.OperationalError, sqlalchemy.exc.OperationalError)):
            fault = _sqlite_fault(getattr(current, "orig", None) or current, url)
            if fault is not None:
                return fault
        if type(current).__name__ == "DiskFull":  # PostgreSQL's SQLSTATE 53100
            return StorageFull(f"{_named(url)}: no space left on device: free space")
    return None


def is_gsearch_study(storage: optuna.storages.BaseStorage, study_id: int) -> bool:
    """Whether the study was made by gsearch (it carries the ``gsearch:space`` attr)."""
    return STUDY_MARK in storage.get_study_system_attrs(study_id)


def is_foreign_study(storage: optuna.storages.BaseStorage, study_id: int) -> bool:
    """Whether another program made the study: no gsearch mark, and something in it.

    An empty study, or one whose gsearch settings another worker is still writing (the
    mark comes last), is not foreign: a run may write the same settings into it.
    """
    attrs = storage.get_study_system_attrs(study_id)
    if STUDY_MARK in attrs:
        return False
    neutral = ("gsearch:", "study:metric_names")  # gsearch's own, and Optuna's names
    others = [key for key in attrs if not key.startswith(neutral)]
    return bool(
        others
        or storage.get_study_user_attrs(study_id)
        or storage.get_all_trials(study_id, deepcopy=False)
    )


def describe_foreign_study(storage: optuna.storages.BaseStorage, study_id: int, url: str) -> str:
    """One line saying what a study that another program made is."""
    name = storage.get_study_name_from_id(study_id)
    directions = [d.name.lower() for d in storage.get_study_directions(study_id)]
    trials = len(storage.get_all_trials(study_id, deepcopy=False))
    return (
        f"study {name!r} in {redact(url)} was made by another program, not gsearch "
        f"({trials} trials, {len(directions)} objective(s): {', '.join(directions)}; "
        f"no {STUDY_MARK!r} attribute): gsearch neither reads nor writes it, pass another --study"
    )


def refuse_foreign_study(storage: optuna.storages.BaseStorage, name: str, url: str) -> None:
    """Raise :class:`ForeignStudy` when ``name`` exists and another program made it.

    Called before a run writes anything into the study; an absent study is fine.
    """
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return
    if is_foreign_study(storage, study_id):
        raise ForeignStudy(describe_foreign_study(storage, study_id, url))


def open_existing_study(url: str, name: str | None) -> tuple[optuna.Study, dict[str, Any]]:
    """An existing gsearch study and its facts, opened without creating anything.

    Args:
        url: Storage URL (must already hold Optuna's tables).
        name: Study name; None picks the storage's only study.

    Returns:
        The study and its system attrs with the ``gsearch:`` prefix stripped.
    """
    storage = open_storage(url, heartbeat_interval=None, create=False)
    shown = redact(url)
    try:
        summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
        names = [s.study_name for s in summaries]
        if name is None:
            if not names:
                raise StorageUnavailable(f"storage {shown} holds no study yet")
            if len(names) > 1:
                raise ConfigError(
                    f"storage {shown} holds studies {', '.join(names)}: pass --study NAME"
                )
            name = names[0]
        if name not in names:
            raise ConfigError(
                f"no study {name!r} in {shown}; it holds {', '.join(names) or 'no study'}"
            )
        study_id = storage.get_study_id_from_name(name)
        if not is_gsearch_study(storage, study_id):
            raise ForeignStudy(describe_foreign_study(storage, study_id, url))
        study = optuna.load_study(study_name=name, storage=storage)
        attrs = storage.get_study_system_attrs(study_id)
    except GsearchError:
        raise
    except Exception as error:
        if storage_fault(error, url) is None and _connection_error(error) is None:
            raise
        raise storage_error(error, url) from None
    facts = {
        key.removeprefix(STUDY_ATTR_PREFIX): value
        for key, value in attrs.items()
        if key.startswith(STUDY_ATTR_PREFIX)
    }
    return study, facts


def _engine_kwargs(url: str) -> dict[str, object]:
    if url.startswith("postgresql"):
        # Fail fast when the server is unreachable, and drop dead pooled connections.
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}}
    return {}


# Seconds to wait before each retry when the storage stops answering mid-run (~1 minute);
# GSEARCH_STORAGE_RETRY_S="1,2,4" sets another schedule.
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def retry_delays() -> tuple[float, ...]:
    """The retry schedule: GSEARCH_STORAGE_RETRY_S or :data:`RETRY_DELAYS_S`."""
    text = os.environ.get("GSEARCH_STORAGE_RETRY_S")
    if not text:
        return RETRY_DELAYS_S
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(
            f"GSEARCH_STORAGE_RETRY_S={text!r}: expected seconds separated by commas"
        ) from None
    if any(not math.isfinite(d) or d < 0 for d in delays):
        raise ConfigError(f"GSEARCH_STORAGE_RETRY_S={text!r}: delays must be finite numbers >= 0")
    return delays


CONNECTION_ERRORS = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


def _connection_error(error: BaseException) -> BaseException | None:
    """The lost-connection error behind ``error``, if any (searched along its chain)."""
    return next((e for e in _chain(error) if isinstance(e, CONNECTION_ERRORS)), None)


def with_storage_retries(
    call: Callable[[], T],
    delays: Sequence[float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    url: str = "",
) -> T:
    """``call()``, retried with backoff while the storage is unreachable or locked, then one
    clear error.

    ``call`` must be safe to repeat. A trial whose result could not be stored stays
    RUNNING in the storage; its heartbeat stops, so once the storage is back it is
    marked failed and retried: nothing half-written is kept. A full or read-only storage
    is not retried: each retry would start (and fail) one more trial.
    """
    delays = retry_delays() if delays is None else delays
    for attempt in range(len(delays) + 1):
        try:
            return call()
        except Exception as raised:
            fault = storage_fault(raised, url)
            if isinstance(fault, (StorageFull, StorageReadOnly)):
                raise fault from None
            error = fault or _connection_error(raised)
            if error is None:
                raise
            if attempt == len(delays):
                if fault is not None:
                    raise fault from None
                reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
                raise StorageUnavailable(
                    f"lost the storage and it did not come back after {len(delays)} retries "
                    f"over {sum(delays):.0f} s: {redact(reason)}"
                ) from None
            sleep(delays[attempt])
    raise AssertionError("unreachable")
