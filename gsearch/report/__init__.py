"""Reports of a study: the interactive page, files for machines, PNGs for papers.

``write_report(study, out_dir, facts)`` writes into ``out_dir``:

* ``report.html``: one offline page: the study's facts and its front in human units,
  the three projections (interactive, error bars, hover text, legend groups, the
  paper's variants for reference), every trial; sortable tables;
* ``trials.csv``: every complete trial, with ``pareto``, ``tied`` and ``tied_with``;
* ``pareto.csv``, ``pareto.md``: the Pareto front, then the trials tied with it
  (``pareto`` tells them apart; the front itself is exactly the non-dominated trials);
* ``report.json``: the objectives, the study's facts, the front, the tied trials and
  every trial;
* ``pareto_<x>_<y>.png``: the three projections, titled in words.

"Tied with the front" is defined in :mod:`gsearch.report.ties`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from gsearch.errors import GsearchError
from gsearch.report.files import AtomicWriter, prepare_folder
from gsearch.report.labels import objectives_of, projections_of
from gsearch.report.paper_refs import paper_variants
from gsearch.report.tables import human_table, to_csv, to_markdown, to_records, trial_rows
from gsearch.report.ties import TIE_RULE

__all__ = ["ReportFiles", "trial_rows", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """Paths of the files :func:`write_report` wrote, and what they hold."""

    folder: Path
    files: tuple[Path, ...]
    front_size: int
    tied: int
    trials: int


def write_report(
    study: optuna.Study, out_dir: str | Path, facts: dict[str, Any] | None = None
) -> ReportFiles:
    """Write the study's report to ``out_dir`` (created if missing).

    Args:
        study: The study to report.
        out_dir: Folder for the files.
        facts: The study's recorded facts (energy source, device, dataset, fidelity...).

    Raises:
        GsearchError: The study has no complete trial (nothing is written then), or the
            folder cannot be created or written.
    """
    from gsearch.report.page import render_page  # plotly: only once there is a page to draw
    from gsearch.report.plots import projection_png  # matplotlib, likewise

    facts = dict(facts or {})
    trials = study.get_trials(deepcopy=False)  # read once: a database query each time
    frame = trial_rows(study, trials)
    if frame.empty:
        raise GsearchError(
            f"study {study.study_name!r} has no complete trial to report yet: "
            "run trials first (gsearch run)"
        )
    prepare_folder(Path(out_dir))
    objectives = objectives_of(study)
    dataset = facts.get("dataset") or next(iter(frame["dataset"].dropna()), None)
    models = [m for m in dict.fromkeys(frame["model"].dropna()) if isinstance(m, str)]
    paper = [v for v in (paper_variants(m, dataset) for m in models) if v]
    paper_visible = any(v[0].dataset == dataset for v in paper)

    front = frame[frame["pareto"]]
    tied = frame[frame["tied"]]
    writer = AtomicWriter(Path(out_dir))
    writer.write("trials.csv", to_csv(frame))
    writer.write("pareto.csv", to_csv(frame[frame["pareto"] | frame["tied"]]))
    titles, rows = human_table(front, objectives)
    tied_titles, tied_rows = human_table(tied, objectives)
    markdown = f"# Pareto front of {study.study_name}\n\n" + to_markdown(titles, rows)
    if not tied.empty:
        markdown += f"\n## Tied with the front\n\n{TIE_RULE}\n\n" + to_markdown(
            tied_titles, tied_rows
        )
    writer.write("pareto.md", markdown)
    document = {
        "study": study.study_name,
        "objectives": [
            {"name": o.name, "direction": o.direction.name.lower(), "title": o.title}
            for o in objectives
        ],
        "facts": facts,
        "tie_rule": TIE_RULE,
        "pareto": to_records(front),
        "tied": to_records(tied),
        "trials": to_records(frame),
    }
    writer.write("report.json", json.dumps(document, indent=2, default=str))
    for projection in projections_of(objectives):
        writer.write(projection.file_name, projection_png(frame, projection, study.study_name))
    writer.write(
        "report.html", render_page(study, trials, frame, objectives, facts, paper, paper_visible)
    )
    return ReportFiles(Path(out_dir), tuple(writer.written), len(front), len(tied), len(frame))
