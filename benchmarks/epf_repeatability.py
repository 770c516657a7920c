"""Does an EPF repeat from process to process, and do its intervals cover the next run?

Measures the same networks (MobileNet-V1 E2GC G = 1..64, training pass, B = 16, 32 px,
the README main job's EPF step) with a baseline network (the model's paper baseline)
interleaved in the same rounds, in ``--runs`` separate processes one after another, and
scores estimators of a row from the same windows:

- ``median``: median of the row's windows (the protocol before version 3);
- ``min``: the smallest window (what other work on the machine cannot lower);
- ``ratio``: the median over rounds of window / baseline window of the same round,
  times the baseline's EPF in that process: drift that hits both cancels in the ratio;
- ``ratio-min``: min of the row / min of the baseline (dimensionless);
- ``current``: what gsearch records (protocol 3: CPU time, the fastest window, read
  against the baseline; the band widened by three times the baseline's);
- ``min-band<k>``: the fastest window with a band to the (k+1)-th fastest.

For each estimator: the largest and median change of a network's value between runs,
whether the networks' order is the same in every run, and the share of (run, other run,
network) whose value in the other run falls inside this run's interval (the protocol's
interval in gsearch as it stands: ``--current``; else each estimator's own interval).

    python benchmarks/epf_repeatability.py --runs 5 --out benchmarks/out/repeatability
    python benchmarks/epf_repeatability.py --runs 5 --load 1   # one core kept busy

Writes ``runs.json`` (every window) and ``summary.json`` to --out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

POLICIES = ("G=1", "G=2", "G=4", "G=8", "G=16", "G=32", "G=64")


def measure_once(args: argparse.Namespace) -> dict[str, Any]:
    """One process: every network and the baseline, interleaved, with gsearch's protocol."""
    from gsearch.candidates import registry_candidate
    from gsearch.energy.epf import (
        StepConfig,
        default_protocol,
        measure_candidates,
        open_session,
    )
    from gsearch.models import get_family

    step = StepConfig(batch=args.batch, resolution=args.resolution, num_classes=10)
    baseline = str(get_family(args.model).default_policy)
    policies = [p for p in args.policies.split(",") if p]
    with open_session("cpu", "time") as session:
        protocol = default_protocol(session.source, repeats=args.repeats)
        networks = [
            registry_candidate(args.model, p, num_classes=10, resolution=args.resolution)
            for p in [*policies, baseline]
        ]
        # The baseline is also one of the networks: its row is labelled apart.
        base = replace(networks.pop(), model="baseline")
        # The rows are read against the baseline as gsearch reads them (``current``); the
        # baseline's own windows, as a row, feed the other estimators.
        rows = measure_candidates(
            session, [*networks, base], [args.batch], step, protocol, baseline=base
        )
    return {
        "pid": os.getpid(),
        "rows": {
            ("baseline" if r.model == "baseline" else r.policy): {
                "windows": list(r.epf_windows),
                "epf": r.epf,
                "low": r.epf_low,
                "high": r.epf_high,
                "starts": list(r.window_starts_s),
            }
            for r in rows
        },
    }


def estimates(run: dict[str, Any]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """(value, low, high) of every network by every estimator, from one run's windows."""
    rows = run["rows"]
    base = rows["baseline"]
    base_w = base["windows"]
    base_min = min(base_w)
    base_med = statistics.median(base_w)
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    out["current"] = {
        p: (r["epf"], r["low"], r["high"]) for p, r in rows.items() if p != "baseline"
    }
    out["median"] = {}
    out["min"] = {}
    out["ratio"] = {}
    out["ratio-min"] = {}
    for policy, row in rows.items():
        if policy == "baseline":
            continue
        w = sorted(row["windows"])
        out["median"][policy] = (statistics.median(w), w[0], w[-1])
        # min's own interval: the two smallest windows (a second draw of the min lands
        # between them when the fast windows are the network's own speed).
        out["min"][policy] = (w[0], w[0], w[1] if len(w) > 1 else w[0])
        # Pair each window with the baseline window of the same round (rounds rotate the
        # order, so the pair is taken within the round by index).
        ratios = sorted(a / b for a, b in zip(row["windows"], base_w, strict=True))
        med = statistics.median(ratios)
        out["ratio"][policy] = (med * base_med, ratios[0] * base_med, ratios[-1] * base_med)
        # The dimensionless ratio of the two minima: what a baseline keeps across processes.
        low_ratio = w[0] / max(base_w)
        out["ratio-min"][policy] = (w[0] / base_min, low_ratio, w[1] / base_min)
        # The smallest window with a band as wide as the gap to the k-th smallest window
        # (at least 2%): a noisy row gets a wide interval, a quiet one a narrow one.
        for k in (1, 2):
            band = max((w[min(k, len(w) - 1)] - w[0]) / w[0], 0.02)
            out[f"min-band{k}"] = out.get(f"min-band{k}", {})
            out[f"min-band{k}"][policy] = (w[0], w[0] / (1 + band), w[0] * (1 + band))
    return out


def score(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    per_run = [estimates(run) for run in runs]
    summary: dict[str, dict[str, Any]] = {}
    for name in per_run[0]:
        policies = list(per_run[0][name])
        changes = []
        for policy in policies:
            values = [e[name][policy][0] for e in per_run]
            changes.append(max(values) / min(values) - 1)
        orders = {tuple(sorted(policies, key=lambda p, e=e: e[name][p][0])) for e in per_run}
        covered = total = 0
        for a, b in itertools.permutations(range(len(per_run)), 2):
            for policy in policies:
                _, low, high = per_run[a][name][policy]
                value = per_run[b][name][policy][0]
                covered += low <= value <= high
                total += 1
        summary[name] = {
            "largest_change": max(changes),
            "median_change": statistics.median(changes),
            "orders": len(orders),
            "coverage": covered / total if total else float("nan"),
            "values": {p: [e[name][p][0] for e in per_run] for p in policies},
        }
    return summary


def burn(stop_at: float) -> None:
    """Keep one core busy (the load case)."""
    x = 0
    while time.time() < stop_at:
        x += 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="mobilenet_v1")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--load", type=int, default=0, help="cores kept busy meanwhile")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between runs")
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/repeatability"))
    args = parser.parse_args()
    if args.once:
        json.dump(measure_once(args), sys.stdout)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    burners = []
    if args.load:
        stop_at = time.time() + 3600
        burners = [multiprocessing.Process(target=burn, args=(stop_at,)) for _ in range(args.load)]
        for b in burners:
            b.start()
    runs = []
    try:
        for index in range(args.runs):
            started = time.time()
            command = [sys.executable, __file__, "--once", *sys.argv[1:]]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout))
            print(f"run {index + 1}/{args.runs}: {time.time() - started:.0f} s", flush=True)
            time.sleep(args.pause)
    finally:
        for b in burners:
            b.terminate()
    (args.out / "runs.json").write_text(json.dumps(runs, indent=1))
    summary = score(runs)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"{'estimator':<10} {'largest':>8} {'median':>8} {'orders':>6} {'coverage':>8}")
    for name, s in summary.items():
        print(
            f"{name:<10} {100 * s['largest_change']:7.1f}% {100 * s['median_change']:7.1f}% "
            f"{s['orders']:>6} {100 * s['coverage']:7.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
