"""`gsearch profile`: energy per frame of model variants on this device, or its share by layer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.table import Table

from gsearch import paths
from gsearch.cli.app import console, err_console
from gsearch.cli.types import (
    WARMUP_HELP,
    WINDOW_HELP,
    _classes,
    _repeats,
    _side_px,
    _text,
    _warmup_s,
    _window_s,
)


def _add_profile(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="measure energy per frame (EPF) of model variants on this device",
        description="EPF of one training step (forward, loss, backward) per frame, with a "
        "order-statistic interval over interleaved repeats, ms per frame, power and dynamic EPF. "
        "Results are cached under --cache-dir.",
    )
    p.add_argument(
        "--model", type=_text, default="mobilenet_v1", help="model name (default mobilenet_v1)"
    )
    p.add_argument(
        "--policy", action="append", type=_text, metavar="P", help="G=8, g=32, ...; repeatable"
    )
    p.add_argument("--batch", default="1", help="batch sizes, comma separated (default 1)")
    p.add_argument(
        "--paper", action="store_true", help="the paper's 11 variants, with its P100/P4000 EPF"
    )
    p.add_argument("--device", default="auto", help="cuda:N, cpu or auto (default)")
    p.add_argument(
        "--energy",
        choices=("auto", "nvml", "rapl", "time", "model", "predicted"),
        default="auto",
        help="auto: nvml on a GPU, rapl where readable, else time (ms per frame); model: the "
        "paper's Eq. 1 score (monotone in g, not energy); predicted: from `gsearch calibrate`",
    )
    p.add_argument(
        "--pass",
        dest="pass_",
        choices=("training", "inference"),
        help="training (forward+backward, the paper's EPF; default) or inference (forward, "
        "eval mode); --paper without --pass shows both",
    )
    p.add_argument(
        "--per-layer",
        action="store_true",
        help="each grouped layer's share of EPF (from the calibration) beside its MACs share "
        "and arithmetic intensity",
    )
    p.add_argument(
        "--formulation", choices=("sum", "anchor", "scaled"), help="predictor formulation"
    )
    p.add_argument("--repeats", type=_repeats, default=5, help="windows per row")
    p.add_argument("--resolution", type=_side_px, default=224, help="input size, pixels")
    p.add_argument(
        "--num-classes",
        type=_classes,
        default=1000,
        help="classifier size (a search measures at its dataset's: 10 for digits)",
    )
    p.add_argument("--eager", action="store_true", help="eager steps instead of a CUDA graph")
    p.add_argument("--reference", action="store_true", help="one 20 s window per row")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--window", type=_window_s, default=None, help=WINDOW_HELP)
    p.add_argument("--warmup", type=_warmup_s, default=None, help=WARMUP_HELP)
    p.add_argument("--cache-dir", type=_text, default=str(paths.CACHE_DIR), help="cache folder")
    p.add_argument("--no-cache", action="store_true", help="measure even if cached")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=_cmd_profile)


class _HeldLog:
    """Progress lines of `profile`: the session's opening lines (the energy source) are held
    until the first row is measured, so that an error before any work is the only line."""

    def __init__(self) -> None:
        self.held: list[str] = []

    def __call__(self, line: str) -> None:
        if line.startswith("energy source"):
            self.held.append(line)
            return
        for held in self.held:
            _print_stderr(held)
        self.held.clear()
        _print_stderr(line)


def _print_stderr(line: str) -> None:
    err_console.print(line, highlight=False, markup=False, soft_wrap=True)


def _cmd_profile(args: argparse.Namespace) -> int:
    from gsearch.preflight import check_output_folder
    from gsearch.profile import parse_batches, profile, render_table, to_csv, to_json

    batches = parse_batches(args.batch)
    if not args.no_cache:
        check_output_folder(args.cache_dir, "--cache-dir")
    if args.per_layer:
        return _print_layer_shares(args, batches)
    log = _HeldLog()
    report = profile(
        args.model,
        args.policy,
        batches,
        paper=args.paper,
        device=args.device,
        energy=args.energy,
        repeats=args.repeats,
        resolution=args.resolution,
        num_classes=args.num_classes,
        eager=args.eager,
        reference=args.reference,
        precision=args.precision,
        channels_last=args.channels_last,
        window_s=args.window,
        warmup_s=args.warmup,
        cache_dir=None if args.no_cache else args.cache_dir,
        log=log,
        passes=[args.pass_] if args.pass_ else None,
        formulation=args.formulation,
        calibration_dir=args.cache_dir,
    )
    if args.format == "json":
        print(to_json(report))
    elif args.format == "csv":
        print(to_csv(report), end="")
    else:
        console.print(render_table(report))
    return 0


def _print_layer_shares(args: argparse.Namespace, batches: Sequence[int]) -> int:
    """``profile --per-layer``: where the EPF goes, layer by layer, from the calibration."""
    import json

    from gsearch.calibration_plan import layer_breakdown
    from gsearch.energy.calibrate import load_calibration
    from gsearch.energy.epf import open_session
    from gsearch.energy.predict import DEFAULT_FORMULATION

    with open_session(args.device, "auto") as session:
        facts, source = session.facts, session.source
    formulation = args.formulation or DEFAULT_FORMULATION
    dumped = []
    for batch in batches:
        calibration = load_calibration(
            args.cache_dir,
            args.model,
            facts,
            batch=batch,
            resolution=args.resolution,
            precision=args.precision,
            pass_=args.pass_ or "training",
            source=source,
            num_classes=args.num_classes,
            mode="eager" if args.eager else "graph",
            channels_last=args.channels_last,
        )
        for policy in args.policy or [None]:
            prediction, shares = layer_breakdown(
                args.model,
                policy,
                calibration,
                resolution=args.resolution,
                formulation=formulation,
            )
            label = policy or "default policy"
            if args.format != "table":
                dumped += [
                    {"policy": label, "batch": batch, "unit": prediction.unit, **vars(s)}
                    for s in shares
                ]
                continue
            table = Table(
                title=f"{args.model} {label} B={batch}: predicted {prediction.epf:.4g} "
                f"{prediction.unit}/frame ({prediction.source}, {formulation})",
                caption=f"calibration {calibration.path}",
            )
            for column in (
                "layer",
                "m",
                "g",
                "G",
                prediction.unit,
                "EPF share",
                "MACs share",
                "AI",
            ):
                table.add_column(column, justify="left" if column == "layer" else "right")
            for s in shares:
                table.add_row(
                    s.name,
                    str(s.m),
                    str(s.g),
                    str(s.G),
                    f"{s.epf:.4g}",
                    f"{100 * s.epf_share:.1f}%",
                    f"{100 * s.macs_share:.1f}%",
                    f"{s.ai:.2f}",
                )
            console.print(table)
    if args.format == "json":
        print(json.dumps(dumped, indent=2))
    elif args.format == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(dumped[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(dumped)
    return 0
