"""`gsearch run`: a search, in one process or local workers, and the front it prints."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from gsearch.cli.app import _print_error, _redact, console, err_console
from gsearch.cli.types import (
    _add_storage,
    _check_device,
    _positive_float,
    _positive_int,
    _recipe_override,
    _seed,
    _seed_list,
    _side_px,
    _text,
)
from gsearch.errors import ConfigError, GsearchError
from gsearch.preflight import check_run


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


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_config_from_args(args: argparse.Namespace) -> Any:
    """A RunConfig from the run/worker flags and the space's defaults."""
    from gsearch.search import DEFAULT_STORAGE, RunConfig
    from gsearch.spaces import load_space
    from gsearch.training import get_recipe, parse_recipe_overrides

    if getattr(args, "config_json", None):
        from pathlib import Path

        from gsearch.preflight import check_input_file

        check_input_file(args.config_json, "--config-json")
        try:
            return RunConfig.from_json(
                Path(args.config_json).read_text(),
                device=_check_device(args.device),
                worker_index=args.worker_index,
                quiet=True,
            )
        except (ValueError, KeyError, TypeError) as error:  # not what `run --workers` wrote
            raise ConfigError(
                f"--config-json {args.config_json} is not a run's settings as `gsearch run "
                f"--workers` writes them ({type(error).__name__}: {error}); start a worker "
                "with `gsearch worker --space ...` instead"
            ) from None
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


def _cmd_run(args: argparse.Namespace) -> int:
    from gsearch.search import run_search
    from gsearch.workers import check_local_workers, run_local_workers

    config = run_config_from_args(args)
    if args.workers:
        check_local_workers(args.workers, config.device)
    storage = check_run(config)  # opened once here, passed on
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
            run_local_workers(config, parallel, storage)
        except KeyboardInterrupt:
            err_console.print("interrupted: finished trials are saved; run again to resume")
            return 130
        import optuna

        from gsearch.pareto import objective_names_of, pareto_front
        from gsearch.search.loop import measure_front_again

        study = optuna.load_study(study_name=config.study, storage=storage.get())
        front = pareto_front(study)
        if not front:
            return _no_complete_trial([study])
        measure_front_again(config, study)
        _print_front(study, objective_names_of(study))
        _print_failures([study])
        return 0
    try:
        result = run_search(config, storage)
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
