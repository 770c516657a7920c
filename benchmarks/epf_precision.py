"""How precise and how accurate is the EPF protocol? (issue 3)

For MobileNet-V1 (G=1, G=32, g=8) and ResNeXt-50 (g=32, G=32) at B = 1, 16, 64 it runs
the protocol twice (two independent sweeps, every candidate of a batch interleaved),
then the 20 s reference window for MobileNet-V1 G=1 and ResNeXt-50 g=32 at B = 1 and 64,
and reports per config:

* spread: max/min - 1 over the repeats of each sweep (target <= 1% over 5 repeats);
* bias: the sweeps' median EPF against the 20 s reference (target <= 2%);
* Kendall tau between the two sweeps' rankings (all configs, and per batch; >= 0.9);
* device seconds per config and batch (target <= 10 s).

``--plain`` adds a sweep with plain (unaligned) windows of the same length for the
reference configs, to show the bias the aligned windows avoid. ``--simulate`` runs no
model at all: it compares aligned and plain windows on the simulated NVML counter of
``tests/energy/fake_nvml.py`` against the trace's true energy.

Writes ``epf_precision.csv`` and ``epf_precision.json`` to ``--out`` (default ``$OUT``)
and prints a short table last. Sized for one H100/H200 command of under 4 minutes with
the defaults; on the CPU pass ``--energy model`` and small sizes, e.g.
``--threads 1 --resolution 64 --batches 1,4 --repeats 3 --window 0.3 --reference-seconds 3``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gsearch.energy import (  # noqa: E402
    EpfProtocol,
    EpfResult,
    StepConfig,
    measure_candidates,
    open_session,
    registry_candidate,
)
from gsearch.energy.stats import kendall_tau, spread  # noqa: E402

console = Console(width=160)
err = Console(stderr=True)

MODELS = {"mobilenet_v1": ("G=1", "G=32", "g=8"), "resnext50": ("g=32", "G=32")}
REFERENCE = (("mobilenet_v1", "G=1"), ("resnext50", "g=32"))


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.environ.get("OUT", "benchmarks/out/epf_precision"))
    p.add_argument("--device", default="auto")
    p.add_argument("--energy", default="auto", choices=("auto", "nvml", "rapl", "model"))
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--batches", default="1,16,64")
    p.add_argument("--reference-batches", default=None, help="default: first and last batch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--window", type=float, default=0.6, help="window seconds (sweeps)")
    p.add_argument("--warmup", type=float, default=0.3, help="warm-up seconds per candidate")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--preroll", type=float, default=0.15, help="pre-roll seconds per window")
    p.add_argument("--reference-seconds", type=float, default=20.0)
    p.add_argument("--eager", action="store_true", help="eager steps instead of CUDA graphs")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    p.add_argument("--plain", action="store_true", help="also a plain-window sweep")
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("--simulate", action="store_true", help="window methods on the fake NVML")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p.parse_args(argv)


def _row_key(row: EpfResult) -> tuple[str, str, int]:
    return (row.model, row.policy, row.batch)


def run_sweeps(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    batches = [int(b) for b in _csv_list(args.batches)]
    ref_batches = (
        [int(b) for b in _csv_list(args.reference_batches)]
        if args.reference_batches
        else sorted({batches[0], batches[-1]})
    )
    step = StepConfig(
        batch=1,
        resolution=args.resolution,
        precision=args.precision,
        mode="eager" if args.eager else "graph",
    )
    common = {
        "warmup_seconds": args.warmup,
        "warmup_steps": args.warmup_steps,
        "preroll_seconds": args.preroll,
    }
    sweep = EpfProtocol(repeats=args.repeats, window_seconds=args.window, **common)
    plain = replace(sweep, method="plain")
    reference = EpfProtocol.reference_protocol(window_seconds=args.reference_seconds, **common)
    candidates = [
        registry_candidate(model, policy, resolution=args.resolution)
        for model, policies in MODELS.items()
        for policy in policies
    ]
    ref_candidates = [c for c in candidates if (c.model, c.policy) in REFERENCE]
    results: dict[str, list[EpfResult]] = {}
    wall: dict[str, float] = {}

    # Progress goes to stderr, a log file on the GPU machine: a run cut off by its time
    # limit still shows how far it got, and the raw rows of every finished stage are kept.
    def log(line: str) -> None:
        err.print(line, highlight=False)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open_session(args.device, args.energy, log=log) as session:
        err.print(f"energy: {session.source} ({session.choice.reason})", highlight=False)
        plan = [("sweep1", candidates, batches, sweep), ("sweep2", candidates, batches, sweep)]
        if not args.skip_reference:
            plan.append(("reference", ref_candidates, ref_batches, reference))
        if args.plain:
            plan.append(("plain", ref_candidates, ref_batches, plain))
        for name, cands, bs, protocol in plan:
            start = time.perf_counter()
            results[name] = measure_candidates(session, cands, bs, step, protocol, cache=None)
            wall[name] = time.perf_counter() - start
            err.print(f"{name}: {wall[name]:.1f} s", highlight=False)
            raw = {stage: [row.to_dict() for row in rows] for stage, rows in results.items()}
            (out / "epf_precision_raw.json").write_text(json.dumps(raw, default=str))
        facts = dict(session.facts)
        unit = session.unit
        idle_w = session.idle_power_w(0.0)
    rows = summarise(results, unit)
    summary = {
        "facts": facts,
        "unit": unit,
        "idle_power_w": idle_w,
        "protocol": sweep.key(),
        "reference_protocol": reference.key(),
        "wall_seconds": wall,
        "kendall_tau_all": _tau(rows),
        "kendall_tau_per_batch": {
            str(b): _tau([r for r in rows if r["batch"] == b]) for b in batches
        },
        "kendall_tau_ms_all": _tau(rows, "ms"),
        "date": time.strftime("%Y-%m-%d"),
    }
    return rows, summary


def _tau(rows: list[dict[str, Any]], field: str = "epf") -> float | None:
    second = "ms_sweep2" if field == "ms" else "epf_sweep2"
    first = "ms_per_frame" if field == "ms" else "epf_sweep1"
    pairs = [(r[first], r[second]) for r in rows]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    if len(pairs) < 2:
        return None
    return kendall_tau([a for a, _ in pairs], [b for _, b in pairs])


def _bias(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None:
        return None
    return value / reference - 1.0


def summarise(results: dict[str, list[EpfResult]], unit: str) -> list[dict[str, Any]]:
    by_name = {name: {_row_key(r): r for r in rows} for name, rows in results.items()}
    rows = []
    for key, first in by_name["sweep1"].items():
        second = by_name["sweep2"].get(key)
        ref = by_name.get("reference", {}).get(key)
        plain = by_name.get("plain", {}).get(key)
        ref_epf = ref.epf if ref is not None else None
        row: dict[str, Any] = {
            "model": key[0],
            "policy": key[1],
            "batch": key[2],
            "unit": unit,
            "status": first.status if second is None else f"{first.status}/{second.status}",
            "epf_sweep1": first.epf,
            "epf_sweep2": second.epf if second else None,
            "spread_sweep1": first.spread,
            "spread_sweep2": second.spread if second else None,
            "sweep_difference": _bias(second.epf if second else None, first.epf),
            "epf_reference": ref_epf,
            "bias_sweep1": _bias(first.epf, ref_epf),
            "bias_sweep2": _bias(second.epf if second else None, ref_epf),
            "epf_plain": plain.epf if plain else None,
            "bias_plain": _bias(plain.epf if plain else None, ref_epf),
            "spread_plain": plain.spread if plain else None,
            "ms_per_frame": first.ms_per_frame,
            "ms_sweep2": second.ms_per_frame if second else None,
            "ms_spread_sweep1": spread(first.ms_windows) if first.ms_windows else None,
            "power_w": first.power_w,
            "dynamic_epf": first.dynamic_epf,
            "method": first.method,
            "device_seconds_sweep1": first.device_seconds,
            "device_seconds_sweep2": second.device_seconds if second else None,
            "device_seconds_reference": ref.device_seconds if ref else None,
        }
        rows.append(row)
    return rows


def write(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any], stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{stem}.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / f"{stem}.json").write_text(
        json.dumps({"summary": summary, "rows": rows}, indent=2, default=str)
    )


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:+.{digits}f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    facts = summary["facts"]
    device = facts.get("gpu_name") or facts.get("cpu_model")
    table = Table(
        title=f"EPF precision ({summary['unit']} per frame) on {device}, "
        f"torch {facts.get('torch')}, {summary['date']}"
    )
    columns = ("config", "B", "EPF 1", "EPF 2", "spread 1/2", "bias 1/2 vs ref", "plain bias")
    columns += ("ms/frame 1/2", "ms spread", "dev s 1/2")
    for column in columns:
        table.add_column(column, justify="left" if column == "config" else "right")
    for r in rows:
        spreads = f"{_pct(r['spread_sweep1'])}/{_pct(r['spread_sweep2'])}".replace("+", "")
        biases = "-"
        if r["bias_sweep1"] is not None:
            biases = f"{_pct(r['bias_sweep1'])}/{_pct(r['bias_sweep2'])}"
        table.add_row(
            f"{r['model']} {r['policy']}",
            str(r["batch"]),
            _num(r["epf_sweep1"]),
            _num(r["epf_sweep2"]),
            spreads,
            biases,
            _pct(r["bias_plain"]),
            f"{_num(r['ms_per_frame'])}/{_num(r['ms_sweep2'])}",
            _pct(r["ms_spread_sweep1"], 1).replace("+", ""),
            f"{_num(r['device_seconds_sweep1'])}/{_num(r['device_seconds_sweep2'])}",
        )
    console.print(table)
    tau = summary["kendall_tau_all"]
    per_batch = ", ".join(f"B={b}: {_num(t)}" for b, t in summary["kendall_tau_per_batch"].items())
    console.print(
        f"Kendall tau of EPF, sweep 1 vs 2: {_num(tau)} (all configs), {per_batch}; "
        f"of ms/frame: {_num(summary['kendall_tau_ms_all'])}. "
        f"Wall {sum(summary['wall_seconds'].values()):.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in summary['wall_seconds'].items())}).",
        highlight=False,
    )


# ---------------------------------------------------------------- simulated counter
def simulate() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Aligned vs plain windows on the simulated 100 ms NVML counter (no GPU, no model)."""
    import pytest

    spec = importlib.util.spec_from_file_location(
        "fake_nvml", ROOT / "tests" / "energy" / "fake_nvml.py"
    )
    assert spec is not None and spec.loader is not None
    fake = importlib.util.module_from_spec(spec)
    sys.modules["fake_nvml"] = fake  # dataclasses look their module up there
    spec.loader.exec_module(fake)
    from gsearch.energy.nvml import NvmlMeter
    from gsearch.energy.window import measure_aligned, measure_plain, run_for

    rows = []
    patch = pytest.MonkeyPatch()
    try:
        for window_s in (0.3, 1.0, 5.0):
            for step_s in (0.001, 0.0137, 0.0973):
                errors: dict[str, list[float]] = {"aligned": [], "plain": []}
                for phase in range(8):  # where the counter ticks fall
                    device = fake.SimDevice(
                        fake.PowerTrace(tau_s=0.08),
                        tick_phase_s=0.0123 * phase + 0.004,
                        tick_jitter_s=0.004,
                        lag_s=0.01,
                        read_cost_s=60e-6,
                        seed=phase,
                    )
                    fake.FakeNvml([fake.FakeGpu("GPU-sim", sim=device)]).install(patch)
                    clock = fake.SimClock(device)
                    meter = NvmlMeter(0, clock=clock, visible=None)
                    runner = fake.SimRunner(device, step_s)
                    depth = max(2, math.ceil(0.02 / step_s))
                    run_for(runner, clock, 1.0, 3, depth)
                    for method in ("aligned", "plain"):
                        measure = measure_aligned if method == "aligned" else measure_plain
                        # busy for a phase-dependent while: windows open anywhere between ticks
                        run_for(runner, clock, 0.0127 * phase, 1, depth)
                        w = measure(
                            runner,
                            meter,
                            clock,
                            window_seconds=window_s,
                            preroll_seconds=0.2,
                            max_in_flight=depth,
                        )
                        truth = device.true_energy_per_step(w.start_s, w.end_s)
                        errors[method].append(w.energy / w.steps / truth - 1.0)
                rows.append(
                    {
                        "window_s": window_s,
                        "step_ms": step_s * 1e3,
                        "aligned_worst": max(errors["aligned"], key=abs),
                        "plain_worst": max(errors["plain"], key=abs),
                        "plain_median_abs": sorted(abs(e) for e in errors["plain"])[4],
                    }
                )
    finally:
        patch.undo()
    return rows, {"trace": "idle 120 W, busy 320 W, tau 80 ms, tick 100 ms +/- 4 ms, lag 10 ms"}


def print_simulation(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    table = Table(title=f"window error vs the trace's true energy per step ({summary['trace']})")
    for column in ("window s", "step ms", "aligned worst", "plain worst", "plain median |err|"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            f"{r['window_s']:g}",
            f"{r['step_ms']:g}",
            _pct(r["aligned_worst"], 3),
            _pct(r["plain_worst"]),
            _pct(r["plain_median_abs"]).replace("+", ""),
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.simulate:
        rows, summary = simulate()
        write(out, rows, summary, "epf_window_simulation")
        print_simulation(rows, summary)
        return 0
    if args.threads:
        # an oversubscribed shared CPU makes multi-threaded steps erratic
        torch.set_num_threads(args.threads)
    rows, summary = run_sweeps(args)
    write(out, rows, summary, "epf_precision")
    print_table(rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
