from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dashboard_serves_the_studies_of_the_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    study = optuna.create_study(
        study_name="shown", storage=url, directions=["minimize", "maximize"]
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
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
        assert [s["study_name"] for s in body["study_summaries"]] == ["shown"]
    finally:
        server.terminate()
        server.wait(timeout=30)
