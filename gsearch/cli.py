"""The `gsearch` command: it parses, calls the library, and prints with rich.

Every failure the user can act on is a GsearchError: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import errno
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

from gsearch import __version__, paths
from gsearch.errors import GsearchError
from gsearch.limits import MAX_BATCH, MAX_CLASSES, MAX_RESOLUTION_PX, MAX_WORKER_INDEX
from gsearch.preflight import check_run

console = Console()
err_console = Console(stderr=True)

Command = Callable[[argparse.Namespace], int]
WINDOW_HELP = "window length, seconds (default 1; 0.3 with the time meter)"
WARMUP_HELP = "warm-up per network or layer, seconds (default 1; 0.3 with the time meter)"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise GsearchError(f"{self.prog}: {message}")


def _int_in(low: int, high: int | None, expected: str) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (``None``: no bound), named
    ``expected`` in its one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_positive_int = _int_in(1, None, "a positive integer")
# Values that pass their type but exceed any machine: bounds a user can read (limits.py).
_side_px = _int_in(1, MAX_RESOLUTION_PX, f"pixels from 1 to {MAX_RESOLUTION_PX}")
_batch = _int_in(1, MAX_BATCH, f"a batch of 1 to {MAX_BATCH} frames")
_classes = _int_in(1, MAX_CLASSES, f"1 to {MAX_CLASSES} classes")
_worker_index = _int_in(0, MAX_WORKER_INDEX, f"an integer from 0 to {MAX_WORKER_INDEX}")
# A seed Optuna's samplers and numpy accept.
_seed = _int_in(0, 2**32 - 1, "an integer from 0 to 4294967295")
_port = _int_in(1, 65535, "a port 1-65535")


def _finite_float(text: str, *, zero_allowed: bool) -> float:
    """A finite number > 0 (>= 0 where zero is allowed): ``nan`` and ``inf`` are refused."""
    bound = ">= 0" if zero_allowed else "> 0"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
        raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    return _finite_float(text, zero_allowed=False)


def _non_negative_float(text: str) -> float:
    """A warm-up may be none."""
    return _finite_float(text, zero_allowed=True)


def _text(text: str) -> str:
    """A non-empty value (an empty one would silently mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a value, got an empty string")
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"expected text without NUL characters, got {text!r}")
    return text


def _add_storage(p: argparse.ArgumentParser) -> None:
    help_text = f"Optuna storage URL (default {paths.DEFAULT_STORAGE_URL})"
    p.add_argument("--storage", type=_text, default=None, help=help_text)


# ---------------------------------------------------------------- table
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


