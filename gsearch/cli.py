"""The `gsearch` command: it parses, calls the library, and prints with rich.

Every failure the user can act on is a GsearchError: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from gsearch import __version__
from gsearch.errors import GsearchError

console = Console()
err_console = Console(stderr=True)

Command = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise GsearchError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


# ---------------------------------------------------------------- table
def _add_table(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table",
        help="params and MACs of model variants (the paper's Tables III/IV)",
        description="Params (conv+linear, BN excluded, as the paper counts), params with BN, "
        "and MACs of a model under one or more group policies.",
    )
    p.add_argument("--model", default="mobilenet_v1", help="model name (default mobilenet_v1)")
    p.add_argument(
        "--policy",
        action="append",
        metavar="P",
        help="G=8, g=32, beta=0.5,gamma=1e4 or layers=1,2,...; repeatable "
        "(default: the paper's 11 variants)",
    )
    p.add_argument("--resolution", type=_positive_int, default=224, help="input size, pixels")
    p.add_argument("--per-layer", action="store_true", help="one row per conv/linear layer")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=_cmd_table)


def _cmd_table(args: argparse.Namespace) -> int:
    from gsearch.table import PAPER_POLICIES, describe_variants, to_csv, to_json

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


# ---------------------------------------------------------------- parser and entry point
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gsearch",
        description="Search group-convolution settings for energy per frame, accuracy "
        "and parameters on your own GPU.",
    )
    parser.add_argument("--version", action="version", version=f"gsearch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_table,):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input or unavailable resource)."""
    try:
        args = build_parser().parse_args(argv)
        func: Command = args.func
        return func(args)
    except GsearchError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return error.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
