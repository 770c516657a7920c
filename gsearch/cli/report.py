"""`gsearch report`: the Pareto front and all trials of a study as files."""

from __future__ import annotations

import argparse

from gsearch import paths
from gsearch.cli.app import console
from gsearch.cli.types import _add_storage, _text


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
