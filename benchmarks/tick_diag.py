"""Why an aligned window found no usable counter tick: every counter read of a calibration.

Calibrates the layers of one shape (default: MobileNet-V1's first depthwise layer at
224 px, B = 1, training pass, the shape whose chunk stopped the GPU check's calibrate
stage on 2026-12-04), logging each energy-counter read (host time before and after, the
value). Writes ``tick_diag.json`` to --out and prints read times, gaps and the gaps around
counter changes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from dataclasses import replace
from pathlib import Path

from gsearch.calibration_plan import calibration_target
from gsearch.energy.calibrate import calibrate
from gsearch.energy.epf import EpfProtocol, StepConfig, open_session
from gsearch.errors import GsearchError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", default="m32-n32-k3-s1-p1-112x112")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--energy", default="nvml")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    target = calibration_target("mobilenet_v1", None, resolution=224)
    layers = tuple(layer for layer in target.layers if layer.shape_key.startswith(args.shape))
    target = replace(target, layers=layers, build_rest=None)
    print(f"{len(layers)} layers of shape {args.shape}")
    reads: list[tuple[float, float, float]] = []
    error = ""
    with open_session(args.device, args.energy) as session:
        meter = session.meter
        assert meter is not None
        original = meter.read_counter_j
        clock = session.clock

        def logged() -> float:
            before = clock.now()
            value = original()
            reads.append((before, clock.now(), value))
            return value

        meter.read_counter_j = logged  # type: ignore[method-assign]
        protocol = EpfProtocol(repeats=2, window_s=0.25, warmup_s=0.2)
        step = StepConfig(batch=args.batch, resolution=224, pass_="training")
        try:
            calibrate(session, target, step, protocol, directory=args.out)
        except GsearchError as caught:
            error = str(caught)
    print("error:", error or "none")
    durations = [after - before for before, after, _ in reads]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(reads)]
    changes = [
        (i, gaps[i - 1], durations[i - 1], durations[i])
        for i in range(1, len(reads))
        if reads[i][2] != reads[i - 1][2]
    ]
    q = lambda xs, p: statistics.quantiles(xs, n=100)[p - 1] * 1e3 if len(xs) > 2 else float("nan")  # noqa: E731
    print(f"reads {len(reads)}; read ms p50 {q(durations, 50):.3f} p99 {q(durations, 99):.3f}")
    print(f"gap ms p50 {q(gaps, 50):.3f} p99 {q(gaps, 99):.3f}; changes {len(changes)}")
    if changes:
        change_gaps = [c[1] for c in changes]
        print(f"gap at a change ms p50 {q(change_gaps, 50):.3f} p10 {q(change_gaps, 10):.3f}")
    tail = reads[-3000:]
    (args.out / "tick_diag.json").write_text(
        json.dumps({"error": error, "reads_tail": tail, "changes": changes[-500:]}, indent=0)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
