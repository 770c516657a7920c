"""The study's trials as rows: raw for machines (CSV, JSON), in human units for people.

``trial_rows`` is the one table every output is cut from: all complete trials with
their objective values, intervals, counts and what the report says about them (on the
front, tied with it). ``human_table`` turns rows into text cells (``12.3 (12.1-12.6)``)
with raw sort keys, for the page and the Markdown front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from gsearch.pareto import feasible
from gsearch.report.front import final_front
from gsearch.report.labels import Objective, show_macs
from gsearch.report.ties import intervals_of

COLUMNS = (
    "number",
    "model",
    "policy",
    "epf",
    "epf_low",
    "epf_high",
    "epf_alone",
    "epf_measured",
    "unit",
    "top1",
    "top1_low",
    "top1_high",
    "top1_seeds",
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
    "tied",
    "tied_with",
)
# Columns holding lists: joined with ";" in CSV, lists in JSON.
LIST_COLUMNS = ("top1_seeds", "tied_with")


def trial_rows(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> pd.DataFrame:
    """One row per complete trial, columns :data:`COLUMNS`, sorted by trial number.

    Args:
        study: The study.
        trials: Its trials, where the caller has read them already (any states).
    """
    final = final_front(study, trials)
    on_front = {t.number for t in final.front}
    rows = [_row(t, t.number in on_front, final.ties.get(t.number, [])) for t in final.trials]
    return pd.DataFrame(rows, columns=list(COLUMNS)).sort_values("number", ignore_index=True)


def _row(trial: FrozenTrial, on_front: bool, tied_with: list[int]) -> dict[str, Any]:
    attrs = trial.user_attrs
    epf, top1, params_m = trial.values
    epf_span, top1_span, _ = intervals_of(trial)
    reused = attrs.get("reused_from")
    return {
        "number": trial.number,
        "model": attrs.get("model"),
        "policy": attrs.get("policy"),
        "epf": epf,
        "epf_low": epf_span.low,
        "epf_high": epf_span.high,
        "epf_alone": attrs.get("epf_alone", epf),
        "epf_measured": attrs.get("epf_measured", "alone"),
        "unit": attrs.get("epf_unit"),
        "top1": top1,
        "top1_low": top1_span.low,
        "top1_high": top1_span.high,
        "top1_seeds": [float(s) for s in attrs.get("top1_seeds") or ()],
        "params_m": params_m,
        "macs": attrs.get("macs"),
        "ms_per_frame": attrs.get("ms_per_frame"),
        "energy_source": attrs.get("energy_source"),
        "fidelity": attrs.get("fidelity"),
        "dataset": attrs.get("dataset"),
        "trained": attrs.get("trained", True) is not False,
        "feasible": feasible(trial),
        "reused_from": None if reused is None else int(reused),
        "pareto": on_front,
        "tied": bool(tied_with),
        "tied_with": tied_with,
    }


def to_csv(frame: pd.DataFrame) -> str:
    """CSV with list columns joined by ``;`` and integer columns kept integers."""
    flat = frame.copy()
    for column in LIST_COLUMNS:
        flat[column] = flat[column].map(lambda items: ";".join(f"{v:g}" for v in items))
    for column in ("reused_from", "macs"):
        flat[column] = flat[column].astype("Int64")
    return str(flat.to_csv(index=False))


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN becomes null, lists stay lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        return value.item() if hasattr(value, "item") else value

    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


# ---------------------------------------------------------------- human units
@dataclass(frozen=True)
class Cell:
    """Text for people and the raw value a table sorts by."""

    text: str
    key: float | str


def status_of(row: pd.Series) -> str:
    """What the report says about a trial, in words."""
    if row["pareto"]:
        return "Pareto front"
    if row["tied"]:
        return "tied with " + ", ".join(f"#{n}" for n in row["tied_with"])
    if not pd.isna(row["reused_from"]):
        return f"copy of #{int(row['reused_from'])}"
    if not row["feasible"]:
        return "over the energy budget" + ("" if row["trained"] else ", not trained")
    return ""


def _range(low: float, high: float, objective: Objective) -> str:
    if high <= low:
        return ""
    return f" ({objective.show(low)}\u2013{objective.show(high)})"


def human_table(
    frame: pd.DataFrame, objectives: tuple[Objective, Objective, Objective]
) -> tuple[list[str], list[list[Cell]]]:
    """Column titles and cells: objectives with their intervals, counts, status."""
    epf, top1, params = objectives
    # A study that minimises ms per frame (the time meter) shows it once, as its objective.
    timed = epf.name.endswith("ms_per_frame")
    titles = ["trial", "model", "policy", epf.title, top1.title, params.title, "MACs"]
    titles += ["status"] if timed else ["ms / frame", "status"]
    rows = []
    for _, row in frame.iterrows():
        trained = bool(row["trained"])
        ms = row["ms_per_frame"]
        rows.append(
            [
                Cell(f"#{row['number']}", int(row["number"])),
                Cell(str(row["model"] or ""), str(row["model"] or "")),
                Cell(str(row["policy"] or ""), str(row["policy"] or "")),
                Cell(
                    epf.show(row["epf"]) + _range(row["epf_low"], row["epf_high"], epf),
                    float(row["epf"]),
                ),
                Cell(
                    top1.show(row["top1"]) + _range(row["top1_low"], row["top1_high"], top1)
                    if trained
                    else "not trained",
                    float(row["top1"]) if trained else -math.inf,
                ),
                Cell(params.show(row["params_m"]), float(row["params_m"])),
                Cell(
                    "" if pd.isna(row["macs"]) else show_macs(row["macs"]),
                    0.0 if pd.isna(row["macs"]) else float(row["macs"]),
                ),
                *([] if timed else [_ms_cell(ms)]),
                Cell(status_of(row), status_of(row)),
            ]
        )
    return titles, rows


def _ms_cell(ms: Any) -> Cell:
    return Cell("" if pd.isna(ms) else f"{ms:.2f}", -1.0 if pd.isna(ms) else float(ms))


def to_markdown(titles: list[str], rows: list[list[Cell]]) -> str:
    """A GitHub Markdown table of human cells (pandas, through tabulate's pipe format)."""
    escape = str.maketrans({"|": "\\|"})  # tabulate leaves a "|" inside a cell as is
    table = pd.DataFrame([[c.text.translate(escape) for c in row] for row in rows], columns=titles)
    # Cells are text already formatted for people: no re-parsing "0.50" into 0.5.
    return str(table.to_markdown(index=False, disable_numparse=True)) + "\n"
