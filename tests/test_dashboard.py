from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(url: str) -> Iterator[dict]:
    """`gsearch dashboard` on ``url``, yielding its /api/studies once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gsearch.cli", "dashboard", "--storage", url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "dashboard did not start"
                time.sleep(0.5)
        yield body
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_dashboard_serves_the_studies_of_the_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    study = optuna.create_study(
        study_name="shown", storage=url, directions=["minimize", "maximize"]
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
    with serving(url) as body:
        assert [s["study_name"] for s in body["study_summaries"]] == ["shown"]


def test_serving_changes_nothing_in_the_file(tmp_path: Path) -> None:
    """The dashboard only reads: the database stays byte-identical while it serves."""
    path = tmp_path / "d.db"
    optuna.create_study(study_name="shown", storage=f"sqlite:///{path}").optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=2
    )
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with serving(f"sqlite:///{path}"):
        pass
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_an_address_in_use_is_one_line_before_listening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    optuna.create_study(study_name="shown", storage=url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gsearch.cli", "dashboard", "--storage", url, "--port", str(port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""  # nothing announced
    assert result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
