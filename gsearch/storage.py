"""Optuna storages opened with clear errors: SQLite for one process, PostgreSQL to scale out.

RDB storages get heartbeats, so the running trial of a worker that died (kill -9, lost
host) is marked failed after the grace period and retried once by Optuna's
RetryHeartbeatStaleTrialCallback instead of staying RUNNING forever.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import optuna
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from gsearch.errors import GsearchError

_log = logging.getLogger(__name__)
HEARTBEAT_INTERVAL_SECONDS = 10
GRACE_PERIOD_SECONDS = 30
SQLITE_HEADER = b"SQLite format 3\x00"
T = TypeVar("T")


def _check_sqlite_file(url: str, create: bool) -> None:
    """Create the folder of a new SQLite file; refuse a file that is not an SQLite database."""
    path = Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:////"):
        path = Path("/" + url.removeprefix("sqlite:////"))
    if not path.exists():
        if not create:
            raise GsearchError(
                f"storage {url} does not exist: run a search first or pass --storage"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise GsearchError(
                f"cannot create the folder of storage {url}: {error.strerror}"
            ) from None
        return
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise GsearchError(
            f"storage {url} is not an SQLite database (corrupt or another file): "
            "move it away or pass another --storage"
        )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            connection.execute("PRAGMA schema_version").fetchone()
            bad = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as error:
        raise GsearchError(f"storage {url} is a corrupt SQLite database ({error})") from None
    if bad and bad[0] != "ok":
        raise GsearchError(f"storage {url} is a corrupt SQLite database ({bad[0]})")


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


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL_SECONDS,
    grace_period: int | None = GRACE_PERIOD_SECONDS,
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
        create: Create a missing SQLite file (False for readers: report, dashboard).
    """
    if "://" not in url:
        raise GsearchError(
            f"storage {url!r} is not a URL: use sqlite:///path.db or postgresql://host/db"
        )
    if url.startswith("sqlite:"):
        _check_sqlite_file(url, create)
    try:
        with warnings.catch_warnings():
            # Heartbeats and the retry callback are marked experimental; we rely on them.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _HeartbeatTolerantStorage(
                url,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                    max_retry=max_retry
                ),
            )
    except ImportError as error:
        raise GsearchError(f"storage {url}: missing database driver ({error.name})") from None
    except Exception as error:  # SQLAlchemy wraps driver errors in many classes
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise GsearchError(f"cannot open storage {_redact(url)}: {reason}") from None


def _engine_kwargs(url: str) -> dict[str, object]:
    if url.startswith("postgresql"):
        # Fail fast when the server is unreachable, and drop dead pooled connections.
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}}
    return {}


def _redact(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':')[0]}:***@{host}"


# Seconds to wait before each retry when the storage stops answering mid-run (~1 minute);
# GSEARCH_STORAGE_RETRY_SECONDS="1,2,4" sets another schedule.
RETRY_DELAYS_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def retry_delays() -> tuple[float, ...]:
    """The retry schedule: GSEARCH_STORAGE_RETRY_SECONDS or :data:`RETRY_DELAYS_SECONDS`."""
    text = os.environ.get("GSEARCH_STORAGE_RETRY_SECONDS")
    if not text:
        return RETRY_DELAYS_SECONDS
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise GsearchError(
            f"GSEARCH_STORAGE_RETRY_SECONDS={text!r}: expected seconds separated by commas"
        ) from None
    if any(d < 0 for d in delays):
        raise GsearchError(f"GSEARCH_STORAGE_RETRY_SECONDS={text!r}: delays must be >= 0")
    return delays


CONNECTION_ERRORS = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


def _connection_error(error: BaseException) -> BaseException | None:
    """The lost-connection error behind ``error``, if any.

    Optuna may raise another exception while cleaning up after a failed write (its
    ``finally`` blocks touch the storage too), so the chain is searched.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, CONNECTION_ERRORS):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def with_storage_retries(
    call: Callable[[], T],
    delays: Sequence[float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried with backoff while the storage is unreachable, then one clear error.

    ``call`` must be safe to repeat. A trial whose result could not be stored stays
    RUNNING in the storage; its heartbeat stops, so once the storage is back it is
    marked failed and retried: nothing half-written is kept.
    """
    delays = retry_delays() if delays is None else delays
    for attempt in range(len(delays) + 1):
        try:
            return call()
        except Exception as raised:
            error = _connection_error(raised)
            if error is None:
                raise
            if attempt == len(delays):
                reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
                raise GsearchError(
                    f"lost the storage and it did not come back after {len(delays)} retries "
                    f"over {sum(delays):.0f} s: {reason}"
                ) from None
            sleep(delays[attempt])
    raise AssertionError("unreachable")
