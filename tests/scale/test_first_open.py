"""A new, empty PostgreSQL database: workers started together on it each open the storage,
a run's checks accept it, and a reader refuses it in one line."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import psycopg
import pytest
import sqlalchemy.exc

from gsearch.errors import ForeignStudy
from gsearch.preflight import check_run_storage
from gsearch.storage import _lost_creation_race, open_storage
from tests.open_together import open_together

pytestmark = pytest.mark.postgres


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
    open_together(empty_database)


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


def test_a_reader_refuses_an_empty_database_and_a_run_accepts_it(empty_database: str) -> None:
    # Optuna's storage reads version_info as it starts; on a new database that failed with
    # "An exception is raised during the commit", which also stopped every first run.
    with pytest.raises(ForeignStudy, match="holds no table yet: run a search first"):
        open_storage(empty_database, heartbeat_interval=None, create=False)
    check_run_storage(empty_database, ("e2gc-digits-proxy",))  # the run creates the tables


TINY_SPACE = """
models = ["tiny_convnet"]
epf_batch_sizes = [4]
[policy]
kind = "per_layer"
values = [1, 2, 4]
[defaults]
dataset = "synthetic"
"""


def test_the_first_run_on_an_empty_database(empty_database: str, tmp_path: Path) -> None:
    space = tmp_path / "tiny.toml"
    space.write_text(TINY_SPACE)
    command = [
        sys.executable, "-m", "gsearch.cli", "run", "--space", str(space), "--study", "first",
        "--storage", empty_database, "--trials", "1", "--energy", "model", "--device", "cpu",
        "--recipe", "epochs=1", "--quiet",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    study = optuna.load_study(study_name="first", storage=empty_database)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]
