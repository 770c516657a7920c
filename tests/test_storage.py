from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from gsearch.errors import (
    ForeignStudy,
    GsearchError,
    StorageFull,
    StorageLocked,
    StorageReadOnly,
    StorageUnavailable,
)
from gsearch.storage import (
    OPTUNA_SCHEMA,
    _lost_creation_race,
    check_sqlite_file,
    is_gsearch_study,
    open_existing_study,
    open_storage,
    redact,
    refuse_foreign_study,
    retry_delays,
    storage_error,
    with_storage_retries,
)
from tests.open_together import open_together


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


# ---------------------------------------------------------------- readers create nothing
def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_readers_leave_an_empty_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with pytest.raises(StorageUnavailable, match="is an empty file, not an Optuna database"):
        open_storage(f"sqlite:///{path}", create=False)
    assert path.read_bytes() == b""


def test_another_programs_sqlite_file_is_refused_by_readers_and_writers(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as app:
        app.execute("CREATE TABLE users (name TEXT)")
        app.commit()
    before = _sha(path)
    for create in (False, True):
        with pytest.raises(ForeignStudy, match="holds the tables users, not an Optuna storage"):
            open_storage(f"sqlite:///{path}", create=create)
    assert _sha(path) == before


def test_a_reader_opens_an_optuna_storage_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    optuna.create_study(study_name="x", storage=f"sqlite:///{path}")
    before = _sha(path)
    storage = open_storage(f"sqlite:///{path}", heartbeat_interval=None, create=False)
    assert [s._study_id for s in storage.get_all_studies()] == [1]
    assert _sha(path) == before


def test_a_folder_given_as_the_database(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match="names a folder, not a file"):
        open_storage(f"sqlite:///{tmp_path}", create=True)


def test_a_missing_driver_names_the_package_to_install() -> None:
    with pytest.raises(StorageUnavailable, match=r"pip install mysqlclient") as info:
        open_storage("mysql://me:hunter2@db/x")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("see postgresql+psycopg://u:p%40ss@h/db and mysql://a:b@c/d", "see postgresql+psycopg://u:***@h/db and mysql://a:***@c/d"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///studies/gsearch.db", "sqlite:///studies/gsearch.db"),
        ("postgresql://:only-password@h/db", "postgresql://:***@h/db"),
    ],
)  # fmt: skip
def test_redact_hides_every_password(text: str, shown: str) -> None:
    assert redact(text) == shown


# ---------------------------------------------------------------- studies of other programs
def _gsearch_study(url: str, name: str) -> None:
    study = optuna.create_study(study_name=name, storage=url)
    study._storage.set_study_system_attr(study._study_id, "gsearch:space", "e2gc")
    study._storage.set_study_system_attr(study._study_id, "gsearch:dataset", "digits")


def test_open_existing_study_returns_the_only_study_and_its_facts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _gsearch_study(url, "mine")
    study, facts = open_existing_study(url, None)
    assert study.study_name == "mine"
    assert facts == {"space": "e2gc", "dataset": "digits"}


def test_a_study_another_program_made_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    theirs = optuna.create_study(study_name="theirs", storage=url, directions=["minimize"] * 2)
    theirs.optimize(lambda t: (t.suggest_float("x", 0, 1), 0.0), n_trials=3)
    with pytest.raises(
        ForeignStudy,
        match=r"study 'theirs' .* another program, not gsearch \(3 trials, 2 objective",
    ):
        open_existing_study(url, "theirs")
    storage = open_storage(url, heartbeat_interval=None)
    with pytest.raises(ForeignStudy, match="another program"):
        refuse_foreign_study(storage, "theirs", url)
    refuse_foreign_study(storage, "absent", url)  # a new study is fine
    _gsearch_study(url, "mine")
    refuse_foreign_study(storage, "mine", url)
    assert is_gsearch_study(storage, storage.get_study_id_from_name("mine"))


def test_study_look_up_errors_hide_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StorageUnavailable) as info:
        open_existing_study("postgresql://u:hunter2@127.0.0.1:9/x", None)
    assert "hunter2" not in str(info.value) and "u:***@127.0.0.1:9" in str(info.value)


# ---------------------------------------------------------------- faults say what is true
def _sqlite_error(message: str) -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("INSERT", {}, sqlite3.OperationalError(message))


def test_a_full_disk_is_not_retried() -> None:
    calls: list[int] = []

    def full() -> None:
        calls.append(1)
        raise _sqlite_error("database or disk is full")

    with pytest.raises(StorageFull, match="no space left on device: free space"):
        with_storage_retries(full, delays=(1, 2), sleep=lambda _: None, url="sqlite:///a.db")
    assert calls == [1]  # a retry would start (and fail) one more trial


