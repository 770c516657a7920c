"""Pareto reports of a study: CSV, JSON, Markdown, one self-contained HTML page and PNG plots.

``write_report(study, out_dir)`` writes:

* ``trials.csv``: every complete trial, one row each, with a ``pareto`` column;
* ``pareto.csv``, ``pareto.md``: exactly the non-dominated feasible trials;
* ``report.json``: the study's objectives and system attributes, the front and all trials;
* ``pareto_<x>_<y>.png`` (three 2-D projections) and ``pareto_3d.png``;
* ``report.html``: the tables and the plots in one file (images inlined), to mail or open.

Every file is written to a temporary name and renamed into place, so a failure never
leaves a half-written report.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from gsearch.errors import GsearchError
from gsearch.pareto import feasible, finished, objective_names_of, pareto_front

COLUMNS = (
    "number",
    "model",
    "policy",
    "epf",
    "epf_low",
    "epf_high",
    "unit",
    "top1",
    "top1_spread",
    "params_m",
    "macs",
    "ms_per_frame",
    "energy_source",
    "fidelity",
    "dataset",
    "trained",
    "feasible",
    "reused_from",
    "pareto",
)


@dataclass(frozen=True)
class ReportFiles:
    """Paths of the files :func:`write_report` wrote."""

    folder: Path
    files: tuple[Path, ...]
    front_size: int
    trials: int


def trial_rows(study: optuna.Study) -> pd.DataFrame:
    """One row per complete trial, columns :data:`COLUMNS`, sorted by trial number."""
    front = {t.number for t in pareto_front(study)}
    rows = [_row(t, t.number in front) for t in finished(study) if t.values is not None]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _row(trial: FrozenTrial, on_front: bool) -> dict[str, Any]:
    attrs = trial.user_attrs
    epf, top1, params_m = trial.values
    return {
        "number": trial.number,
        "model": attrs.get("model"),
        "policy": attrs.get("policy"),
        "epf": epf,
        "epf_low": attrs.get("epf_low"),
        "epf_high": attrs.get("epf_high"),
        "unit": attrs.get("epf_unit"),
        "top1": top1,
        "top1_spread": attrs.get("top1_spread"),
        "params_m": params_m,
        "macs": attrs.get("macs"),
        "ms_per_frame": attrs.get("ms_per_frame"),
        "energy_source": attrs.get("energy_source"),
        "fidelity": attrs.get("fidelity"),
        "dataset": attrs.get("dataset"),
        "trained": attrs.get("trained"),
        "feasible": feasible(trial),
        "reused_from": attrs.get("reused_from"),
        "pareto": on_front,
    }


def _prepare_folder(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".probe-"):
            pass
    except OSError as error:
        raise GsearchError(
            f"report folder {out_dir} is not writable ({error.strerror}): pass another --out"
        ) from None


class _Writer:
    """Writes files into a folder atomically (temporary name, then rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []

    def write(self, name: str, data: bytes | str) -> Path:
        target = self.folder / name
        raw = data.encode() if isinstance(data, str) else data
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            os.replace(tmp, target)
        except OSError as error:
            Path(tmp).unlink(missing_ok=True)
            raise GsearchError(f"cannot write {target}: {error.strerror}") from None
        self.written.append(target)
        return target


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def to_markdown(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """A GitHub Markdown table of ``columns`` of ``frame``."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_fmt(row[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _plots(frame: pd.DataFrame, names: tuple[str, str, str]) -> dict[str, bytes]:
    """PNG bytes of the three 2-D projections and the 3-D front."""
    import io

    epf_name, top1_name, params_name = names
    axes_of = {"epf": epf_name, "top1": top1_name, "params_m": params_name}
    front = frame[frame["pareto"]]
    rest = frame[~frame["pareto"]]
    images: dict[str, bytes] = {}
    for x, y in (("epf", "top1"), ("epf", "params_m"), ("params_m", "top1")):
        figure, axis = plt.subplots(figsize=(6, 4.5), dpi=110)
        axis.scatter(rest[x], rest[y], s=18, c="#9aa5b1", label="trials")
        axis.scatter(front[x], front[y], s=36, c="#d1495b", label="Pareto front")
        for _, row in front.iterrows():
            axis.annotate(str(row["policy"]), (row[x], row[y]), fontsize=7, xytext=(3, 3),
                          textcoords="offset points")  # fmt: skip
        axis.set_xlabel(axes_of[x])
        axis.set_ylabel(axes_of[y])
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        images[f"pareto_{x}_{y}.png"] = buffer.getvalue()
    figure = plt.figure(figsize=(6.5, 5), dpi=110)
    axis3d: Any = figure.add_subplot(projection="3d")
    axis3d.scatter(rest["epf"], rest["params_m"], rest["top1"], s=14, c="#9aa5b1", label="trials")
    axis3d.scatter(front["epf"], front["params_m"], front["top1"], s=36, c="#d1495b",
                   label="Pareto front")  # fmt: skip
    axis3d.set_xlabel(epf_name)
    axis3d.set_ylabel(params_name)
    axis3d.set_zlabel(top1_name)
    axis3d.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    images["pareto_3d.png"] = buffer.getvalue()
    return images


def _html(
    study: optuna.Study, frame: pd.DataFrame, names: tuple[str, str, str], images: dict[str, bytes]
) -> str:
    def table(part: pd.DataFrame) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(row[c]))}</td>" for c in COLUMNS) + "</tr>"
            for _, row in part.iterrows()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    figures = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode()}"><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, data in images.items()
    )
    title = html.escape(f"gsearch: {study.study_name}")
    front = frame[frame["pareto"]]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #1f2933; }}
table {{ border-collapse: collapse; font-size: 13px; margin-bottom: 2em; }}
th, td {{ border: 1px solid #cbd2d9; padding: 3px 8px; text-align: right; }}
th {{ background: #f0f4f8; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }}
img {{ max-width: 640px; }}
</style></head><body>
<h1>{title}</h1>
<p>Objectives: {html.escape(names[0])} (minimise), {html.escape(names[1])} (maximise),
{html.escape(names[2])} (minimise). {len(frame)} complete trials, {len(front)} on the
Pareto front.</p>
{figures}
<h2>Pareto front</h2>
{table(front)}
<h2>All trials</h2>
{table(frame)}
</body></html>
"""


def write_report(
    study: optuna.Study, out_dir: str | Path, facts: dict[str, Any] | None = None
) -> ReportFiles:
    """Write the study's Pareto front and all its trials to ``out_dir``.

    Args:
        study: The study to report.
        out_dir: Folder for the files (created if missing).
        facts: The study's recorded facts (energy source, device...), for report.json.

    Raises:
        GsearchError: The folder cannot be created or written, or the study has no
            complete trial yet.
    """
    folder = Path(out_dir)
    frame = trial_rows(study)
    if frame.empty:
        raise GsearchError(f"study {study.study_name!r} has no complete trial to report yet")
    _prepare_folder(folder)
    names = objective_names_of(study)
    writer = _Writer(folder)
    front = frame[frame["pareto"]]
    writer.write("trials.csv", frame.to_csv(index=False))
    writer.write("pareto.csv", front.to_csv(index=False))
    writer.write(
        "pareto.md", f"# Pareto front of {study.study_name}\n\n" + to_markdown(front, COLUMNS)
    )
    document = {
        "study": study.study_name,
        "objectives": [
            {"name": names[0], "direction": "minimize"},
            {"name": names[1], "direction": "maximize"},
            {"name": names[2], "direction": "minimize"},
        ],
        "facts": facts or {},
        "pareto": json.loads(front.to_json(orient="records")),
        "trials": json.loads(frame.to_json(orient="records")),
    }
    writer.write("report.json", json.dumps(document, indent=2))
    images = _plots(frame, names)
    for name, data in images.items():
        writer.write(name, data)
    writer.write("report.html", _html(study, frame, names, images))
    return ReportFiles(folder, tuple(writer.written), len(front), len(frame))