# ---------------------------------------------------------------- run
def _add_search_flags(p: argparse.ArgumentParser, *, space_required: bool) -> None:
    p.add_argument(
        "--space",
        type=_text,
        required=space_required,
        help="e2gc, fggc, predicted, per_layer, paper, or a .toml path",
    )
    p.add_argument(
        "--model",
        action="append",
        type=_text,
        help="restrict to this model of the space (repeatable)",
    )
    p.add_argument("--dataset", type=_text, help="digits (default), imagenet, food101, synthetic")
    p.add_argument("--data-root", type=_text, help="folder of a dataset on disk")
    p.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="leave out (and count) unreadable images instead of stopping at the first",
    )
    p.add_argument("--fidelity", type=_text, help="proxy, full or ladder (default: the space's)")
    p.add_argument("--trials", type=_positive_int, help="complete trials the study should hold")
    p.add_argument(
        "--timeout", type=_positive_float, help="stop starting trials after this many seconds"
    )
    p.add_argument(
        "--sampler", type=_text, help="nsga2, tpe, gp, random or grid (default: the space's)"
    )
    _add_storage(p)
    p.add_argument("--study", type=_text, help="study name (default <space>-<dataset>-<fidelity>)")
    p.add_argument("--device", type=_text, help="cpu, cuda or cuda:N (default cuda if available)")
    p.add_argument(
        "--energy",
        default="auto",
        help="auto, nvml, rapl, time, model (the paper's Eq. 1 score) or predicted (from "
        "`gsearch calibrate`)",
    )
    p.add_argument(
        "--energy-budget", type=_positive_float, help="largest acceptable EPF (constraint)"
    )
    p.add_argument(
        "--epf-resolution",
        type=_side_px,
        help="input side at which EPF is measured (default: the space's, else the dataset's "
        "evaluation resolution, 224 for ImageNet and Food-101)",
    )
    p.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="of the EPF step"
    )
    p.add_argument(
        "--pass",
        dest="pass_",
        choices=("training", "inference"),
        help="what EPF measures: training (forward and backward, the paper's EPF; default) "
        "or inference (forward in eval mode, what a deployed network costs)",
    )
    p.add_argument(
        "--seed", type=_seed, default=0, help="the study's seed (training seeds derive from it)"
    )
    p.add_argument(
        "--seeds",
        type=_seed_list,
        help="training seeds per architecture, e.g. 0,1,2: top-1 is their median "
        "(default: the recipe's)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--heartbeat", type=_positive_int, default=10, help="seconds between trial heartbeats"
    )
    p.add_argument(
        "--grace",
        type=_positive_int,
        default=30,
        help="seconds without heartbeat before a trial counts as dead and is retried",
    )
    p.add_argument(
        "--recipe",
        action="append",
        type=_recipe_override,
        metavar="KEY=VALUE",
        help="change a field of the training recipe, e.g. epochs=1 (repeatable)",
    )


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="search a space: Optuna study of EPF vs. top-1 vs. params",
        description="Create or resume an Optuna study over a search space and print its "
        "Pareto front. With no other flag: digits, MobileNet-V1, proxy fidelity, auto energy.",
    )
    _add_search_flags(p, space_required=True)
    p.add_argument(
        "--workers",
        type=_positive_int,
        help="start K local worker processes on the study (default 1; with CUDA and no "
        "--device, one per visible GPU)",
    )
    p.set_defaults(func=_cmd_run)


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


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _recipe_override(text: str) -> tuple[str, str]:
    """``KEY=VALUE``, typed by the recipe field (gsearch.training.parse_recipe_value)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return seeds


def _check_device(device: str | None) -> str:
    """``--device`` resolved and checked (``auto``/unset: the first GPU, else the CPU)."""
    from gsearch.energy.select import resolve_device

    resolved = resolve_device(device or "auto")
    if device is None:  # the default keeps its spelling: a study pins its device string
        return "cuda" if resolved.type == "cuda" else "cpu"
    return device


def run_config_from_args(args: argparse.Namespace) -> Any:
    """A RunConfig from the run/worker flags and the space's defaults."""
    from gsearch.search import DEFAULT_STORAGE, RunConfig
    from gsearch.spaces import load_space
    from gsearch.training import get_recipe, parse_recipe_overrides

    if getattr(args, "config_json", None):
        from pathlib import Path

        text = Path(args.config_json).read_text()
        return RunConfig.from_json(
            text, device=_check_device(args.device), worker_index=args.worker_index, quiet=True
        )
    if not args.space:
        raise GsearchError(f"{args.command}: the following arguments are required: --space")
    space = load_space(args.space)
    dataset = args.dataset or space.defaults.dataset
    fidelity = args.fidelity or space.defaults.fidelity
    base = get_recipe("full" if fidelity == "full" else "proxy")
    return RunConfig(
        space=space,
        study=args.study or f"{space.name}-{dataset}-{fidelity}",
        storage=args.storage or DEFAULT_STORAGE,
        models=tuple(args.model or ()),
        dataset=dataset,
        data_root=args.data_root,
        fidelity=fidelity,
        trials=args.trials or space.defaults.trials,
        timeout_s=args.timeout,
        sampler=args.sampler or space.defaults.sampler,
        device=_check_device(args.device),
        energy=args.energy,
        energy_budget=args.energy_budget,
        seed=args.seed,
        worker_index=getattr(args, "worker_index", 0),
        seeds=args.seeds or (),
        epf_resolution=args.epf_resolution,
        precision=args.precision,
        pass_=args.pass_,
        recipe_overrides=parse_recipe_overrides(args.recipe or (), base),
        skip_corrupt=args.skip_corrupt,
        heartbeat_s=args.heartbeat,
        grace_s=args.grace,
        quiet=args.quiet,
    )