def test_a_read_only_database_is_not_retried() -> None:
    calls: list[int] = []

    def read_only() -> None:
        calls.append(1)
        raise _sqlite_error("attempt to write a readonly database")

    with pytest.raises(StorageReadOnly, match="is read-only"):
        with_storage_retries(read_only, delays=(1, 2), sleep=lambda _: None)
    assert calls == [1]


def test_a_locked_database_is_retried_then_called_locked() -> None:
    sleeps: list[float] = []

    def locked() -> None:
        raise _sqlite_error("database is locked")

    with pytest.raises(StorageLocked, match="locked by another process: wait") as info:
        with_storage_retries(locked, delays=(1, 2), sleep=sleeps.append)
    assert sleeps == [1, 2]
    assert "corrupt" not in str(info.value) and "lost the storage" not in str(info.value)


@pytest.mark.slow
def test_a_locked_file_is_not_called_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    optuna.create_study(study_name="x", storage=f"sqlite:///{path}")
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageLocked, match="is locked by another process"):
            open_storage(f"sqlite:///{path}", create=False)
        holder.execute("ROLLBACK")


def test_retry_schedule_refuses_non_finite_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSEARCH_STORAGE_RETRY_S", "1,nan")
    with pytest.raises(GsearchError, match="delays must be finite numbers >= 0"):
        retry_delays()


def test_a_wrapped_driver_error_is_shown_in_the_drivers_words() -> None:
    # Optuna wraps what the driver said in a generic "An exception is raised during the
    # commit ... e.g. exceeding max length", which names the wrong cause.
    driver = sqlalchemy.exc.ProgrammingError(
        "SELECT", {}, Exception('relation "version_info" does not exist')
    )
    wrapped = optuna.exceptions.StorageInternalError(
        "An exception is raised during the commit. This typically happens due to invalid "
        "data in the commit, e.g. exceeding max length. "
    )
    wrapped.__cause__ = driver
    message = str(storage_error(wrapped, "postgresql://u:secret@db/x"))
    assert 'relation "version_info" does not exist' in message
    assert "secret" not in message and "exceeding" not in message


def test_writers_started_together_on_a_new_sqlite_file(tmp_path: Path) -> None:
    # All create Optuna's tables; the losers (SQLite: "table ... already exists",
    # "UNIQUE constraint failed: alembic_version...") wait and open what the winner made.
    open_together(f"sqlite:///{tmp_path / 'studies' / 'gsearch.db'}")


def test_sqlite_creation_races_are_retried_and_locks_are_not() -> None:
    exists = sqlalchemy.exc.OperationalError(
        "CREATE TABLE", {}, sqlite3.OperationalError("table trial_values already exists")
    )
    stamped = sqlalchemy.exc.IntegrityError(
        "INSERT",
        {},
        sqlite3.IntegrityError("UNIQUE constraint failed: alembic_version.version_num"),
    )
    locked = sqlalchemy.exc.OperationalError(
        "INSERT", {}, sqlite3.OperationalError("database is locked")
    )
    assert _lost_creation_race(exists) and _lost_creation_race(stamped)
    assert not _lost_creation_race(locked)


def test_a_half_created_optuna_file_is_left_to_its_writer(tmp_path: Path) -> None:
    path = tmp_path / "half.db"
    with closing(sqlite3.connect(path)) as half:
        half.execute("CREATE TABLE studies (study_id INTEGER)")
        half.execute("CREATE TABLE version_info (version_info_id INTEGER)")
        half.commit()
    check_sqlite_file(f"sqlite:///{path}", create=True)  # another writer is creating it
    with closing(sqlite3.connect(path)) as half:
        half.execute("CREATE TABLE invoices (id INTEGER)")
        half.commit()
    with pytest.raises(ForeignStudy, match="holds the tables invoices, studies, version_info"):
        check_sqlite_file(f"sqlite:///{path}", create=True)


def test_optuna_schema_lists_every_table_optuna_makes() -> None:
    from optuna.storages._rdb import models

    assert set(models.BaseModel.metadata.tables) <= OPTUNA_SCHEMA


def test_a_reader_on_an_sqlite_file_without_tables_says_it_holds_none_yet(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with closing(sqlite3.connect(path)) as new:
        new.execute("PRAGMA user_version = 1")  # a valid SQLite file with no table
        new.commit()
    with pytest.raises(ForeignStudy, match="SQLite database that holds no table yet: run a search"):
        open_storage(f"sqlite:///{path}", create=False)
