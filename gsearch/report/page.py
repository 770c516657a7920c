"""report.html: one self-contained page that works offline.

It opens with what a person asks first (objectives, energy source, device, dataset,
fidelity, trial counts, the front in human units), then the interactive plots, then
every trial. plotly's script is embedded once, so the file needs no network; the
tables sort with a few lines of script of their own.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from plotly.offline import get_plotlyjs

from gsearch.report.figures import pareto_figure
from gsearch.report.front import JOINT_NOTE, LONE_NOTE
from gsearch.report.labels import Objective
from gsearch.report.paper_refs import PaperVariant
from gsearch.report.tables import Cell, human_table
from gsearch.report.ties import TIE_RULE

_STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2933; margin: 0; background: #f7f9fb; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.lead { margin: 0 0 14px; color: #52606d; }
section { background: white; border: 1px solid #d9e2ec; border-radius: 6px; padding: 14px 18px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0; }
dl.facts dt { color: #52606d; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.note { background: #fff8e6; border-left: 4px solid #e69f00; padding: 8px 12px; margin: 10px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e4e7eb; text-align: right;
         overflow-wrap: anywhere; }
th { background: #f0f4f8; cursor: pointer; user-select: none; white-space: nowrap;
     position: sticky; top: 0; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.text, th.text { text-align: left; }
tr.front td { background: #fdf0f2; }
tr.tied td { background: #fff8e6; }
td.policy { max-width: 300px; }
td.model { white-space: nowrap; }
.front-box { max-height: 430px; overflow-y: auto; border: 1px solid #d9e2ec; }
.plot { width: 100%; }
footer { color: #7b8794; font-size: 12px; margin-top: 24px; }
"""

# Click a header to sort by it; each cell carries its raw value in data-key.
_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.key, y = b.cells[column].dataset.key;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return up ? order : -order;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

_TEXT_COLUMNS = ("model", "policy", "status")


def _script_json(value: Any) -> str:
    """A JavaScript literal safe inside a <script> element (no "</" to end it early).

    A missing number stays NaN, which JavaScript reads and plotly leaves out.
    """
    return json.dumps(value).replace("</", "<\\/")


def _table(titles: list[str], rows: list[list[Cell]], classes: Sequence[str]) -> str:
    head = "".join(
        f'<th class="{"text" if t in _TEXT_COLUMNS else ""}" title="sort by {html.escape(t)}">'
        f"{html.escape(t)}</th>"
        for t in titles
    )
    body = []
    for row, css in zip(rows, classes, strict=True):
        cells = "".join(
            f'<td class="{_cell_class(title)}" data-key="{html.escape(str(cell.key))}">'
            f"{_cell_text(title, cell)}</td>"
            for title, cell in zip(titles, row, strict=True)
        )
        body.append(f'<tr class="{css}">{cells}</tr>')
    return (
        f'<table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _cell_class(title: str) -> str:
    if title in ("policy", "model"):
        return f"text {title}"
    return "text" if title in _TEXT_COLUMNS else ""


def _cell_text(title: str, cell: Cell) -> str:
    text = html.escape(cell.text)
    # A per-layer policy is long: let it wrap between layers, never inside a number.
    return text.replace(",", ",<wbr>") if title == "policy" else text


def _row_classes(frame: pd.DataFrame) -> list[str]:
    return [
        "front" if p else "tied" if t else ""
        for p, t in zip(frame["pareto"], frame["tied"], strict=True)
    ]


def _trial_counts(trials: Sequence[FrozenTrial]) -> str:
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    order = [s.name.lower() for s in TrialState]
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))


def _facts(
    trials: Sequence[FrozenTrial],
    frame: pd.DataFrame,
    objectives: Sequence[Objective],
    facts: dict[str, Any],
) -> str:
    def first(column: str) -> str:
        values = frame[column].dropna()
        return str(values.iloc[0]) if not values.empty else "unknown"

    own = frame[frame["reused_from"].isna()]
    items = [
        ("objectives", " \u00b7 ".join(f"{o.title}, {o.goal}" for o in objectives)),
        ("energy source", str(facts.get("energy_source") or first("energy_source"))),
        ("device", str(facts.get("device") or "unknown")),
        ("dataset", str(facts.get("dataset") or first("dataset"))),
        ("fidelity", str(facts.get("fidelity") or first("fidelity"))),
        ("search space", str(facts.get("space") or "unknown")),
        ("trials", _trial_counts(trials)),
        (
            "of the complete",
            f"{int(frame['pareto'].sum())} on the Pareto front, {int(frame['tied'].sum())} tied "
            f"with it, {int((~own['feasible']).sum())} over the energy budget, "
            f"{len(frame) - len(own)} repeating an earlier trial's network",
        ),
    ]
    if facts.get("protocol"):
        items.append(("EPF protocol", describe_protocol(facts["protocol"])))
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items)
    return f'<dl class="facts">{rows}</dl>'