def _cmd_worker(args: argparse.Namespace) -> int:
    from gsearch.search import run_worker

    config = run_config_from_args(args)
    check_run(config)
    try:
        done = run_worker(config)
    except KeyboardInterrupt:
        err_console.print("worker interrupted: its running trial is marked failed", highlight=False)
        return 130
    console.print(
        f"worker done: study {config.study!r} holds {done} complete trials", highlight=False
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from gsearch.search import run_search
    from gsearch.workers import run_local_workers

    config = run_config_from_args(args)
    check_run(config)
    # An explicit device is one process there; only the default spreads over every GPU.
    explicit = args.device not in (None, "auto")
    every_gpu = config.device.startswith("cuda") and not explicit
    parallel = args.workers or (_gpu_count() if every_gpu else 1)
    if parallel > 1:
        if config.fidelity == "ladder":
            raise GsearchError(
                "--workers runs proxy or full studies; run the ladder with one worker"
            )
        try:
            run_local_workers(config, parallel)
        except KeyboardInterrupt:
            err_console.print("interrupted: finished trials are saved; run again to resume")
            return 130
        from gsearch.pareto import objective_names_of, pareto_front
        from gsearch.search import load_study
        from gsearch.search.loop import measure_front_again

        study, _ = load_study(config.storage, config.study)
        front = pareto_front(study)
        if not front:
            return _no_complete_trial([study])
        measure_front_again(config, study)
        _print_front(study, objective_names_of(study))
        _print_failures([study])
        return 0
    try:
        result = run_search(config)
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted: finished trials are saved in study {config.study!r}; "
            "run the same command again to resume",
            highlight=False,
        )
        return 130
    study = result.full_study or result.study
    stages = [result.study, *([result.full_study] if result.full_study else [])]
    if not result.front:
        return _no_complete_trial(stages)
    _print_front(study, result.objective_names)
    _print_failures(stages)
    console.print(
        f"report: gsearch report --study '{study.study_name}' --storage {_redact(config.storage)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    return 0


def _print_failures(studies: Sequence[Any]) -> None:
    """How many trials failed and why, under the front (gsearch.search.failures)."""
    from gsearch.search.failures import failure_lines

    for study in studies:
        for line in failure_lines(study):
            console.print(line, highlight=False, markup=False, soft_wrap=True)


def _no_complete_trial(studies: Sequence[Any]) -> int:
    """A run that ended without a front: its failures, one line of what to do, exit 1."""
    from gsearch.search.failures import failure_lines

    for study in studies:
        for line in failure_lines(study):
            err_console.print(line, highlight=False, markup=False, soft_wrap=True)
    _print_error(
        f"study {studies[-1].study_name!r} holds no complete trial to show: its trials failed "
        "(above); a rerun does not repeat them: run more --trials, or change what made "
        "them fail (space, batch, resolution, device) under another --study"
    )
    return 1


def _print_front(study: Any, names: tuple[str, str, str]) -> None:
    """The front as every output shows it: decided from the joint measurement at the end
    of the run where the study holds one (:func:`gsearch.report.front.final_front`)."""
    from gsearch.report.front import final_front

    final = final_front(study)
    front = final.front
    table = Table(title=f"Pareto front of {study.study_name} ({len(front)} trials)\n{final.note}")
    timed = names[0].endswith("ms_per_frame")  # the objective is already ms per frame
    columns = ["trial", "model", "policy", names[0], names[1], names[2]]
    for column in columns if timed else [*columns, "ms/frame"]:
        table.add_column(column, justify="left" if column in ("model", "policy") else "right")
    for trial in front:  # sorted by the EPF shown
        epf, top1, params = trial.values
        attrs = trial.user_attrs
        low, high = attrs.get("epf_low"), attrs.get("epf_high")
        interval = ""
        if low is not None and high is not None and high > low and epf:
            interval = f" ({low:.4g}-{high:.4g})"
        ms = attrs.get("ms_per_frame")
        table.add_row(
            str(trial.number),
            str(attrs.get("model")),
            str(attrs.get("policy")),
            f"{epf:.4g}{interval}",
            f"{top1:.2f}",
            f"{params:.3f}",
            *([] if timed else ["" if ms is None else f"{ms:.3f}"]),
        )
    console.print(table)
    for note in _front_notes(final):
        console.print(note, style="dim", highlight=False, markup=False, soft_wrap=True)


def _front_notes(final: Any) -> list[str]:
    """What the front's point values cannot say by themselves: the trials that the
    measurements cannot separate from it, and a top-1 that comes from one seed."""
    notes = []
    if final.ties:
        by_number = {t.number: t for t in final.trials}
        named = ", ".join(
            f"{by_number[n].user_attrs.get('policy')} (trial {n})" for n in sorted(final.ties)
        )
        notes.append(
            f"not separated from the front by their measurements: {named} "
            "(gsearch report marks them)"
        )
    front = final.front
    if front and all(len(t.user_attrs.get("top1_seeds") or ()) <= 1 for t in front):
        # One seed gives no spread: on the digits proxy another seed (or another CPU's
        # kernels) moves top-1 by up to 2 points (BENCHMARKS.md, "Proxy fidelity").
        notes.append(
            "top1 comes from one training seed: differences smaller than the seed spread "
            "do not rank trials; --seeds 0,1,2 measures that spread"
        )
    return notes


# ---------------------------------------------------------------- fidelity
def _add_fidelity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fidelity",
        help="check on your data that the proxy ranks group settings like longer training",
        description="Train a sample of policies with the proxy (several seeds) and with a "
        "longer reference run, and report seed spread, proxy-vs-reference gap and the "
        "Kendall tau of the two rankings: trust the proxy before a long search.",
    )
    p.add_argument(
        "--dataset", type=_text, default="digits", help="digits (default), imagenet, food101"
    )
    p.add_argument("--data-root", type=_text, help="folder of a dataset on disk")
    p.add_argument("--model", type=_text, default="mobilenet_v1")
    p.add_argument(
        "--space",
        type=_text,
        help="sample the policies from this space (default: 5 of the paper's)",
    )
    p.add_argument(
        "--sample", type=_positive_int, default=5, help="policies to check (with --space)"
    )
    p.add_argument("--seeds", default="0,1,2", help="proxy seeds, comma separated")
    p.add_argument("--reference-epochs", type=_positive_int, help="epochs of the reference run")
    p.add_argument(
        "--recipe",
        action="append",
        type=_recipe_override,
        metavar="KEY=VALUE",
        help="change a field of the proxy recipe under test, e.g. epochs=3 (repeatable)",
    )
    p.add_argument("--device", help="cpu, cuda or cuda:N (default cuda if available)")
    p.add_argument(
        "--checkpoints", type=_text, default=str(paths.FIDELITY_DIR), help="resume folder"
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=_cmd_fidelity)


