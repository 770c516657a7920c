from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from gsearch.errors import GsearchError
from gsearch.storage import open_storage, with_storage_retries


def test_new_sqlite_storage_creates_its_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/gsearch.db"
    open_storage(url)
    assert (tmp_path / "deep" / "er" / "gsearch.db").exists()


def test_corrupt_sqlite_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "gsearch.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(GsearchError, match="is not an SQLite database"):
        open_storage(f"sqlite:///{path}")
    assert path.read_bytes().startswith(b"this is not")  # left as it was


def test_truncated_sqlite_file_is_one_clear_error(tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    open_storage(f"sqlite:///{good}")
    data = good.read_bytes()
    bad = tmp_path / "bad.db"
    bad.write_bytes(data[:100] + b"\x00\xff" * 2000)
    with pytest.raises(GsearchError, match="corrupt SQLite database|not an SQLite database"):
        open_storage(f"sqlite:///{bad}")


def test_unreachable_postgres_is_one_clear_error() -> None:
    with pytest.raises(
        GsearchError, match="cannot open storage postgresql://u:\\*\\*\\*@127.0.0.1:9/x"
    ):
        open_storage("postgresql://u:secret@127.0.0.1:9/x")


def test_not_a_url() -> None:
    with pytest.raises(GsearchError, match="is not a URL"):
        open_storage("studies/gsearch.db")


def _lost() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, Exception("server closed the connection")
    )


def test_retries_with_backoff_then_succeeds() -> None:
    calls, sleeps = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _lost()
        return "ok"

    assert with_storage_retries(flaky, delays=(1, 2, 4), sleep=sleeps.append) == "ok"
    assert sleeps == [1, 2]


def test_gives_up_with_one_clear_error() -> None:
    sleeps: list[float] = []

    def down() -> None:
        raise _lost()

    with pytest.raises(
        GsearchError, match="lost the storage .* after 3 retries over 7 s: server closed"
    ):
        with_storage_retries(down, delays=(1, 2, 4), sleep=sleeps.append)
    assert sleeps == [1, 2, 4]


def test_readers_do_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/none/gsearch.db"
    with pytest.raises(GsearchError, match="does not exist: run a search first"):
        open_storage(url, create=False)
    assert not (tmp_path / "none").exists()


def test_heartbeat_thread_outlives_a_storage_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error in a heartbeat skips one beat; the thread keeps beating (no traceback)."""
    from optuna.storages import RDBStorage
    from optuna.storages._heartbeat import HeartbeatThread

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1)
    study = optuna.create_study(storage=storage)
    trial_id = study.ask()._trial_id
    real_beat = RDBStorage.record_heartbeat
    calls: list[str] = []

    def flaky_beat(self: RDBStorage, tid: int) -> None:
        # Both ways a lost server shows: raw, and wrapped by Optuna's commit.
        if len(calls) == 0:
            calls.append("lost")
            raise sqlalchemy.exc.OperationalError("beat", {}, Exception("server closed"))
        if len(calls) == 1:
            calls.append("lost")
            raise optuna.exceptions.StorageInternalError("error during the commit")
        calls.append("ok")
        real_beat(self, tid)

    monkeypatch.setattr(RDBStorage, "record_heartbeat", flaky_beat)
    beats = HeartbeatThread(trial_id, storage)  # type: ignore[arg-type]
    beats.start()
    deadline = time.monotonic() + 15
    while "ok" not in calls and time.monotonic() < deadline:
        time.sleep(0.05)
    beats.join()
    assert calls[:3] == ["lost", "lost", "ok"]


def test_heartbeat_lets_other_errors_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optuna.storages import RDBStorage

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1)

    def broken(self: RDBStorage, tid: int) -> None:
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr(RDBStorage, "record_heartbeat", broken)
    with pytest.raises(ValueError, match="a bug"):
        storage.record_heartbeat(0)  # type: ignore[attr-defined]
