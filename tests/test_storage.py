from __future__ import annotations

from pathlib import Path

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
