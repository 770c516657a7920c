"""`gsearch run --workers K`: K local `gsearch worker` processes on one study.

Scale-out is Optuna's own: every worker is a separate process that talks to the same
RDB storage, so the same command line runs on other hosts too. This module only starts
the local ones, shows the study's progress from the storage, and stops them on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gsearch.errors import GsearchError
from gsearch.pareto import finished
from gsearch.paths import safe_name
from gsearch.search import RunConfig
from gsearch.storage import open_storage

LOG_ROOT = Path("studies/logs")


def worker_command(config: RunConfig, device: str, seed: int) -> list[str]:
    """The `gsearch worker` command line that reproduces ``config`` on ``device``."""
    if config.space.path is None:
        raise GsearchError("workers need a search space read from a file")
    command = [
        sys.executable, "-m", "gsearch.cli", "worker",
        "--space", str(config.space.path),
        "--study", config.study,
        "--storage", config.storage,
        "--dataset", config.dataset,
        "--fidelity", config.fidelity,
        "--trials", str(config.trials),
        "--sampler", config.sampler,
        "--device", device,
        "--energy", config.energy,
        "--seed", str(seed),
        "--heartbeat", str(config.heartbeat_seconds),
        "--grace", str(config.grace_seconds),
        "--quiet",
    ]  # fmt: skip
    for model in config.models:
        command += ["--model", model]
    if config.data_root:
        command += ["--data-root", config.data_root]
    if config.skip_corrupt:
        command.append("--skip-corrupt")
    if config.timeout_seconds is not None:
        command += ["--timeout", str(config.timeout_seconds)]
    if config.energy_budget is not None:
        command += ["--energy-budget", str(config.energy_budget)]
    for key, value in config.recipe_overrides.items():
        command += ["--recipe", f"{key}={value}"]
    return command


def worker_devices(config: RunConfig, workers: int | None) -> list[str]:
    """One device per worker: round-robin over the visible GPUs, or the CPU."""
    import torch

    if config.device.startswith("cuda"):
        gpus = torch.cuda.device_count()
        count = workers or gpus
        return [f"cuda:{index % gpus}" for index in range(count)]
    return ["cpu"] * (workers or 1)


def run_local_workers(config: RunConfig, workers: int | None) -> int:
    """Start the workers, follow the study until they exit, and return an exit status."""
    devices = worker_devices(config, workers)
    if config.storage.startswith("sqlite") and len(devices) > 1:
        Console(stderr=True).print(
            "note: SQLite serialises writers; for many workers use PostgreSQL "
            "(--storage postgresql://...)",
            highlight=False,
        )
    logs = LOG_ROOT / safe_name(config.study)
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if config.device == "cpu":
        # Share the cores instead of oversubscribing them.
        threads = max(1, (os.cpu_count() or 1) // len(devices))
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    processes = []
    for index, device in enumerate(devices):
        log = (logs / f"worker-{index}.log").open("w")
        command = worker_command(config, device, config.seed + index)
        processes.append(
            (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log)
        )
    storage = open_storage(config.storage, heartbeat_interval=None)
    try:
        _follow(config, storage, [p for p, _ in processes])
    except KeyboardInterrupt:
        for process, _ in processes:
            process.send_signal(signal.SIGINT)
        for process, _ in processes:
            process.wait()
        raise
    finally:
        for _, log in processes:
            log.close()
    failed = [(i, p.returncode) for i, (p, _) in enumerate(processes) if p.returncode != 0]
    if failed:
        index, status = failed[0]
        last = (logs / f"worker-{index}.log").read_text().strip().splitlines()[-1:] or [""]
        raise GsearchError(f"worker {index} exited with status {status}: {last[0]}")
    return 0


def _follow(config: RunConfig, storage: optuna.storages.BaseStorage, processes: list) -> None:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[workers]} workers running"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=config.quiet,
    ) as progress:
        task = progress.add_task(config.study, total=config.trials, workers=len(processes))
        while True:
            alive = sum(p.poll() is None for p in processes)
            try:
                study = optuna.load_study(study_name=config.study, storage=storage)
                progress.update(task, completed=len(finished(study)), workers=alive)
            except KeyError:
                pass  # no worker has created the study yet
            if not alive:
                return
            time.sleep(1.0)
