"""Do the multi-objective samplers beat random search? (issue 5)

Hypervolume of the Pareto front after 20, 50 and 100 trials of a per-layer space, for
NSGA-II and TPE against random sampling, 3 seeds each, all against one reference point
(1.1 x the worst EPF and params seen in any run, 0 % top-1), reported as a ratio of
medians to random's.

The cheapest fidelity that still trains for real is used: one epoch of the proxy on
the embedded digits data, with the model-meter energy source (Eq. 1, exact and free of
measurement noise, so the comparison is about the samplers). The default network is
``tiny_convnet`` (3 grouped layers, 7 G values each: 343 architectures): a per-layer
MobileNet-V1 search needs 900 trainings of MobileNet-V1, hours on two CPU cores.

    PYTHONPATH=. .venv/bin/python benchmarks/search_hypervolume.py --out /tmp/hv
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

from gsearch.cli import _quiet_optuna
from gsearch.pareto import MAXIMISE, hypervolume, non_dominated, to_minimise
from gsearch.search import RunConfig, run_search
from gsearch.spaces import load_space

SPACE = """
description = "one G per grouped layer (benchmark)"
models = ["{model}"]
epf_batch_sizes = [16]
[policy]
kind = "per_layer"
values = [1, 2, 4, 8, 16, 32, 64]
"""


def run_one(model: str, sampler: str, seed: int, trials: int, folder: Path) -> list[tuple]:
    """Objective vectors of the complete trials of one run, in trial order."""
    space_file = folder / f"per_layer_{model}.toml"
    space_file.write_text(SPACE.format(model=model))
    config = RunConfig(
        space=load_space(str(space_file)),
        study=f"{sampler}-{seed}",
        storage=f"sqlite:///{folder}/hv.db",
        dataset="digits",
        fidelity="proxy",
        trials=trials,
        sampler=sampler,
        energy="model",
        seed=seed,
        checkpoint_root=folder / "checkpoints",
        recipe_overrides={"epochs": 1},
        quiet=True,
    )
    result = run_search(config)
    done = sorted(result.study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    return [tuple(t.values) for t in done]


def front_hv(values: list[tuple], reference: tuple[float, float, float]) -> float:
    points = [to_minimise(v, MAXIMISE) for v in values]
    front = [points[i] for i in non_dominated(points)]
    return hypervolume(front, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny_convnet")
    parser.add_argument("--samplers", default="random,nsga2,tpe")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--checkpoints", default="20,50,100", help="trial counts to report")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    _quiet_optuna()
    torch.set_num_threads(args.threads)
    samplers = args.samplers.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    marks = [int(c) for c in args.checkpoints.split(",")]
    console = Console()
    runs: dict[tuple[str, int], list[tuple]] = {}
    seconds: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in seeds:
            for sampler in samplers:
                start = time.perf_counter()
                runs[sampler, seed] = run_one(args.model, sampler, seed, max(marks), Path(scratch))
                seconds[sampler, seed] = time.perf_counter() - start
                console.print(f"{sampler} seed {seed}: {seconds[sampler, seed]:.0f} s")
    every = [v for values in runs.values() for v in values]
    reference = (
        1.1 * max(v[0] for v in every),
        0.0,
        1.1 * max(v[2] for v in every),
    )
    rows: list[dict[str, Any]] = []
    for sampler in samplers:
        for mark in marks:
            hvs = [front_hv(runs[sampler, seed][:mark], reference) for seed in seeds]
            rows.append(
                {"sampler": sampler, "trials": mark, "hv": hvs, "median": statistics.median(hvs)}
            )
    baseline = {r["trials"]: r["median"] for r in rows if r["sampler"] == "random"}
    table = Table(title=f"hypervolume, per-layer {args.model}, digits 1-epoch proxy, model energy")
    for column in ("sampler", "trials", "HV per seed", "median", "ratio to random"):
        table.add_column(column, justify="right")
    for row in rows:
        row["ratio_to_random"] = row["median"] / baseline[row["trials"]] if baseline else None
        table.add_row(
            row["sampler"],
            str(row["trials"]),
            " ".join(f"{h:.4g}" for h in row["hv"]),
            f"{row['median']:.4g}",
            f"{row['ratio_to_random']:.3f}",
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search_hypervolume.json").write_text(
        json.dumps(
            {
                "model": args.model,
                "reference": reference,
                "rows": rows,
                "seconds": {f"{s}-{seed}": t for (s, seed), t in seconds.items()},
                "threads": args.threads,
            },
            indent=2,
        )
    )
    console.print(table)


if __name__ == "__main__":
    main()