def _sample_policies(space_name: str, model: str, count: int) -> list[str]:
    """Up to ``count`` policies spread over a space's values (random ones where continuous)."""
    import optuna

    from gsearch.spaces import load_space

    space = load_space(space_name)
    if model not in space.models:
        raise GsearchError(f"model {model!r} is not in search space {space.name}")
    values = space.policy_kind.policy_strings(space.choices(model, 224))
    if values is not None:  # a finite list of whole policies: spread over it
        step = max(1, len(values) / count)
        return [values[int(i * step)] for i in range(min(count, len(values)))]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    policies: list[str] = []
    for _ in range(count):
        trial = study.ask()
        policies.append(str(space.suggest(trial, 224)[1]))
        study.tell(trial, 0.0)
    return policies


def _cmd_fidelity(args: argparse.Namespace) -> int:
    import json

    from gsearch.fidelity import check_fidelity, fidelity_table, reference_recipe
    from gsearch.progress import progress_bar
    from gsearch.training import get_recipe

    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise GsearchError(
            f"--seeds: expected integers separated by commas, got {args.seeds!r}"
        ) from None
    from gsearch.data import check_data_root
    from gsearch.models import layer_specs
    from gsearch.policies import fits, parse_policy
    from gsearch.preflight import check_output_folder

    check_output_folder(args.checkpoints, "--checkpoints")
    check_data_root(args.dataset, args.data_root)
    specs = layer_specs(args.model)
    if args.space:
        policies = _sample_policies(args.space, args.model, args.sample)
    else:
        from gsearch.paper import PAPER_SAMPLE

        # Five of the paper's variants, those that fit this model.
        policies = [p for p in PAPER_SAMPLE if fits(parse_policy(p), specs)][:5]
    for text in policies:
        parse_policy(text).groups(specs)  # fail now, not after hours of training
    from gsearch.training import PROXY, parse_recipe_overrides

    proxy = get_recipe("proxy", **parse_recipe_overrides(args.recipe or (), PROXY))
    reference = reference_recipe(proxy, args.reference_epochs) if args.reference_epochs else None
    quiet = args.format == "json"
    with progress_bar(console=err_console, quiet=quiet, count=True, transient=True) as progress:
        task = progress.add_task("proxy and reference runs", total=len(policies) * (len(seeds) + 1))
        report = check_fidelity(
            args.dataset,
            args.data_root,
            args.model,
            policies,
            device=_check_device(args.device),
            proxy=proxy,
            reference=reference,
            seeds=seeds,
            checkpoint_dir=args.checkpoints,
            on_run=lambda *_: progress.advance(task),
        )
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return 0
    console.print(fidelity_table(report))
    tau = "undefined" if report.kendall_tau is None else f"{report.kendall_tau:.2f}"
    note = (
        ""
        if report.tau_meaningful
        else (
            f" (not meaningful: the reference spread, {report.reference_spread_top1:.2f} "
            f"points, is within one validation image, {report.one_image_points:.2f} points)"
        )
    )
    console.print(
        f"Kendall tau {tau}{note}; worst seed spread {report.max_seed_spread:.1f} points; "
        f"worst gap {report.max_abs_gap:.1f} points; "
        f"proxy cost {report.cost_ratio:.2f} x reference",
        highlight=False,
    )
    return 0


