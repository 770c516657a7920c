"""Training speed on the CPU (issue 4): the proxy on digits, and images per second.

1. The default proxy recipe on the embedded digits dataset with MobileNet-V1 G=8:
   wall seconds (data loading, model building, training, evaluation) and top-1.
   Target: >= 90% top-1 in <= 60 s on the 2-core development machine.
2. Training throughput (forward + backward + SGD step, images per second) of
   MobileNet-V1 (G=8) and ResNeXt-50 (g=32) at 32x32, on synthetic images
   (speed only: their accuracy means nothing), median of ``--repeats``.

3. ``--layouts G=1,G=2,...``: the proxy on digits of each MobileNet-V1 policy in NCHW and
   in channels-last, alternated ``--rounds`` times in one process (wall s, top-1): the
   measurement behind the search's channels-last training on the CPU.

    PYTHONPATH=. .venv/bin/python benchmarks/train_speed.py --threads 2 --out /tmp/train_speed
    PYTHONPATH=. .venv/bin/python benchmarks/train_speed.py --layouts G=1,G=2,G=8,G=64
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from gsearch.data import get_dataset
from gsearch.models import create_model
from gsearch.training import PROXY, prepare_data, train

THROUGHPUT_MODELS = (("mobilenet_v1", "G=8"), ("resnext50", "g=32"))


def proxy_on_digits(seed: int, quiet: bool) -> dict[str, Any]:
    """Wall seconds and top-1 of the default proxy, MobileNet-V1 G=8 on digits."""
    start = time.perf_counter()
    data = prepare_data("digits", PROXY)
    torch.manual_seed(seed)
    model = create_model("mobilenet_v1", policy="G=8", num_classes=data.num_classes)
    metrics = train(model, data, PROXY.with_(seed=seed), quiet=quiet)
    return {
        "seed": seed,
        "wall_s": time.perf_counter() - start,
        "train_s": metrics.seconds,
        "top1": metrics.top1,
        "top5": metrics.top5,
        "images_per_second": metrics.images_per_second,
    }


def layouts(policies: list[str], rounds: int) -> list[dict[str, Any]]:
    """The proxy on digits of each policy, NCHW and channels-last alternated ``rounds``
    times (the machine's drift falls on both alike)."""
    data = prepare_data("digits", PROXY)
    rows = []
    for policy in policies:
        for _ in range(rounds):
            for channels_last in (False, True):
                torch.manual_seed(0)
                model = create_model("mobilenet_v1", policy=policy, num_classes=data.num_classes)
                start = time.perf_counter()
                metrics = train(
                    model, data, PROXY.with_(seed=0, channels_last=channels_last), quiet=True
                )
                rows.append(
                    {
                        "policy": policy,
                        "channels_last": channels_last,
                        "wall_s": time.perf_counter() - start,
                        "top1": metrics.top1,
                    }
                )
    return rows


def print_layouts(console: Console, rows: list[dict[str, Any]], threads: int) -> None:
    table = Table(title=f"proxy on digits, MobileNet-V1, {threads} threads: NCHW vs channels-last")
    for column in ("policy", "NCHW wall s", "channels-last wall s", "ratio", "top-1 NCHW / CL"):
        table.add_column(column, justify="right")
    for policy in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == policy]
        nchw = [r for r in mine if not r["channels_last"]]
        last = [r for r in mine if r["channels_last"]]
        a = statistics.median(r["wall_s"] for r in nchw)
        b = statistics.median(r["wall_s"] for r in last)
        table.add_row(policy, f"{a:.1f}", f"{b:.1f}", f"{b / a:.2f}",
                      f"{nchw[0]['top1']:.2f} / {last[0]['top1']:.2f}")  # fmt: skip
    console.print(table)


def throughput(
    model_name: str, policy: str, batch_size: int, steps: int, repeats: int
) -> list[float]:
    """Training images per second of ``repeats`` one-epoch runs on synthetic 32x32 images."""
    data = get_dataset(
        "synthetic", resolution=32, train_size=batch_size * steps, val_size=batch_size
    )
    recipe = PROXY.with_(name="speed", epochs=1, batch_size=batch_size, warmup_epochs=0.0)
    values = []
    for repeat in range(repeats + 1):
        torch.manual_seed(repeat)
        model = create_model(model_name, policy=policy, num_classes=data.num_classes)
        metrics = train(model, data, recipe, quiet=True)
        if repeat > 0:  # the first run warms up allocators and kernels
            values.append(metrics.images_per_second)
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--proxy-runs", type=int, default=1, help="proxy runs (seeds 0..n-1)")
    parser.add_argument("--repeats", type=int, default=3, help="throughput repeats")
    parser.add_argument("--steps", type=int, default=8, help="steps per throughput run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None, help="folder for train_speed.json")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--layouts", help="policies to train in both memory layouts (only)")
    parser.add_argument("--rounds", type=int, default=2, help="alternations per layout")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    if args.layouts:
        rows = layouts(args.layouts.split(","), args.rounds)
        print_layouts(console, rows, args.threads)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            result = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "threads": args.threads,
                      "torch": torch.__version__, "layouts": rows}  # fmt: skip
            (args.out / "train_layouts.json").write_text(json.dumps(result, indent=2))
        return 0

    proxy_runs = [proxy_on_digits(seed, args.quiet) for seed in range(args.proxy_runs)]
    speeds = {
        f"{name} {policy}": throughput(name, policy, args.batch_size, args.steps, args.repeats)
        for name, policy in THROUGHPUT_MODELS
    }

    table = Table(title=f"training speed, {args.threads} threads, torch {torch.__version__}")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("runs", justify="right")
    wall = statistics.median(r["wall_s"] for r in proxy_runs)
    top1 = statistics.median(r["top1"] for r in proxy_runs)
    table.add_row("proxy digits MobileNet-V1 G=8: wall s", f"{wall:.1f}",
                  " ".join(f"{r['wall_s']:.1f}" for r in proxy_runs))  # fmt: skip
    table.add_row("proxy digits MobileNet-V1 G=8: top-1 %", f"{top1:.1f}",
                  " ".join(f"{r['top1']:.1f}" for r in proxy_runs))  # fmt: skip
    for label, values in speeds.items():
        runs = " ".join(f"{v:.0f}" for v in values)
        measure = f"{label} 32x32 train img/s (batch {args.batch_size})"
        table.add_row(measure, f"{statistics.median(values):.0f}", runs)
    console.print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        result = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "proxy_runs": proxy_runs,
            "images_per_second": speeds,
        }
        (args.out / "train_speed.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
