"""`gsearch calibrate`: every grouped layer a space can produce, measured on this device."""

from __future__ import annotations

import argparse
from typing import Any

from gsearch import paths
from gsearch.cli.app import console, err_console
from gsearch.cli.types import (
    WARMUP_HELP,
    WINDOW_HELP,
    _batch,
    _classes,
    _repeats,
    _side_px,
    _text,
    _warmup_s,
    _window_s,
)
from gsearch.errors import GsearchError


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="measure every grouped layer a space can produce, on this device",
        description="Measure, with the EPF protocol, each distinct grouped layer (channels, "
        "kernel, stride, map size, groups) that --space can produce, alone, plus the network "
        "without them and the network under its own policy: the table `--energy predicted` "
        "uses. Stored under --cache-dir/calibration/ keyed by device, software, batch, "
        "resolution, precision and pass; an interrupted run resumes.",
    )
    p.add_argument("--model", default="mobilenet_v1", help="model name (default mobilenet_v1)")
    p.add_argument("--space", help="the space to cover (default: every valid g of every layer)")
    p.add_argument("--device", default="auto", help="cuda:N, cpu or auto (default)")
    p.add_argument("--energy", choices=("auto", "nvml", "rapl", "time"), default="auto")
    p.add_argument("--batch", type=_batch, default=16, help="frames per step (default 16)")
    p.add_argument("--resolution", type=_side_px, default=224, help="input size, pixels")
    p.add_argument("--pass", dest="pass_", choices=("training", "inference"), default="training")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    p.add_argument(
        "--num-classes",
        type=_classes,
        default=10,
        help="classifier size of the networks calibrated: the dataset searched (default 10, "
        "digits; 1000 for imagenet, 101 for food101)",
    )
    p.add_argument("--eager", action="store_true", help="eager steps instead of a CUDA graph")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--repeats", type=_repeats, default=5, help="windows per entry")
    p.add_argument("--window", type=_window_s, default=None, help=WINDOW_HELP)
    p.add_argument("--warmup", type=_warmup_s, default=None, help=WARMUP_HELP)
    p.add_argument("--cache-dir", default=str(paths.CACHE_DIR), help="cache folder")
    p.add_argument("--csv", type=_text, metavar="PATH", help="also write the table as CSV to PATH")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from gsearch.calibration_plan import calibration_target
    from gsearch.energy.calibrate import calibrate, write_csv
    from gsearch.energy.epf import default_protocol, open_session
    from gsearch.energy.meter_lock import hold_meter
    from gsearch.energy.steps import StepConfig
    from gsearch.preflight import check_output_file, check_output_folder
    from gsearch.progress import progress_bar
    from gsearch.spaces import load_space

    # What it writes, checked before minutes of measuring: nothing is made yet.
    check_output_folder(args.cache_dir, "--cache-dir")
    if args.csv is not None:
        check_output_file(args.csv, "--csv")
    space = load_space(args.space) if args.space else None
    if space is not None and args.model not in space.models:
        raise GsearchError(
            f"model {args.model!r} is not in search space {space.name} "
            f"(it holds {', '.join(space.models)})"
        )
    target = calibration_target(
        args.model, space, resolution=args.resolution, num_classes=args.num_classes
    )
    overrides: dict[str, Any] = {"repeats": args.repeats}
    if args.window is not None:
        overrides["window_s"] = args.window
    if args.warmup is not None:
        overrides["warmup_s"] = args.warmup
    step = StepConfig(
        batch=args.batch,
        resolution=args.resolution,
        precision=args.precision,
        pass_=args.pass_,
        channels_last=args.channels_last,
        mode="eager" if args.eager else "graph",
    )
    with (
        open_session(args.device, args.energy) as session,
        hold_meter(session),  # before the first reading: idle power is one
        progress_bar(quiet=args.quiet, console=err_console, count=True) as progress,
    ):
        err_console.print(
            f"energy source: {session.source} ({session.choice.reason})", highlight=False
        )
        task = progress.add_task(f"calibrating {args.model}", total=None)
        protocol = default_protocol(session.source, **overrides)

        def advance(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=f"{what}")

        calibration = calibrate(
            session, target, step, protocol, directory=args.cache_dir, progress=advance
        )
    if args.csv:
        try:
            write_csv(calibration, args.csv)
        except GsearchError as error:  # the calibration itself is stored: only the copy failed
            raise GsearchError(f"{error}: pass another --csv") from None
    console.print(
        f"{args.model}: {len(calibration.layers)} layers and {len(calibration.networks)} "
        f"networks in {calibration.unit}/frame ({calibration.source}, {args.pass_}, "
        f"B={args.batch}, {args.resolution} px), {calibration.device_s:.0f} device s "
        f"-> {calibration.path}",
        highlight=False,
    )
    return 0
