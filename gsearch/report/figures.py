"""The interactive plots of the page: the three projections as one plotly.js figure.

The projections sit as the lower triangle of a scatter matrix: top-1 vs EPF above
params vs EPF (one EPF axis, zoomed together) and beside top-1 vs params (one top-1
axis). Each legend group (front, tied, other, over budget, the paper's variants) spans
all three, so one click on its legend entry hides it everywhere.

The figure is written as plotly.js's own JSON (traces and layout) rather than built
with plotly.graph_objects: validating every property in Python took a third of the
report's time, and the browser checks the figure anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.colors import to_rgba

from gsearch.report.groups import FRONT, PAPER, Style, front_line, plot_groups
from gsearch.report.labels import (
    INTERVAL_COLUMNS,
    Objective,
    Projection,
    projections_of,
    show_macs,
    show_seeds,
)
from gsearch.report.paper_refs import DATASET_WORDS, TABLE_OF, PaperVariant
from gsearch.report.tables import status_of

Spec = dict[str, Any]
# Axes of each projection in the 2 x 2 grid (the fourth cell holds the legend):
# top-1 vs EPF top left, params vs EPF below it, top-1 vs params top right.
_AXES = (("x", "y"), ("x3", "y3"), ("x2", "y2"))
_LEFT, _RIGHT = [0.0, 0.455], [0.545, 1.0]
_TOP, _BOTTOM = [0.585, 1.0], [0.0, 0.415]
_GRID = "#e4e7eb"


def hover_text(row: pd.Series, objectives: Sequence[Objective], copies: Sequence[int]) -> str:
    """What a point says under the mouse: the trial, its numbers with their spreads."""
    epf, top1, params = objectives
    epf_range = (
        f" ({epf.show(row['epf_low'])}\u2013{epf.show(row['epf_high'])})"
        if row["epf_high"] > row["epf_low"]
        else ""
    )
    lines = [
        f"<b>trial #{row['number']}</b> \u00b7 {row['model']} \u00b7 {row['policy']}",
        f"{epf.words}: {epf.show(row['epf'], with_unit=True)}{epf_range}",
    ]
    if row["trained"]:
        seeds = show_seeds(row["top1_seeds"])
        lines.append(
            f"{top1.words}: {top1.show(row['top1'], with_unit=True)}"
            + (f" (seeds: {seeds})" if seeds else "")
        )
    else:
        lines.append(f"{top1.words}: not trained")
    macs = "" if pd.isna(row["macs"]) else f" \u00b7 MACs {show_macs(row['macs'])}"
    lines.append(f"{params.words}: {params.show(row['params_m'], with_unit=True)}{macs}")
    facts = [
        "" if pd.isna(row["ms_per_frame"]) else f"{row['ms_per_frame']:.2f} ms/frame",
        f"fidelity {row['fidelity']}" if row["fidelity"] else "",
        f"energy source {row['energy_source']}" if row["energy_source"] else "",
    ]
    lines.append(" \u00b7 ".join(f for f in facts if f))
    if status_of(row):
        lines.append(f"<b>{status_of(row)}</b>")
    if copies:
        lines.append("same network as " + ", ".join(f"#{n}" for n in copies))
    return "<br>".join(lines)


def _faint(color: str, alpha: float) -> str:
    red, green, blue, _ = (round(255 * c) for c in to_rgba(color))
    return f"rgba({red},{green},{blue},{alpha})"


def _error_bars(part: pd.DataFrame, column: str, style: Style) -> Spec:
    if column not in INTERVAL_COLUMNS:
        return {"visible": False}  # params are exact
    low, high = INTERVAL_COLUMNS[column]
    return {
        "type": "data",
        "symmetric": False,
        "array": (part[high] - part[column]).tolist(),
        "arrayminus": (part[column] - part[low]).tolist(),
        "color": _faint(style.color, 0.7 if style is FRONT else 0.35),
        "thickness": 1,
        "width": 0,
    }


def _trial_trace(
    part: pd.DataFrame, projection: Projection, axes: tuple[str, str], style: Style,
    hovers: pd.Series, first: bool,
) -> Spec:  # fmt: skip
    hollow = style.symbol.endswith("-open")
    return {
        "type": "scatter",
        "x": part[projection.x].tolist(),
        "y": part[projection.y].tolist(),
        "xaxis": axes[0],
        "yaxis": axes[1],
        "mode": "markers",
        "name": style.label,
        "legendgroup": style.label,
        "showlegend": first,
        "marker": {
            "color": style.color,
            "symbol": style.symbol,
            "size": style.size,
            "opacity": 1.0 if style is FRONT else 0.8,
            # Open symbols are drawn by their outline; filled ones get a thin white rim.
            "line": {"width": 1.5, "color": style.color}
            if hollow
            else {"width": 0.5, "color": "white"},
        },
        "error_x": _error_bars(part, projection.x, style),
        "error_y": _error_bars(part, projection.y, style),
        "hovertext": hovers[part.index].tolist(),
        "hoverinfo": "text",
        "customdata": part["number"].tolist(),
    }


def _line_trace(line: pd.DataFrame, projection: Projection, axes: tuple[str, str]) -> Spec:
    """The line along the front's edge in one projection (part of the front's group)."""
    return {
        "type": "scatter",
        "x": line[projection.x].tolist(),
        "y": line[projection.y].tolist(),
        "xaxis": axes[0],
        "yaxis": axes[1],
        "mode": "lines",
        "line": {"color": FRONT.color, "width": 1.5},
        "opacity": 0.7,
        "name": FRONT.label,
        "legendgroup": FRONT.label,
        "showlegend": False,
        "hoverinfo": "skip",
    }


def _paper_trace(variants: Sequence[PaperVariant], visible: bool) -> Spec:
    model = variants[0].model
    dataset = DATASET_WORDS[variants[0].dataset]
    return {
        "type": "scatter",
        "x": [v.params_m for v in variants],
        "y": [v.top1 for v in variants],
        "xaxis": "x2",
        "yaxis": "y2",
        "mode": "markers+text",
        "text": [v.policy for v in variants],
        "textposition": "top center",
        "textfont": {"size": 9, "color": PAPER.color},
        "name": f"{PAPER.label} ({model}, {dataset})",
        "legendgroup": f"paper {model}",
        "visible": True if visible else "legendonly",
        "opacity": 0.55,
        "marker": {"color": PAPER.color, "symbol": PAPER.symbol, "size": PAPER.size},
        "hovertext": [
            f"paper, {TABLE_OF[model]}, {dataset}: {model} {v.policy}<br>"
            f"{v.params_m:.2f} M params \u00b7 {v.top1:.2f} % top-1 "
            "(the paper's recipe, not this study's)"
            for v in variants
        ],
        "hoverinfo": "text",
    }


def _axis(title: str, domain: list[float], anchor: str, matches: str | None = None) -> Spec:
    axis: Spec = {
        "title": {"text": title},
        "domain": domain,
        "anchor": anchor,
        "gridcolor": _GRID,
        "zeroline": False,
        "linecolor": "#9aa5b1",
        "automargin": True,
    }
    if matches:
        axis["matches"] = matches
    return axis


def _title(text: str, x_domain: list[float], y_domain: list[float]) -> Spec:
    return {
        "text": text,
        "x": sum(x_domain) / 2,
        "y": y_domain[1],
        "xref": "paper",
        "yref": "paper",
        "xanchor": "center",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 15},
    }


def pareto_figure(
    frame: pd.DataFrame,
    objectives: tuple[Objective, Objective, Objective],
    paper: Sequence[Sequence[PaperVariant]],
    paper_visible: bool,
) -> tuple[list[Spec], Spec]:
    """The three projections with error bars, hover text and legend groups.

    Args:
        frame: The trial rows (:func:`gsearch.report.tables.trial_rows`).
        objectives: The study's objectives.
        paper: The paper's variants per model of the study, as reference marks.
        paper_visible: Show them at first (the study's dataset is one the paper reports);
            else they wait in the legend.

    Returns:
        plotly.js traces and layout, for ``Plotly.newPlot``.
    """
    projections = projections_of(objectives)
    copies: dict[int, list[int]] = {}
    for number, source in zip(frame["number"], frame["reused_from"], strict=True):
        if not pd.isna(source):
            copies.setdefault(int(source), []).append(int(number))
    hovers = pd.Series(
        [
            hover_text(row, objectives, copies.get(int(row["number"]), []))
            for _, row in frame.iterrows()
        ],
        index=frame.index,
    )
    traces: list[Spec] = []
    shown: set[str] = set()
    for projection, axes in zip(projections, _AXES, strict=True):
        for style, part in plot_groups(frame, projection):
            traces.append(
                _trial_trace(part, projection, axes, style, hovers, style.label not in shown)
            )
            shown.add(style.label)
            if style is FRONT:
                traces.append(_line_trace(front_line(part, projection), projection, axes))
    traces += [_paper_trace(variants, paper_visible) for variants in paper]
    epf_top1, epf_params, params_top1 = projections
    layout: Spec = {
        "height": 820,
        "margin": {"l": 70, "r": 20, "t": 40, "b": 60},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#1f2933"},
        "hovermode": "closest",
        "hoverlabel": {"bgcolor": "white", "font": {"size": 12}},
        # One EPF axis for the left column, one top-1 axis for the top row.
        "xaxis": _axis(epf_top1.x_objective.title, _LEFT, "y"),
        "yaxis": _axis(epf_top1.y_objective.title, _TOP, "x"),
        "xaxis2": _axis(params_top1.x_objective.title, _RIGHT, "y2"),
        "yaxis2": _axis(params_top1.y_objective.title, _TOP, "x2", matches="y"),
        "xaxis3": _axis(epf_params.x_objective.title, _LEFT, "y3", matches="x"),
        "yaxis3": _axis(epf_params.y_objective.title, _BOTTOM, "x3"),
        "annotations": [
            _title(epf_top1.title, _LEFT, _TOP),
            _title(params_top1.title, _RIGHT, _TOP),
            _title(epf_params.title, _LEFT, _BOTTOM),
        ],
        "legend": {
            "x": 0.58,
            "y": 0.40,
            "xanchor": "left",
            "yanchor": "top",
            "title": {"text": "click to hide or show a group"},
            "font": {"size": 13},
        },
    }
    return traces, layout
