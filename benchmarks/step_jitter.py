"""How much one training step's time varies on this machine, with nothing interleaved.

The time meter can rank networks only as far as a step's time repeats. This times
``--steps`` consecutive training steps (forward, loss, backward) of each policy alone,
after a warm-up, and prints the median ms per frame, the 10th and 90th percentiles, the
coefficient of variation, and the range of 3-step windows (what a 0.3 s window holds at
B=16 on cpu-2c). ``--cpu-time`` times with the process's CPU time instead of the wall
clock: if the noise were other programs taking the core, that clock would not see it.
BENCHMARKS.md, "Predictor accuracy", quotes both.

    python benchmarks/step_jitter.py --threads 1 --batch 16 --policy G=1 --policy G=16
    python benchmarks/step_jitter.py --threads 1 --batch 16 --cpu-time
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from gsearch.candidates import registry_candidate


def step_times_ms(
    model: torch.nn.Module,
    batch: int,
    resolution: int,
    steps: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Milliseconds per frame of ``steps`` consecutive training steps, by ``clock``."""
    images = torch.randn(batch, 3, resolution, resolution)
    labels = torch.randint(0, 1000, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()

    for _ in range(5):  # warm-up: allocator and kernels settle
        step()
    times = []
    for _ in range(steps):
        started = clock()
        step()
        times.append(1000 * (clock() - started) / batch)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v1")
    parser.add_argument("--policy", action="append", help="repeatable (default G=1, G=16)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpu-time", action="store_true", help="time.process_time, not wall")
    args = parser.parse_args()
    clock = time.process_time if args.cpu_time else time.perf_counter
    torch.set_num_threads(args.threads)
    for policy in args.policy or ["G=1", "G=16"]:
        model = registry_candidate(args.model, policy, resolution=args.resolution).build()
        times = step_times_ms(model, args.batch, args.resolution, args.steps, clock)
        deciles = statistics.quantiles(times, n=10)
        windows = [statistics.fmean(times[i : i + 3]) for i in range(0, len(times) - 2, 3)]
        print(
            f"{args.model} {policy} B={args.batch}: median {statistics.median(times):.2f} "
            f"ms/frame, p10 {deciles[0]:.2f}, p90 {deciles[-1]:.2f}, "
            f"cv {100 * statistics.pstdev(times) / statistics.fmean(times):.1f}%, "
            f"3-step windows {min(windows):.2f}-{max(windows):.2f}"
        )


if __name__ == "__main__":
    main()
