"""PostgreSQL for the scale-out tests: skipped without a server, required in CI."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_URL = os.environ.get("GSEARCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _listening(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_url() -> str:
    if not _listening():
        if os.environ.get("GSEARCH_REQUIRE_POSTGRES") == "1":
            pytest.fail("GSEARCH_REQUIRE_POSTGRES=1 but nothing listens on 127.0.0.1:5432")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    return POSTGRES_URL


@pytest.fixture
def study_name(postgres_url: str) -> Iterator[str]:
    """A fresh study name, deleted from the shared database afterwards."""
    import optuna

    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=name, storage=postgres_url)
