"""What the NVML energy counter of this GPU really does (issue 3's assumptions, checked).

The aligned windows of :mod:`gsearch.energy.window` assume that reading the counter is
cheap (well under the 10 ms allowed between the polls around a tick) and that it
changes about every 100 ms (``NVML_TICK_S``). This probe measures, idle and busy:

* the cost of one ``nvmlDeviceGetTotalEnergyConsumption`` call (median, 99th percentile);
* the time between counter changes (median, min, max) and the energy per change, and
  ``alpha``: does a change's energy follow its visible interval (1) or not (0, a regular
  grid's energy shown late; see :mod:`benchmarks.ticks`)?
* the torch-to-NVML device mapping (torch's UUID against NVML's).

It needs a GPU; it prints one short table and writes ``nvml_probe.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.ticks import tick_statistics  # noqa: E402
from gsearch.energy.nvml import NVML_TICK_S  # noqa: E402
from gsearch.energy.select import open_meter  # noqa: E402


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def read_cost_us(read: Any, count: int = 2000) -> dict[str, float]:
    costs = []
    for _ in range(count):
        start = time.perf_counter()
        read()
        costs.append((time.perf_counter() - start) * 1e6)
    return {"median_us": statistics.median(costs), "p99_us": _quantile(costs, 0.99)}


def ticks(read: Any, seconds: float, busy: Any = None) -> dict[str, float]:
    """Counter changes over ``seconds``, polled as fast as the host can."""
    changes: list[tuple[float, float]] = []
    previous = read()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if busy is not None:
            busy()
        value = read()
        if value != previous:
            changes.append((time.perf_counter(), value - previous))
            previous = value
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(changes)]
    if not gaps:
        return {"changes": float(len(changes))}
    mean_gap = statistics.fmean(gaps)
    cumulative = list(itertools.accumulate(j for _, j in changes[1:]))
    series = [
        (t - changes[0][0], j, 0.0) for (t, _), j in zip(changes[1:], cumulative, strict=True)
    ]
    stats = tick_statistics([[(0.0, 0.0, 0.0), *series]], NVML_TICK_S)
    return {
        "alpha": stats.alpha,
        "energy_cv": stats.energy_cv,
        "power_cv": stats.power_cv,
        "changes": float(len(changes)),
        "gap_median_ms": 1e3 * statistics.median(gaps),
        "gap_min_ms": 1e3 * min(gaps),
        "gap_max_ms": 1e3 * max(gaps),
        "joules_per_change": statistics.median(j for _, j in changes[1:]),
        "power_w": sum(j for _, j in changes[1:]) / (mean_gap * len(gaps)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "benchmarks/out/nvml_probe"))
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    device = torch.device("cuda", 0)
    meter, choice = open_meter(device, "nvml")
    assert meter is not None
    facts = meter.facts()
    result: dict[str, Any] = {
        "choice": choice.reason,
        "facts": facts,
        "torch_uuid": str(torch.cuda.get_device_properties(0).uuid),
        "torch_name": torch.cuda.get_device_name(0),
        "read": read_cost_us(meter.read_counter_j),
        "idle": ticks(meter.read_counter_j, args.seconds),
    }
    a = torch.randn(4096, 4096, device=device)
    queue: list[torch.cuda.Event] = []

    def busy() -> None:
        # a bounded queue of matmuls keeps the GPU loaded while the host polls
        while len(queue) < 4:
            torch.mm(a, a)
            event = torch.cuda.Event()
            event.record()
            queue.append(event)
        if queue[0].query():
            queue.pop(0)

    busy()
    torch.cuda.synchronize()
    result["busy"] = ticks(meter.read_counter_j, args.seconds, busy)
    torch.cuda.synchronize()
    meter.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nvml_probe.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"{facts['gpu_name']}, driver {facts['driver']}, torch {torch.__version__}")
    print(f"torch UUID {result['torch_uuid']} -> NVML {facts['gpu_uuid']}")
    print(
        f"counter read: {result['read']['median_us']:.1f} us median, "
        f"{result['read']['p99_us']:.1f} us p99"
    )
    for phase in ("idle", "busy"):
        t = result[phase]
        if "gap_median_ms" not in t:
            print(f"{phase}: {t['changes']:.0f} counter changes in {args.seconds} s")
            continue
        alpha = "-" if t["alpha"] is None else f"{t['alpha']:.2f}"
        cv = "-"
        if t["energy_cv"] is not None and t["power_cv"] is not None:
            cv = f"{100 * t['energy_cv']:.1f}/{100 * t['power_cv']:.1f}%"
        print(
            f"{phase}: change every {t['gap_median_ms']:.1f} ms "
            f"[{t['gap_min_ms']:.1f}, {t['gap_max_ms']:.1f}], "
            f"{t['joules_per_change']:.2f} J per change, {t['power_w']:.1f} W; "
            f"energy/power CV {cv}, "
            f"alpha {alpha} (1: energy follows the visible interval, 0: it does not)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
