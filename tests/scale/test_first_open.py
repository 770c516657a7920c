"""Workers started together on an empty PostgreSQL database: each opens the storage."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy.exc

from gsearch.storage import _lost_creation_race

pytestmark = pytest.mark.postgres

OPEN = "from gsearch.storage import open_storage; open_storage({url!r}); print('opened')"


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[str]:
    """A new database without Optuna's tables, dropped afterwards."""
    name = f"gsearch_empty_{uuid.uuid4().hex[:10]}"
    server = postgres_url.rsplit("/", 1)[0]
    admin = f"{server}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_four_workers_open_an_empty_database_at_once(empty_database: str) -> None:
    """All but one lose the race to create Optuna's tables; they wait and open them."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN.format(url=empty_database)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        assert out.strip() == "opened"


def test_only_a_lost_creation_race_is_retried() -> None:
    duplicate = sqlalchemy.exc.IntegrityError(
        "CREATE TYPE", {}, Exception('duplicate key value violates unique constraint "x"')
    )
    exists = sqlalchemy.exc.ProgrammingError(
        "CREATE TABLE", {}, Exception('relation "studies" already exists')
    )
    refused = sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused"))
    assert _lost_creation_race(duplicate) and _lost_creation_race(exists)
    assert not _lost_creation_race(refused)
    wrapped = RuntimeError("commit failed")
    wrapped.__cause__ = exists
    assert _lost_creation_race(wrapped)
