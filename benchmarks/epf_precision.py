"""How precise and how accurate is the EPF protocol? (issue 3)

For MobileNet-V1 (G=1, G=32, g=8) and ResNeXt-50 (g=32, G=32) at B = 1, 16, 64 it runs
the protocol twice (two independent sweeps, every candidate of a batch interleaved),
then the 20 s reference window for MobileNet-V1 G=1 and ResNeXt-50 g=32 at B = 1 and 64,
and reports per config:

* spread: max/min - 1 over the repeats of each sweep (target <= 1% over 5 repeats);
* bias: the sweeps' median EPF against the 20 s reference (target <= 2%);
* Kendall tau between the two sweeps' rankings (all configs, and per batch; >= 0.9);
* device seconds per config and batch (target <= 10 s);
* where the counter ticks (NVML), a diagnosis of the spread from the windows' own counter
  ticks, at no extra device time (``benchmarks.ticks``): ``alpha`` (does the energy
  of a counter change follow its visible interval?), the EPF with the windows' ends moved
  to the session's regular tick grid (its spread and bias beside the aligned ones), and
  each row's outlier window with the row measured just before it and the temperatures.

``--configs`` measures a subset (e.g. ``mobilenet_v1/g=8,resnext50/G=32``) and
``--reference-batches none`` skips the reference: a short, focused rerun of the rows
that spread. ``--plain`` adds a sweep with plain (unaligned) windows of the same length for the
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

from benchmarks.ticks import RowDiagnosis, diagnose_rows, tick_statistics  # noqa: E402
from gsearch.candidates import registry_candidate  # noqa: E402
from gsearch.energy import (  # noqa: E402
    EpfProtocol,
    EpfResult,
    StepConfig,
    measure_candidates,
    open_session,
)
from gsearch.energy.stats import kendall_tau, spread  # noqa: E402
from gsearch.errors import GsearchError  # noqa: E402

console = Console(width=160)
err = Console(stderr=True)

MODELS = {"mobilenet_v1": ("G=1", "G=32", "g=8"), "resnext50": ("g=32", "G=32")}
CONFIGS = ",".join(f"{model}/{policy}" for model, policies in MODELS.items() for policy in policies)
REFERENCE = (("mobilenet_v1", "G=1"), ("resnext50", "g=32"))


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.environ.get("OUT", "benchmarks/out/epf_precision"))
    p.add_argument("--device", default="auto")
    p.add_argument("--energy", default="auto", choices=("auto", "nvml", "rapl", "model"))
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--configs", default=CONFIGS, help="model/policy pairs, comma-separated")
    p.add_argument("--batches", default="1,16,64")
    p.add_argument(
        "--reference-batches", default=None, help="default: first and last batch; none: skip"
    )
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--window", type=float, default=0.6, help="window seconds (sweeps)")
    p.add_argument("--warmup", type=float, default=0.3, help="warm-up seconds per candidate")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--preroll", type=float, default=0.15, help="pre-roll seconds per window")
    p.add_argument("--reference-seconds", dest="reference_s", type=float, default=20.0)
    p.add_argument("--eager", action="store_true", help="eager steps instead of CUDA graphs")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    p.add_argument("--plain", action="store_true", help="also a plain-window sweep")
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("--simulate", action="store_true", help="window methods on the fake NVML")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p.parse_args(argv)


def _configs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in _csv_list(text):
        model, _, policy = item.partition("/")
        if not policy:
            raise SystemExit(f"--configs: {item!r} is not model/policy (e.g. mobilenet_v1/G=32)")
        pairs.append((model, policy))
    return pairs


def _row_key(row: EpfResult) -> tuple[str, str, int]:
    return (row.model, row.policy, row.batch)


def run_sweeps(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    batches = [int(b) for b in _csv_list(args.batches)]
    if args.reference_batches == "none":
        args.skip_reference = True
    ref_batches = (
        [int(b) for b in _csv_list(args.reference_batches)]
        if args.reference_batches and not args.skip_reference
        else sorted({batches[0], batches[-1]})
    )
    step = StepConfig(
        batch=1,
        resolution=args.resolution,
        precision=args.precision,
        mode="eager" if args.eager else "graph",
    )
    common = {
        "warmup_s": args.warmup,
        "warmup_steps": args.warmup_steps,
        "preroll_s": args.preroll,
    }
    sweep = EpfProtocol(repeats=args.repeats, window_s=args.window, **common)
    plain = replace(sweep, method="plain")
    reference = EpfProtocol.reference_protocol(window_s=args.reference_s, **common)
    candidates = [
        registry_candidate(model, policy, resolution=args.resolution)
        for model, policy in _configs(args.configs)
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
        tick_s = session.meter.tick_s if session.meter is not None else None
    rows = summarise(results, unit)
    diagnosis = diagnose(results, rows, tick_s)
    summary = {
        "facts": facts,
        "unit": unit,
        "idle_power_w": idle_w,
        "protocol": sweep.key(),
        "reference_protocol": reference.key(),
        "wall_s": wall,
        "kendall_tau_all": _tau(rows),
        "kendall_tau_per_batch": {
            str(b): _tau([r for r in rows if r["batch"] == b]) for b in batches
        },
        "kendall_tau_ms_all": _tau(rows, "ms"),
        "ticks": diagnosis,
        "date": time.strftime("%Y-%m-%d"),
    }
    return rows, summary


def _outlier(d: RowDiagnosis | None) -> str | None:
    if d is None or d.outlier is None:
        return None
    usual = "" if d.outlier_after == d.usual_after else f" (usually {d.usual_after})"
    return f"w{d.outlier + 1} after {d.outlier_after or 'warm-up'}{usual}"


def diagnose(
    results: dict[str, list[EpfResult]], rows: list[dict[str, Any]], tick_s: float | None
) -> dict[str, Any]:
    """Add the tick diagnosis to ``rows``; return its pooled summary (empty without ticks)."""
    if tick_s is None:
        return {}
    fits = {name: diagnose_rows(results[name], tick_s) for name in ("sweep1", "sweep2")}
    found = {name: fit[0] for name, fit in fits.items()}
    sweeps = [r for name in ("sweep1", "sweep2") for r in results[name]]
    ticks_by_key: dict[tuple[str, str, int], list[Any]] = {}
    for r in sweeps:  # both sweeps' windows of a config, pooled
        ticks_by_key.setdefault(_row_key(r), []).extend(r.window_ticks)
    for row in rows:
        key = (row["model"], row["policy"], row["batch"])
        label = f"{row['model']} {row['policy']} B={row['batch']}"
        one, two = found["sweep1"].get(label), found["sweep2"].get(label)
        pooled = tick_statistics(ticks_by_key.get(key, []), tick_s)
        ref = row["epf_reference"]
        row.update(
            {
                "alpha": pooled.alpha,
                "tick_interval_ms": pooled.interval_ms,
                "tick_jitter_ms": pooled.interval_jitter_ms,
                "tick_energy_cv": pooled.energy_cv,
                "tick_power_cv": pooled.power_cv,
                "grid_epf_sweep1": one.grid_epf if one else None,
                "grid_epf_sweep2": two.grid_epf if two else None,
                "grid_spread_sweep1": one.grid_spread if one else None,
                "grid_spread_sweep2": two.grid_spread if two else None,
                "grid_bias_sweep1": _bias(one.grid_epf if one else None, ref),
                "grid_bias_sweep2": _bias(two.grid_epf if two else None, ref),
                "outlier_sweep1": _outlier(one),
                "outlier_sweep2": _outlier(two),
                "temperature_c_sweep1": one.temperature_c if one else None,
            }
        )
    everything = tick_statistics([t for r in sweeps for t in r.window_ticks], tick_s)
    return {
        "tick_s": tick_s,
        "alpha_all": everything.alpha,
        "tick_interval_ms": everything.interval_ms,
        "tick_jitter_ms": everything.interval_jitter_ms,
        "intervals": everything.intervals,
        "grid_residual_ms": {
            name: grid.residual_ms if grid else None for name, (_, grid) in fits.items()
        },
    }


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
            "device_s_sweep1": first.device_s,
            "device_s_sweep2": second.device_s if second else None,
            "device_s_reference": ref.device_s if ref else None,
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
            f"{_num(r['device_s_sweep1'])}/{_num(r['device_s_sweep2'])}",
        )
    console.print(table)
    tau = summary["kendall_tau_all"]
    per_batch = ", ".join(f"B={b}: {_num(t)}" for b, t in summary["kendall_tau_per_batch"].items())
    console.print(
        f"Kendall tau of EPF, sweep 1 vs 2: {_num(tau)} (all configs), {per_batch}; "
        f"of ms/frame: {_num(summary['kendall_tau_ms_all'])}. "
        f"Wall {sum(summary['wall_s'].values()):.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in summary['wall_s'].items())}).",
        highlight=False,
    )
    if summary["ticks"]:
        print_diagnosis(rows, summary["ticks"])


def print_diagnosis(rows: list[dict[str, Any]], ticks: dict[str, Any]) -> None:
    """Why windows differ: what the counter's changes carry, the grid estimate, outliers."""
    table = Table(title="Spread diagnosis from the windows' counter ticks")
    columns = ("config", "B", "alpha", "tick ms (sd)", "energy/power CV", "spread 1/2")
    columns += ("grid spread 1/2", "grid bias 1/2", "outlier (sweep 1)", "deg C")
    for column in columns:
        left = column.startswith(("config", "out"))
        table.add_column(column, justify="left" if left else "right")
    for r in rows:
        cv = "-"
        if r["tick_energy_cv"] is not None and r["tick_power_cv"] is not None:
            cv = f"{100 * r['tick_energy_cv']:.1f}/{100 * r['tick_power_cv']:.1f}%"
        temperature = r["temperature_c_sweep1"]
        table.add_row(
            f"{r['model']} {r['policy']}",
            str(r["batch"]),
            "-" if r["alpha"] is None else f"{r['alpha']:.2f}",
            f"{_num(r['tick_interval_ms'])} ({_num(r['tick_jitter_ms'])})",
            cv,
            f"{_pct(r['spread_sweep1'])}/{_pct(r['spread_sweep2'])}".replace("+", ""),
            f"{_pct(r['grid_spread_sweep1'])}/{_pct(r['grid_spread_sweep2'])}".replace("+", ""),
            f"{_pct(r['grid_bias_sweep1'])}/{_pct(r['grid_bias_sweep2'])}",
            r["outlier_sweep1"] or "-",
            "-" if temperature is None else f"{temperature[0]:g}-{temperature[1]:g}",
        )
    console.print(table)
    alpha = ticks["alpha_all"]
    if alpha is None:
        verdict = "the changes came too regularly to tell (both estimates agree)"
    elif alpha < 0.3:
        verdict = "each change carries a regular grid's energy, shown late: trust the grid columns"
    elif alpha > 0.7:
        verdict = "each change carries the energy up to its own moment: aligned ends are right"
    else:
        verdict = "in between: neither model of the counter fits"
    residual = ", ".join(f"{k} {_num(v)} ms" for k, v in ticks["grid_residual_ms"].items())
    console.print(
        f"Counter changes in the sweeps: every {_num(ticks['tick_interval_ms'])} ms "
        f"(sd {_num(ticks['tick_jitter_ms'])} ms, {ticks['intervals']} intervals); "
        f"alpha {'-' if alpha is None else f'{alpha:.2f}'}: {verdict}. "
        f"Ticks off the session grid (rms): {residual}.",
        highlight=False,
    )


