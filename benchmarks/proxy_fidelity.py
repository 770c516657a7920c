"""Does the proxy recipe rank group policies, or noise? (issue 7)

For the paper's 11 MobileNet-V1 variants (E2GC G=1..32, FgGC g=2..32) on the
embedded digits dataset, train the proxy with several seeds and one long
reference run (30 epochs, one seed) per variant, then report per variant the
seed spread (max - min, points), the gap between the proxy's median and the
reference, the cost of each in seconds, and Kendall's tau between the rankings.

    PYTHONPATH=. .venv/bin/python benchmarks/proxy_fidelity.py --out studies/fidelity
    # quick look: 3 variants, 2 seeds, 2 proxy / 4 reference epochs
    PYTHONPATH=. .venv/bin/python benchmarks/proxy_fidelity.py --out /tmp/fid \
        --variants G=1,G=8,g=32 --seeds 0,1 --proxy-epochs 2 --reference-epochs 4

Runs checkpoint under ``<out>/checkpoints``: a killed benchmark resumes, and
finished runs (e.g. the costly references) are reused when only the proxy
recipe changes. Writes ``fidelity.csv``, ``fidelity.json`` and ``fidelity.md``
to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gsearch.fidelity import FidelityReport, check_fidelity, fidelity_table
from gsearch.models import create_model
from gsearch.training import PROXY, Recipe, TrainMetrics, prepare_data, train

PAPER_VARIANTS = (
    "G=1", "G=2", "G=4", "G=8", "G=16", "G=32", "g=2", "g=4", "g=8", "g=16", "g=32",
)  # fmt: skip


# The yardstick: 30 epochs at full resolution (32x32 for digits) with a warm-up + cosine
# schedule, label smoothing 0.1 and gradient clipping at 2. It stays fixed while the
# proxy under test changes, so that its costly runs are trained once and reused from
# their checkpoints.
REFERENCE = Recipe(
    name="reference-30ep",
    fidelity="proxy",
    epochs=30,
    batch_size=64,
    lr=0.1,
    schedule="cosine",
    warmup_epochs=1.0,
    label_smoothing=0.1,
    grad_clip_norm=2.0,
    zero_init_residual=True,
    resolution=32,
    seeds=(0,),
    eval_each_epoch=False,
)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _overrides(items: list[str]) -> dict[str, Any]:
    pairs = (item.split("=", 1) for item in items)
    return {key: _parse_value(value) for key, value in pairs}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--model", default="mobilenet_v1")
    parser.add_argument("--variants", default=",".join(PAPER_VARIANTS))
    parser.add_argument("--seeds", default="0,1,2", help="proxy seeds")
    parser.add_argument("--proxy-epochs", type=int, default=PROXY.epochs)
    parser.add_argument("--reference-epochs", type=int, default=30)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a field of the proxy recipe, e.g. lr=0.05 (repeatable)",
    )
    parser.add_argument(
        "--reference-set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a field of the reference recipe (repeatable)",
    )
    parser.add_argument(
        "--cost-repeats",
        type=int,
        default=2,
        help="interleaved one-epoch timings per variant for the cost ratio (0: skip)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def interleaved_cost_ratio(
    dataset: str, model: str, policy: str, proxy: Recipe, reference: Recipe, repeats: int
) -> float:
    """Proxy cost over reference cost from one-epoch runs timed alternately.

    The full runs happen minutes or hours apart, and on a shared machine the load
    changes in between; alternating one epoch of each, ``repeats`` times, puts both
    under the same load. A run costs epochs x (seconds of one training epoch) plus its
    evaluations (with the proxy's BatchNorm pass for its weight average): once at the
    end, or after every epoch with ``eval_each_epoch``; each the median over the repeats.
    """
    proxy_data = prepare_data(dataset, proxy)
    reference_data = prepare_data(dataset, reference)
    epoch_s: dict[str, list[float]] = {"proxy": [], "reference": []}
    end_s: dict[str, list[float]] = {"proxy": [], "reference": []}
    for repeat in range(repeats):
        for kind, recipe, data in (
            ("proxy", proxy, proxy_data),
            ("reference", reference, reference_data),
        ):
            torch.manual_seed(repeat)
            network = create_model(model, policy=policy, num_classes=data.num_classes)
            one_epoch = recipe.with_(epochs=1, warmup_epochs=0.0)
            run = train(network, data, one_epoch, quiet=True)
            epoch_s[kind].append(run.history[0].seconds)
            end_s[kind].append(run.seconds - run.history[0].seconds)

    def cost(kind: str, recipe: Recipe) -> float:
        ends = recipe.epochs if recipe.eval_each_epoch else 1  # evaluations in a whole run
        return recipe.epochs * statistics.median(epoch_s[kind]) + ends * statistics.median(
            end_s[kind]
        )

    return cost("proxy", proxy) / cost("reference", reference)


def write_results(
    report: FidelityReport, out: Path, meta: dict[str, Any], cost: dict[str, float]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fields = [
        "policy", "params_m", "proxy_top1s", "proxy_median_top1", "proxy_spread_top1",
        "reference_top1", "gap_top1", "proxy_s", "reference_s",
    ]  # fmt: skip
    header = [*fields, "cost_ratio_interleaved"]
    with open(out / "fidelity.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in report.rows:
            values = [getattr(row, name) for name in fields]
            values[2] = " ".join(f"{v:.2f}" for v in row.proxy_top1s)
            writer.writerow([*values, cost.get(row.policy, "")])
    (out / "fidelity.json").write_text(
        json.dumps(
            {"meta": meta, "report": report.to_dict(), "cost_ratio_interleaved": cost},
            indent=2,
            default=str,
        )
    )
    lines = [
        f"| variant | params (M) | proxy top-1 per seed | median | spread | "
        f"{report.reference.epochs}-ep ref | gap |"
        " proxy s | ref s | cost ratio (interleaved) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report.rows:
        seeds = " / ".join(f"{v:.1f}" for v in row.proxy_top1s)
        lines.append(
            f"| {row.policy} | {row.params_m:.2f} | {seeds} | {row.proxy_median_top1:.1f} | "
            f"{row.proxy_spread_top1:.1f} | {row.reference_top1:.1f} | {row.gap_top1:+.1f} | "
            f"{row.proxy_s:.0f} | {row.reference_s:.0f} | "
            f"{cost[row.policy]:.3f} |"
            if row.policy in cost
            else f"{row.proxy_s:.0f} | {row.reference_s:.0f} | |"
        )
    tau = "undefined" if report.kendall_tau is None else f"{report.kendall_tau:.2f}"
    interleaved = ""
    if cost:
        interleaved = f", {statistics.median(cost.values()):.3f} interleaved (median of variants)"
    lines += [
        "",
        f"max seed spread {report.max_seed_spread:.1f} points; max |gap| "
        f"{report.max_abs_gap:.1f} points; proxy cost / reference cost "
        f"{report.cost_ratio:.3f} as trained{interleaved}; Kendall tau {tau}; "
        f"reference spread {report.reference_spread_top1:.2f} points "
        f"(one validation image = {report.one_image_points:.2f} points)"
        + ("" if report.tau_meaningful else ": within one image, so tau is not meaningful"),
    ]
    (out / "fidelity.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    proxy = PROXY.with_(epochs=args.proxy_epochs, **_overrides(args.set))
    reference = REFERENCE.with_(epochs=args.reference_epochs, **_overrides(args.reference_set))
    variants = [v for v in args.variants.split(",") if v]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    console = Console(stderr=True)
    started = time.time()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("fidelity", total=len(variants) * (len(seeds) + 1))

        def on_run(policy: str, kind: str, seed: int, metrics: TrainMetrics) -> None:
            progress.console.log(
                f"{policy:5s} {kind:9s} seed {seed}: top-1 {metrics.top1:5.1f}%  "
                f"{metrics.seconds:6.1f} s"
            )
            progress.advance(task)

        report = check_fidelity(
            args.dataset,
            args.data_root,
            args.model,
            variants,
            device=args.device,
            proxy=proxy,
            reference=reference,
            seeds=seeds,
            checkpoint_dir=args.out / "checkpoints",
            on_run=on_run,
        )
    meta = {
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "wall_s": time.time() - started,
        "threads": args.threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    cost = {}
    for policy in variants if args.cost_repeats > 0 else []:
        console.log(f"{policy}: interleaved one-epoch timings for the cost ratio")
        cost[policy] = interleaved_cost_ratio(
            args.dataset, args.model, policy, proxy, reference, args.cost_repeats
        )
    write_results(report, args.out, meta, cost)
    Console().print(fidelity_table(report))
    print((args.out / "fidelity.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
