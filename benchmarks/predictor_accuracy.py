"""How well a calibration predicts whole networks it never measured (issue 12).

For each model, batch and pass: calibrate (every grouped layer of the ``per_layer``
space and of the paper's 11 variants, alone, plus the rest and the anchor network), then
measure whole networks with the same protocol, interleaved: the paper's variants that fit
and ``--random`` random per-layer policies. Reported per (model, batch, pass) and per
predictor formulation (sum, anchor, scaled): Kendall tau and MAPE of predicted against
measured, the calibration's device seconds, and whether the predicted best constant G
lies within one power-of-two step of the measured best. Beside them, the meter's own
repeatability: each network's windows split into odd and even halves, and the tau and
MAPE of one half against the other. No predictor can agree with a measurement better
than the measurement agrees with itself, so this is the ceiling of the first two.

Presets:
  --preset cpu   the run recorded in BENCHMARKS.md (time meter, 1 torch thread, 32 px)
  --preset gpu   what the GPU check calls: --device cuda --energy nvml, batches 1 and 64,
                 both passes, 224 px
  --preset dry   a dry run in under a minute (MobileNet-V1 only, 3 random policies)

    python benchmarks/predictor_accuracy.py --preset cpu --out studies/bench/predictor
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from gsearch.calibration_plan import calibration_target, policy_layers
from gsearch.candidates import registry_candidate
from gsearch.energy.calibrate import calibrate
from gsearch.energy.epf import EpfProtocol, measure_candidates, open_session
from gsearch.energy.predict import FORMULATIONS, predict_epf
from gsearch.energy.stats import kendall_tau
from gsearch.energy.steps import StepConfig
from gsearch.errors import GsearchError
from gsearch.policies import PerLayer, fits
from gsearch.spaces import load_space
from gsearch.table import PAPER_POLICIES

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        # B=16 only since 2026-11-27: a step of 2 frames is mostly per-operator overhead
        # and its windows repeated worst; B=8 and 16 together took 17 min, over the 15
        # the check may take (BENCHMARKS.md, predictor accuracy).
        "models": "mobilenet_v1,resnext50",
        "batches": "16",
        "passes": "training",
        "resolution": 32,
        "device": "cpu",
        "energy": "time",
        "random": 20,
        "repeats": 3,
        "network_repeats": 6,
        "window": 0.15,
        "network_window": 0.5,
        "warmup": 0.1,
        "threads": 1,
    },
    "gpu": {
        "models": "mobilenet_v1,resnext50",
        "batches": "1,64",
        "passes": "training,inference",
        "resolution": 224,
        "device": "cuda",
        "energy": "nvml",
        "random": 20,
        "repeats": 5,
        "network_repeats": 6,
        "window": 0.6,
        "network_window": 0.6,
        "warmup": 1.0,
        "threads": 0,
    },
    "dry": {
        "models": "mobilenet_v1",
        "batches": "2",
        "passes": "training",
        "resolution": 32,
        "device": "cpu",
        "energy": "auto",
        "random": 3,
        "repeats": 1,
        "network_repeats": 2,
        "window": 0.02,
        "network_window": 0.02,
        "warmup": 0.0,
        "threads": 1,
    },
}


def random_policies(model: str, resolution: int, count: int, seed: int) -> list[str]:
    """``count`` per-layer policies drawn uniformly from the per_layer space's choices."""
    choices = load_space("per_layer").choices(model, resolution)
    rng = random.Random(seed)
    drawn: list[str] = []
    while len(drawn) < count:
        policy = str(PerLayer(tuple(rng.choice(layer) for layer in choices)))
        if policy not in drawn:
            drawn.append(policy)
    return drawn


def _g_of(policy: str) -> int | None:
    return int(policy[2:]) if policy.startswith("G=") else None


def _best_g(values: dict[str, float]) -> int:
    constant = {p: v for p, v in values.items() if _g_of(p) is not None}
    best = min(constant, key=constant.__getitem__)
    g = _g_of(best)
    assert g is not None
    return g