# ---------------------------------------------------------------- simulated counter
def _fake_nvml() -> Any:
    spec = importlib.util.spec_from_file_location(
        "fake_nvml", ROOT / "tests" / "energy" / "fake_nvml.py"
    )
    assert spec is not None and spec.loader is not None
    fake = importlib.util.module_from_spec(spec)
    sys.modules["fake_nvml"] = fake  # dataclasses look their module up there
    spec.loader.exec_module(fake)
    return fake


class _Patch:
    """setattr with undo: what the fake NVML's install needs, without pytest (the GPU
    machine, where the dry run of the GPU check also runs this, has none)."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def setattr(self, target: Any, name: str, value: Any) -> None:
        self._saved.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    def undo(self) -> None:
        while self._saved:
            target, name, value = self._saved.pop()
            setattr(target, name, value)


def simulate() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Aligned vs plain windows on the simulated 100 ms NVML counter (no GPU, no model)."""
    fake = _fake_nvml()
    from gsearch.energy.nvml import NvmlMeter
    from gsearch.energy.window import measure_aligned, measure_plain, run_for

    rows = []
    patch = _Patch()
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
                            window_s=window_s,
                            preroll_s=0.2,
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


COUNTERS = {
    "regular": {},
    "late firmware loop (+/-20 ms)": {"tick_jitter_s": 0.02},
    "regular grid shown 0-44 ms late": {"publish_delay_s": (0.0, 0.044)},
}


