"""`gsearch table`: params and MACs of model variants (the paper's Tables III/IV)."""

from __future__ import annotations

import argparse

from rich.table import Table

from gsearch.cli.app import console
from gsearch.cli.types import _side_px, _text


def _add_table(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table",
        help="params and MACs of model variants (the paper's Tables III/IV)",
        description="Params (conv+linear, BN excluded, as the paper counts), params with BN, "
        "and MACs of a model under one or more group policies.",
    )
    p.add_argument(
        "--model", type=_text, default="mobilenet_v1", help="model name (default mobilenet_v1)"
    )
    p.add_argument(
        "--policy",
        action="append",
        type=_text,
        metavar="P",
        help="G=8, g=32, beta=0.5,gamma=1e4 or layers=1,2,...; repeatable "
        "(default: the paper's 11 variants)",
    )
    p.add_argument("--resolution", type=_side_px, default=224, help="input size, pixels")
    p.add_argument("--per-layer", action="store_true", help="one row per conv/linear layer")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=_cmd_table)


def _cmd_table(args: argparse.Namespace) -> int:
    from gsearch.paper import PAPER_POLICIES
    from gsearch.table import describe_variants, to_csv, to_json

    rows = describe_variants(
        args.model, args.policy or PAPER_POLICIES, args.resolution, per_layer=args.per_layer
    )
    if args.format == "json":
        print(to_json(rows))
        return 0
    if args.format == "csv":
        print(to_csv(rows), end="")
        return 0
    title = f"{args.model} at {args.resolution}x{args.resolution}"
    table = Table(title=title)
    for column in ("policy", "params (M)", "params+BN (M)", "MACs (M)"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for row in rows:
        c = row.counts
        table.add_row(
            row.policy,
            f"{c.params / 1e6:.3f}",
            f"{c.params_with_bn / 1e6:.3f}",
            f"{c.macs / 1e6:,.2f}",
        )
    console.print(table)
    for row in rows if args.per_layer else ():
        layers = Table(title=f"{row.model} {row.policy}: layers")
        for column in ("layer", "m", "n", "g", "G", "dk", "h", "w", "MACs", "params", "A", "AI"):
            layers.add_column(column, justify="left" if column == "layer" else "right")
        for layer in row.layers:
            layers.add_row(
                layer.name,
                *map(str, (layer.m, layer.n, layer.g, layer.G, layer.dk, layer.h, layer.w)),
                f"{layer.macs:,}",
                f"{layer.params:,}",
                f"{layer.activations:,}",
                f"{layer.ai:.2f}",
            )
        console.print(layers)
    return 0
