"""Load check of scale-out (issue 6): 8 CPU workers on one study, PostgreSQL vs SQLite.

Each storage gets the same job: `gsearch run --workers 8` on a per-layer space of
``tiny_convnet``, synthetic data, one-epoch proxy, model-meter energy, 200 trials.
Reported per storage: wall seconds, complete trials per minute, trials in other states,
workers that exited non-zero, and storage errors (lines of the worker logs that name a
database error). PostgreSQL must show 0 storage errors; SQLite shows why it is for
one process.

    PYTHONPATH=. .venv/bin/python benchmarks/scale_out.py --out /tmp/scale
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

SPACE = """
models = ["tiny_convnet"]
epf_batch_sizes = [4]
[policy]
kind = "per_layer"
values = [1, 2, 4, 8, 16, 32, 64]
"""
STORAGE_ERROR = re.compile(r"OperationalError|database is locked|lost the storage|DBAPIError")


def run(storage: str, workers: int, trials: int, folder: Path) -> dict[str, Any]:
    study = f"load-{uuid.uuid4().hex[:8]}"
    (folder / "space.toml").write_text(SPACE)
    command = [
        sys.executable, "-m", "gsearch.cli", "run", "--space", "space.toml",
        "--dataset", "synthetic", "--energy", "model", "--device", "cpu",
        "--storage", storage, "--study", study, "--trials", str(trials),
        "--workers", str(workers), "--sampler", "random", "--recipe", "epochs=1", "--quiet",
    ]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    logs = list((folder / "studies" / "logs" / study).glob("worker-*.log"))
    errors = sum(len(STORAGE_ERROR.findall(log.read_text())) for log in logs)
    exits = len(re.findall(r"worker \d+ exited with status", result.stderr))
    states: dict[str, int] = {}
    try:
        loaded = optuna.load_study(study_name=study, storage=storage)
        for trial in loaded.trials:
            states[trial.state.name] = states.get(trial.state.name, 0) + 1
        complete = states.get(TrialState.COMPLETE.name, 0)
        if storage.startswith("postgresql"):
            optuna.delete_study(study_name=study, storage=storage)
    except Exception as error:  # a broken SQLite run may leave nothing readable
        complete = 0
        states["unreadable"] = 1
        result.stderr += f"\n{error}"
    return {
        "storage": storage.split(":")[0],
        "exit": result.returncode,
        "seconds": seconds,
        "complete": complete,
        "trials_per_minute": 60 * complete / seconds,
        "states": states,
        "storage_errors": errors,
        "failed_workers": exits,
        "stderr_tail": result.stderr.strip().splitlines()[-3:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--storages", default="postgresql,sqlite")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    for kind in args.storages.split(","):
        with tempfile.TemporaryDirectory() as scratch:
            url = args.postgres if kind == "postgresql" else f"sqlite:///{scratch}/load.db"
            rows.append(run(url, args.workers, args.trials, Path(scratch)))
            Console().print(rows[-1])
    table = Table(title=f"{args.workers} CPU workers, {args.trials} trials, {os.cpu_count()} cores")
    for column in ("storage", "wall s", "complete", "trials/min", "other states",
                   "storage errors", "failed workers"):  # fmt: skip
        table.add_column(column, justify="right")
    for row in rows:
        other = {k: v for k, v in row["states"].items() if k != "COMPLETE"}
        table.add_row(
            row["storage"],
            f"{row['seconds']:.0f}",
            str(row["complete"]),
            f"{row['trials_per_minute']:.1f}",
            json.dumps(other),
            str(row["storage_errors"]),
            str(row["failed_workers"]),
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale_out.json").write_text(json.dumps(rows, indent=2))
    Console().print(table)


if __name__ == "__main__":
    main()