def one_case(
    session: Any, model: str, batch: int, pass_: str, args: argparse.Namespace, directory: Path
) -> dict[str, Any]:
    """Calibrate, measure, predict, compare for one (model, batch, pass)."""
    resolution = args.resolution
    space = load_space("per_layer")
    step = StepConfig(batch=batch, resolution=resolution, pass_=pass_)
    # the networks it predicts are measured with the step's classes: calibrate with them
    target = calibration_target(
        model,
        space,
        resolution=resolution,
        num_classes=step.num_classes,
        extra_policies=PAPER_POLICIES,
    )
    protocol = EpfProtocol(
        repeats=args.repeats,
        window_s=args.window,
        warmup_s=args.warmup,
        preroll_s=min(0.2, args.window / 2),
        idle_s=0.5,
    )
    started = time.perf_counter()
    calibration = calibrate(session, target, step, protocol, directory=directory)
    calibration_wall_s = time.perf_counter() - started
    specs_fit = [p for p in PAPER_POLICIES if _fits(model, p, resolution)]
    policies = specs_fit + random_policies(model, resolution, args.random, args.seed)
    candidates = [registry_candidate(model, p, resolution=resolution) for p in policies]
    # Whole networks get more and longer windows than layers: they are what is judged,
    # and an even count splits into two halves for the meter's own repeatability.
    network_protocol = replace(protocol, repeats=args.network_repeats, window_s=args.network_window)
    started = time.perf_counter()
    rows = measure_candidates(session, candidates, [batch], step, network_protocol)
    measure_wall_s = time.perf_counter() - started
    rows = [row for row in rows if row.epf is not None]
    measured = {row.policy: float(row.epf) for row in rows}
    result: dict[str, Any] = {
        "model": model,
        "batch": batch,
        "pass": pass_,
        "unit": calibration.unit,
        "source": calibration.source,
        "layers_calibrated": len(calibration.layers),
        "calibration_device_s": calibration.device_s,
        "calibration_wall_s": calibration_wall_s,
        "networks_measured": len(measured),
        "networks_wall_s": measure_wall_s,
        "measured": measured,
        "measured_best_G": _best_g(measured),
        "repeatability": split_half_agreement({row.policy: row.epf_windows for row in rows}),
        "formulations": {},
    }
    for formulation in FORMULATIONS:
        predicted: dict[str, float] = {}
        for policy in measured:
            try:
                layers = policy_layers(model, policy, resolution)
                predicted[policy] = predict_epf(calibration, layers, formulation).epf
            except GsearchError:
                predicted[policy] = math.nan
        names = [p for p in measured if not math.isnan(predicted[p])]
        tau = kendall_tau([measured[p] for p in names], [predicted[p] for p in names])
        mape = statistics.fmean(abs(predicted[p] / measured[p] - 1) for p in names)
        best = _best_g({p: predicted[p] for p in names})
        result["formulations"][formulation] = {
            "tau": tau,
            "mape": mape,
            "failed": len(measured) - len(names),
            "predicted_best_G": best,
            "best_within_one_step": abs(math.log2(best) - math.log2(result["measured_best_G"]))
            <= 1,
            "predicted": predicted,
        }
    return result


def split_half_agreement(windows: dict[str, list[float]]) -> dict[str, float]:
    """Tau and MAPE of the median of odd windows against the median of even ones."""
    odd = {p: statistics.median(w[0::2]) for p, w in windows.items() if len(w) >= 2}
    even = {p: statistics.median(w[1::2]) for p, w in windows.items() if len(w) >= 2}
    if len(odd) < 2:
        return {"tau": math.nan, "mape": math.nan}
    names = list(odd)
    return {
        "tau": kendall_tau([odd[p] for p in names], [even[p] for p in names]),
        "mape": statistics.fmean(abs(odd[p] / even[p] - 1) for p in names),
    }


def _fits(model: str, policy: str, resolution: int) -> bool:
    from gsearch.models import layer_specs
    from gsearch.policies import parse_policy

    return fits(parse_policy(policy), layer_specs(model, resolution))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="dry")
    for name in ("models", "batches", "passes", "device", "energy"):
        parser.add_argument(f"--{name}")
    for name, kind in (
        ("resolution", int),
        ("random", int),
        ("repeats", int),
        ("network_repeats", int),
        ("window", float),
        ("network_window", float),
        ("warmup", float),
        ("threads", int),
    ):
        parser.add_argument(f"--{name}", type=kind)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="folder for results.json (and the calibrations)")
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.threads:
        torch.set_num_threads(args.threads)  # a shared 2-core machine: one thread is steadier
    console = Console(stderr=True)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="predictor-"))
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    started = time.perf_counter()
    try:
        with open_session(args.device, args.energy) as session:
            console.print(f"energy source: {session.source} ({session.choice.reason})")
            for model in args.models.split(","):
                for batch in map(int, args.batches.split(",")):
                    for pass_ in args.passes.split(","):
                        console.print(f"{model} B={batch} {pass_} ...")
                        cases.append(one_case(session, model, batch, pass_, args, out))
                        (out / "results.json").write_text(
                            json.dumps({"args": vars(args), "cases": cases}, indent=1, default=str)
                        )
    except GsearchError as error:
        console.print(f"error: {error}", highlight=False)
        return 2
    total_s = time.perf_counter() - started
    table = Table(
        title=f"predicted vs measured ({args.preset}, {args.resolution} px, {total_s:.0f} s in all)"
    )
    for column in (
        "model",
        "B",
        "pass",
        "formulation",
        "tau",
        "MAPE",
        "meter tau / MAPE",
        "best G meas/pred",
        "calib. device s",
        "layers",
    ):
        table.add_column(column)
    for case in cases:
        for formulation, f in case["formulations"].items():
            table.add_row(
                case["model"],
                str(case["batch"]),
                case["pass"],
                formulation,
                f"{f['tau']:.3f}",
                f"{100 * f['mape']:.1f}%",
                f"{case['repeatability']['tau']:.3f} / {100 * case['repeatability']['mape']:.1f}%",
                f"{case['measured_best_G']}/{f['predicted_best_G']}"
                + (" ok" if f["best_within_one_step"] else " MISS"),
                f"{case['calibration_device_s']:.0f}",
                str(case["layers_calibrated"]),
            )
    Console().print(table)
    console.print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