def simulate_counters() -> list[dict[str, Any]]:
    """Aligned and session-grid ends under three behaviours of the counter's changes.

    Eight 0.6 s windows per cell, 0.3 s apart, polls 3 ms apart (an H200's read time).
    """
    fake = _fake_nvml()
    from benchmarks.ticks import fit_tick_grid, grid_energy_per_step
    from gsearch.energy.nvml import NvmlMeter
    from gsearch.energy.window import measure_aligned, run_for

    rows = []
    patch = _Patch()
    try:
        for name, options in COUNTERS.items():
            for step_s in (0.0011, 0.0196):
                device = fake.SimDevice(None, read_cost_s=3e-3, seed=3, **options)
                fake.FakeNvml([fake.FakeGpu("GPU-sim", sim=device)]).install(patch)
                clock = fake.SimClock(device)
                meter = NvmlMeter(0, clock=clock, visible=None)
                runner = fake.SimRunner(device, step_s, batch=4)
                depth = max(2, math.ceil(0.02 / step_s))
                run_for(runner, clock, 1.0, 3, depth)
                windows = []
                for _ in range(8):
                    w = measure_aligned(
                        runner,
                        meter,
                        clock,
                        window_s=0.6,
                        preroll_s=0.15,
                        max_in_flight=depth,
                    )
                    windows.append((w, device.true_energy_per_step(w.start_s, w.end_s)))
                    clock.sleep(0.3)
                    run_for(runner, clock, 0.2, 1, depth)
                grid = fit_tick_grid([(w.start_s, w.ticks) for w, _ in windows], 0.1)
                assert grid is not None
                aligned = [w.energy / w.steps / truth - 1 for w, truth in windows]
                gridded = [
                    grid_energy_per_step(w.ticks, w.start_s, grid) / truth - 1
                    for w, truth in windows
                ]
                stats = tick_statistics([w.ticks for w, _ in windows], 0.1)
                rows.append(
                    {
                        "counter": name,
                        "step_ms": step_s * 1e3,
                        "alpha": stats.alpha,
                        "aligned_spread": max(aligned) - min(aligned),
                        "aligned_worst": max(aligned, key=abs),
                        "grid_spread": max(gridded) - min(gridded),
                        "grid_worst": max(gridded, key=abs),
                    }
                )
    finally:
        patch.undo()
    return rows


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
    counters = summary.get("counters", [])
    if not counters:
        return
    table = Table(title="aligned vs session-grid ends, 8 windows of 0.6 s, by counter behaviour")
    columns = ("counter", "step ms", "alpha", "aligned spread", "aligned worst")
    for column in (*columns, "grid spread", "grid worst"):
        table.add_column(column, justify="left" if column == "counter" else "right")
    for r in counters:
        table.add_row(
            r["counter"],
            f"{r['step_ms']:g}",
            "-" if r["alpha"] is None else f"{r['alpha']:.2f}",
            _pct(r["aligned_spread"]).replace("+", ""),
            _pct(r["aligned_worst"]),
            _pct(r["grid_spread"]).replace("+", ""),
            _pct(r["grid_worst"]),
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.simulate:
        rows, summary = simulate()
        summary["counters"] = simulate_counters()
        write(out, rows, summary, "epf_window_simulation")
        print_simulation(rows, summary)
        return 0
    if args.threads:
        # an oversubscribed shared CPU makes multi-threaded steps erratic
        torch.set_num_threads(args.threads)
    try:
        rows, summary = run_sweeps(args)
    except GsearchError as error:
        err.print(f"epf_precision: {error}", highlight=False)
        return 2
    write(out, rows, summary, "epf_precision")
    print_table(rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