# ---------------------------------------------------------------- report and dashboard
def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write the Pareto front and all trials: csv, json, md, html, png"
    )
    p.add_argument(
        "--study", type=_text, help="study name (default: the only study in the storage)"
    )
    _add_storage(p)
    p.add_argument("--out", type=_text, help=f"output folder (default {paths.REPORTS_DIR}/<study>)")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from gsearch.report import write_report
    from gsearch.storage import open_existing_study, refuse_memory_storage

    url = args.storage
    if url is None:
        from gsearch.paths import DEFAULT_STORAGE_URL as DEFAULT_STORAGE

        url = DEFAULT_STORAGE
    refuse_memory_storage(url, shows="there is no study in it to report")
    if args.out is not None:
        paths.check_path(args.out, "--out")
    study, facts = open_existing_study(url, args.study)
    if args.out is None:  # the study's name (typed, or the storage's only one) is a folder
        hint = "pass --out FOLDER"
        paths.check_folder_name(study.study_name, "study name", paths.REPORTS_DIR, hint=hint)
    out = args.out or str(paths.report_dir(study.study_name))
    files = write_report(study, out, facts)
    console.print(
        f"{files.trials} trials, {files.front_size} on the Pareto front and {files.tied} tied "
        f"with it -> {files.folder}/report.html ({', '.join(p.name for p in files.files)})",
        highlight=False,
    )
    return 0


def _add_dashboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="open optuna-dashboard on the same storage")
    _add_storage(p)
    p.add_argument("--host", type=_text, default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8080)
    p.set_defaults(func=_cmd_dashboard)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from optuna_dashboard import run_server

    from gsearch.paths import DEFAULT_STORAGE_URL as DEFAULT_STORAGE
    from gsearch.storage import open_storage, refuse_memory_storage

    url = args.storage or DEFAULT_STORAGE
    refuse_memory_storage(url, shows="the dashboard would show no study")
    storage = open_storage(url, heartbeat_interval=None, create=False)
    _check_bind(args.host, args.port)
    console.print(f"optuna-dashboard on http://{args.host}:{args.port} (Ctrl-C stops)")
    try:
        run_server(storage, host=args.host, port=args.port)
    except OSError as error:  # lost the address between the check and the server's bind
        raise GsearchError(f"cannot serve on {args.host}:{args.port}: {error.strerror}") from None
    return 0


