"""`gsearch fidelity`: does the proxy rank group settings like longer training, on your data."""

from __future__ import annotations

import argparse

from gsearch import paths
from gsearch.cli.app import console, err_console
from gsearch.cli.types import (
    _check_device,
    _positive_int,
    _recipe_override,
    _seed_list,
    _text,
)
from gsearch.errors import GsearchError


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
    p.add_argument(
        "--seeds", type=_seed_list, default=(0, 1, 2), help="proxy seeds, comma separated"
    )
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

    seeds = list(args.seeds)
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
