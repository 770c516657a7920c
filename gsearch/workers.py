"""`gsearch run --workers K`: K local `gsearch worker` processes on one study.

Scale-out is Optuna's own: every worker is a separate process that talks to the same
RDB storage, so the same command line runs on other hosts too. This module only starts
the local ones, shows the study's progress from the storage, and stops them on Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from rich.console import Console

from gsearch.errors import ConfigError, GsearchError
from gsearch.pareto import finished
from gsearch.paths import LOGS_DIR, safe_name
from gsearch.progress import progress_bar
from gsearch.search import RunConfig
from gsearch.storage import RunStorage

LOG_ROOT = LOGS_DIR
_log = logging.getLogger(__name__)


def worker_command(config_file: Path, device: str, index: int) -> list[str]:
    """The `gsearch worker` command line of local worker ``index`` on ``device``.

    The worker reads the run's validated :class:`RunConfig` from ``config_file`` (JSON),
    so it runs exactly what its parent checked; only the device and index differ.
    """
    return [
        sys.executable, "-m", "gsearch.cli", "worker",
        "--config-json", str(config_file),
        "--device", device,
        "--worker-index", str(index),
    ]  # fmt: skip


def worker_devices(config: RunConfig, workers: int | None) -> list[str]:
    """One device per worker: the device named by index (``cuda:1``), else round-robin
    over the visible GPUs, or the CPU."""
    import torch

    if config.device.startswith("cuda:"):
        return [config.device] * (workers or 1)
    if config.device.startswith("cuda"):
        gpus = torch.cuda.device_count()
        count = workers or gpus
        return [f"cuda:{index % gpus}" for index in range(count)]
    return ["cpu"] * (workers or 1)


def check_local_workers(workers: int, device: str) -> None:
    """Refuse more local workers than the host has CPU cores (or GPUs, on a GPU host).

    Each worker is a process that loads PyTorch (about 0.5 GB) and trains: beyond one per
    core or GPU they only share the same hardware, and thousands would exhaust memory.
    """
    cores = os.cpu_count() or 1
    if workers <= cores:
        return
    limit, what = cores, f"{cores} CPU cores"
    if device.startswith("cuda"):
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if workers <= gpus:
            return
        if gpus > cores:
            limit, what = gpus, f"{gpus} GPUs"
    raise ConfigError(
        f"--workers {workers}: this host has {what}, so at most {limit} local workers "
        "(each is a process that trains on its own core or GPU); start more with "
        "`gsearch worker` on other hosts sharing the --storage"
    )


def check_meters(config: RunConfig, devices: list[str]) -> None:
    """Refuse more than one measuring worker per meter (see gsearch.energy.meter_lock)."""
    from gsearch.energy import open_session

    shared = len(set(devices)) < len(devices)
    if not shared:
        return
    with open_session(devices[0], config.energy) as session:
        source, unit = session.source, session.unit
    if unit != "model":
        meter = "one GPU" if devices[0].startswith("cuda") else "this host's CPU"
        raise GsearchError(
            f"{len(devices)} workers would share the {source} meter of {meter}: each "
            "would count the others' training in its EPF; run one worker per GPU "
            "(or per host on the CPU), or use the model score"
        )


def run_local_workers(
    config: RunConfig, workers: int | None, storage: RunStorage | None = None
) -> int:
    """Start the workers, follow the study until they exit, and return an exit status.

    ``storage`` is the one the command checked (gsearch.preflight.check_run); the
    follower reads the study through it. Each worker process opens its own.
    """
    devices = worker_devices(config, workers)
    check_meters(config, devices)
    if config.storage.startswith("sqlite") and len(devices) > 1:
        _log.info(
            "note: SQLite serialises writers; for many workers use PostgreSQL "
            "(--storage postgresql://...)"
        )
    logs = LOG_ROOT / safe_name(config.study)
    logs.mkdir(parents=True, exist_ok=True)
    config_file = logs / "run-config.json"
    config_file.write_text(config.to_json())
    env = dict(os.environ)
    if config.device == "cpu":
        # Share the cores instead of oversubscribing them.
        threads = max(1, (os.cpu_count() or 1) // len(devices))
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    processes = []
    for index, device in enumerate(devices):
        log = (logs / f"worker-{index}.log").open("w")
        command = worker_command(config_file, device, index)
        processes.append(
            (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log)
        )
    if storage is None:
        storage = RunStorage(config.storage, heartbeat_s=config.heartbeat_s, grace_s=config.grace_s)
    try:
        _follow(config, storage.get(), [p for p, _ in processes])
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
    with progress_bar(
        "{task.fields[workers]} workers running",
        quiet=config.quiet,
        console=Console(stderr=True),
        count=True,
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