def _check_bind(host: str, port: int) -> None:
    """Bind ``host:port`` once (and let go) so that a bad address is one line before
    the server starts."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise GsearchError(f"cannot resolve --host {host!r}: {error}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            hint = (
                "another program listens there: pass another --port"
                if error.errno == errno.EADDRINUSE
                else "pass an address of this machine as --host, or another --port"
            )
            raise GsearchError(
                f"cannot listen on {host}:{port}: {error.strerror}; {hint}"
            ) from None


# ---------------------------------------------------------------- profile
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
    p.add_argument("--repeats", type=_positive_int, default=5, help="windows per row")
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
    p.add_argument("--window", type=_positive_float, default=None, help=WINDOW_HELP)
    p.add_argument("--warmup", type=_non_negative_float, default=None, help=WARMUP_HELP)
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


# ---------------------------------------------------------------- calibrate
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
    p.add_argument("--repeats", type=_positive_int, default=5, help="windows per entry")
    p.add_argument("--window", type=_positive_float, default=None, help=WINDOW_HELP)
    p.add_argument("--warmup", type=_non_negative_float, default=None, help=WARMUP_HELP)
    p.add_argument("--cache-dir", default=str(paths.CACHE_DIR), help="cache folder")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV to PATH")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from gsearch.calibration_plan import calibration_target
    from gsearch.energy.calibrate import calibrate, write_csv
    from gsearch.energy.epf import default_protocol, open_session
    from gsearch.energy.meter_lock import hold_meter
    from gsearch.energy.steps import StepConfig
    from gsearch.preflight import check_output_folder
    from gsearch.progress import progress_bar
    from gsearch.spaces import load_space

    # What it writes, checked before minutes of measuring: nothing is made yet.
    check_output_folder(args.cache_dir, "--cache-dir")
    if args.csv:
        paths.check_path(args.csv, "--csv")
        check_output_folder(os.path.dirname(args.csv) or ".", "--csv's folder")
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
    for add in (
        _add_run,
        _add_worker,
        _add_fidelity,
        _add_report,
        _add_dashboard,
        _add_table,
        _add_profile,
        _add_calibrate,
    ):
        add(sub)
    return parser


def _quiet_optuna() -> None:
    """Our progress display and one-line errors replace Optuna's log lines and warnings."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


class _StderrLines(logging.Handler):
    """The library's log records as plain lines on the stderr of the moment (under a
    progress bar, rich redirects it above the bar)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never take the command down
            self.handleError(record)


def _show_library_logs(quiet: bool) -> None:
    """The library logs (``logging``); the CLI decides what of it a user sees."""
    logger = logging.getLogger("gsearch")
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input or unavailable resource)."""
    _quiet_optuna()
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        _show_library_logs(quiet=bool(getattr(args, "quiet", False)))
        func: Command = args.func
        return func(args)
    except GsearchError as error:
        _print_error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        return 130
    except Exception as error:
        known = _out_of_memory(error, args) or _known_failure(
            error, getattr(args, "storage", None) if args else None
        )
        if known is None:
            raise  # a bug: its traceback is what a report needs
        _print_error(str(known))
        return known.exit_code


def _redact(text: str) -> str:
    from gsearch.storage import redact

    return redact(text)


def _print_error(message: str) -> None:
    """``error: <message>`` as plain text on one line, with every URL's password hidden."""
    line = " ".join(_redact(message).split())
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


# What to lower when a command's step does not fit in memory.
_MEMORY_SETTINGS = {
    "profile": "--batch, --resolution or --num-classes",
    "calibrate": "--batch, --resolution or --num-classes",
    "table": "--resolution",
    "fidelity": "--recipe batch_size or --recipe resolution",
}
_SEARCH_MEMORY = "the space's epf_batch_sizes, --epf-resolution or --recipe batch_size/resolution"


def _out_of_memory(error: Exception, args: argparse.Namespace | None) -> GsearchError | None:
    """An out-of-memory error of torch (CUDA or host) as one line naming what to lower."""
    from gsearch.energy.steps import describe, is_out_of_memory
    from gsearch.errors import OutOfMemory

    if not is_out_of_memory(error):
        return None
    command = getattr(args, "command", None)
    lower = _MEMORY_SETTINGS.get(str(command), _SEARCH_MEMORY)
    return OutOfMemory(f"gsearch {command}: out of memory ({describe(error)}): lower {lower}")


def _known_failure(error: Exception, storage_url: str | None) -> GsearchError | None:
    """The one-line error for a failure of the machine, not of gsearch: a full disk, a
    storage that is locked, read-only or gone."""
    import sqlite3

    import optuna
    import sqlalchemy.exc

    from gsearch.paths import DEFAULT_STORAGE_URL as DEFAULT_STORAGE
    from gsearch.storage import storage_error, storage_fault

    url = storage_url or DEFAULT_STORAGE
    fault = storage_fault(error, url)
    if fault is not None:
        return fault
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        where = f" writing {error.filename}" if error.filename else ""
        return GsearchError(f"no space left on device{where}: free space")
    storage_errors = (
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,
        optuna.exceptions.StorageInternalError,
    )
    if isinstance(error, storage_errors):
        return storage_error(error, url)
    return None


if __name__ == "__main__":
    sys.exit(main())
