"""Many workers on one PostgreSQL study: exact trial counts, kill -9, lost storage."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

pytestmark = pytest.mark.postgres

SPACE = """
models = ["tiny_convnet"]
epf_batch_sizes = [4]
[policy]
kind = "per_layer"
values = [1, 2, 4, 8, 16]
[defaults]
dataset = "synthetic"
sampler = "random"
"""
REQUIRED_ATTRS = ("model", "policy", "macs", "params", "arch", "ms_per_frame", "epf_low",
                  "epf_high", "energy_source", "fidelity", "dataset", "trained")  # fmt: skip


def worker(
    tmp_path: Path, url: str, study: str, trials: int, seed: int, *extra: str
) -> subprocess.Popen[str]:
    space = tmp_path / "tiny.toml"
    space.write_text(SPACE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "gsearch.cli", "worker", "--space", str(space), "--study", study,
        "--storage", url, "--trials", str(trials), "--worker-index", str(seed), "--energy", "model",
        "--device", "cpu", "--heartbeat", "1", "--grace", "3", "--quiet", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def complete(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).get_trials(
        states=(TrialState.COMPLETE,)
    )


def check_complete(trials: list[optuna.trial.FrozenTrial]) -> None:
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    for trial in trials:
        assert trial.values is not None and len(trial.values) == 3
        assert all(trial.user_attrs.get(key) is not None for key in REQUIRED_ATTRS), (
            trial.user_attrs
        )


def wait_all(processes: list[subprocess.Popen[str]], timeout: float = 240) -> None:
    for process in processes:
        _out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err[-2000:]


def test_three_workers_finish_exactly_n_trials(
    tmp_path: Path, postgres_url: str, study_name: str
) -> None:
    n = 9
    workers = [
        worker(tmp_path, postgres_url, study_name, n, seed, "--recipe", "epochs=1")
        for seed in range(3)
    ]
    wait_all(workers)
    trials = complete(postgres_url, study_name)
    assert len(trials) == n
    check_complete(trials)
    study = optuna.load_study(study_name=study_name, storage=postgres_url)
    surplus = [t for t in study.trials if t.state != TrialState.COMPLETE]
    assert all(t.state == TrialState.PRUNED and t.user_attrs.get("surplus") for t in surplus)


def test_killed_worker_trial_fails_by_heartbeat_and_is_retried(
    tmp_path: Path, postgres_url: str, study_name: str
) -> None:
    n = 3
    slow = ("--recipe", "epochs=6")
    victim = worker(tmp_path, postgres_url, study_name, n, 0, *slow)
    deadline = time.monotonic() + 120
    running: list[optuna.trial.FrozenTrial] = []
    while time.monotonic() < deadline and not running:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name=study_name, storage=postgres_url)
        except KeyError:
            continue
        running = [
            t for t in study.trials if t.state == TrialState.RUNNING and "arch" in t.user_attrs
        ]
    assert running, "the worker never started a trial"
    time.sleep(1.5)  # in the middle of training
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed = running[0].number

    helpers = [worker(tmp_path, postgres_url, study_name, n, seed, *slow) for seed in (1, 2)]
    wait_all(helpers)
    study = optuna.load_study(study_name=study_name, storage=postgres_url)
    assert study.trials[killed].state == TrialState.FAIL
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == study.trials[killed].params
    trials = complete(postgres_url, study_name)
    assert len(trials) == n
    check_complete(trials)


def test_unreachable_storage_at_start_is_a_clear_error(tmp_path: Path) -> None:
    process = worker(tmp_path, "postgresql://postgres@127.0.0.1:9/test", "x", 2, 0)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.strip().count("\n") == 0
    assert "cannot open storage postgresql://postgres@127.0.0.1:9/test" in err


class Proxy:
    """A TCP forwarder to PostgreSQL that the test can cut, as a lost network would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.open:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()

    def cut(self) -> None:
        self.open = False
        self.server.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def test_storage_lost_mid_run_retries_then_stops_cleanly(
    tmp_path: Path, postgres_url: str, study_name: str
) -> None:
    proxy = Proxy(("127.0.0.1", 5432))
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    env_delays = {"GSEARCH_STORAGE_RETRY_S": "0.5,1,1"}
    os.environ.update(env_delays)
    try:
        process = worker(tmp_path, url, study_name, 50, 0, "--recipe", "epochs=1")
    finally:
        for key in env_delays:
            os.environ.pop(key)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            if len(complete(postgres_url, study_name)) >= 2:
                break
        except KeyError:
            pass
    proxy.cut()
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err[-2000:]
    lines = err.strip().splitlines()
    assert (
        len(lines) == 1 and "lost the storage and it did not come back after 3 retries" in lines[0]
    ), err[-4000:]
    # Everything stored is whole: complete trials have all values and attributes.
    check_complete(complete(postgres_url, study_name))