def _epf_note(frame: pd.DataFrame) -> str:
    together = (frame["epf_measured"] == "together").any()
    return JOINT_NOTE if together else LONE_NOTE


def describe_protocol(protocol: Any) -> str:
    """The EPF protocol in words (the study pins it as a dict of its settings)."""
    if not isinstance(protocol, dict):
        return str(protocol)
    if "predicted" in protocol:
        return f"predicted from the calibration ({protocol['predicted']} formulation)"
    repeats, window = protocol.get("repeats"), protocol.get("window_s")
    method = {"aligned": "aligned to the energy counter's ticks", "plain": "plain"}.get(
        str(protocol.get("method")), "aligned where the meter ticks, else plain"
    )
    estimator = {
        "min": "the fastest window (a band to the third-fastest)",
        "median": "the median window (an order-statistic interval)",
    }.get(str(protocol.get("estimator", "median")), str(protocol.get("estimator")))
    parts = [
        f"{repeats} windows of {window} s, interleaved across the networks measured together",
        f"warm-up {protocol.get('warmup_s')} s and at least {protocol.get('warmup_steps')} "
        f"steps, pre-roll {protocol.get('preroll_s')} s",
        f"windows {method}",
        f"value: {estimator}",
    ]
    threads = protocol.get("cpu_threads")
    if threads:
        parts.append(f"{threads} CPU thread{'s' if threads != 1 else ''}")
    if protocol.get("version") is not None:
        parts.append(f"protocol version {protocol['version']}")
    return "; ".join(parts)


def render_page(
    study: optuna.Study,
    trials: Sequence[FrozenTrial],
    frame: pd.DataFrame,
    objectives: tuple[Objective, Objective, Objective],
    facts: dict[str, Any],
    paper: Sequence[Sequence[PaperVariant]],
    paper_visible: bool,
) -> str:
    """The whole page as one HTML string (``trials``: the study's trials, any state)."""
    traces, layout = pareto_figure(frame, objectives, paper, paper_visible)
    config = {
        "displaylogo": False,
        "responsive": True,
        "toImageButtonOptions": {"filename": f"{study.study_name}-pareto", "scale": 2},
    }
    plot = (
        '<div id="pareto-plot" style="height:820px"></div>'
        f'<script>Plotly.newPlot("pareto-plot", {_script_json(traces)}, {_script_json(layout)}, '
        f"{_script_json(config)});</script>"
    )
    highlighted = frame[frame["pareto"] | frame["tied"]].sort_values(
        ["pareto", "number"], ascending=[False, True]
    )
    front_titles, front_rows = human_table(highlighted, objectives)
    all_titles, all_rows = human_table(frame, objectives)
    title = html.escape(f"gsearch report: {study.study_name}")
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    tied = int(frame["tied"].sum())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_STYLE}</style>
<script>{get_plotlyjs()}</script>
</head><body><main>
<h1>{title}</h1>
<p class="lead">{len(frame)} complete trials; {int(frame["pareto"].sum())} on the Pareto front
and {tied} tied with it. Hover a point for its numbers; click a legend entry to hide its group.</p>
<section>{_facts(trials, frame, objectives, facts)}</section>
<h2>The Pareto front{" and the trials tied with it" if tied else ""}</h2>
<p class="note" id="epf-source">{html.escape(_epf_note(frame))}.</p>
<p class="note" id="tie-rule">{html.escape(TIE_RULE)}</p>
<div class="front-box">{_table(front_titles, front_rows, _row_classes(highlighted))}</div>
<h2>Projections</h2>
<p class="lead">Error bars: EPF over the measurement windows, top-1 over the training seeds.
The line joins the front trials that bound each view.</p>
<section class="plot">{plot}</section>
<h2 id="all-trials">All complete trials</h2>
{_table(all_titles, all_rows, _row_classes(frame))}
<footer>Written by gsearch on {written}. The same numbers for machines: report.json,
trials.csv and pareto.csv beside this page.</footer>
</main>
<script>{_SORT_SCRIPT}</script>
</body></html>
"""
