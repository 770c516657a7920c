"""`gsearch worker`: one of many workers on a shared study (run's flags, one index more)."""

from __future__ import annotations

import argparse

from gsearch.cli.app import console, err_console
from gsearch.cli.run import _add_search_flags, run_config_from_args
from gsearch.cli.types import _worker_index
from gsearch.preflight import check_run


def _add_worker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker",
        help="optimise a shared study (PostgreSQL) as one of many workers",
        description="Join a study in an RDB storage and run its trials until it holds "
        "--trials complete ones. Start one per GPU, on as many hosts as you like; the "
        "first worker (or a `gsearch run`) fixes the study's space and settings.",
    )
    _add_search_flags(p, space_required=False)
    p.add_argument(
        "--worker-index",
        type=_worker_index,
        default=0,
        help="this worker's number: workers of one study draw different points",
    )
    p.add_argument("--config-json", help=argparse.SUPPRESS)  # local workers of `gsearch run`
    p.set_defaults(func=_cmd_worker)


def _cmd_worker(args: argparse.Namespace) -> int:
    from gsearch.search import run_worker

    config = run_config_from_args(args)
    storage = check_run(config)
    try:
        done = run_worker(config, storage)
    except KeyboardInterrupt:
        err_console.print("worker interrupted: its running trial is marked failed", highlight=False)
        return 130
    console.print(
        f"worker done: study {config.study!r} holds {done} complete trials", highlight=False
    )
    return 0
