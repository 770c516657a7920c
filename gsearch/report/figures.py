"""The interactive plots of the page: the three projections in one plotly figure.

The projections sit as the lower triangle of a scatter matrix: top-1 vs EPF above
params vs EPF (one EPF axis, zoomed together) and beside top-1 vs params (one top-1
axis). Each legend group (front, tied, other, over budget, the paper's variants) spans
all three, so one click on its legend entry hides it everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gsearch.report.groups import FRONT, PAPER, Style, plot_groups
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

# Cell of each projection (row, col) in the 2 x 2 grid; the fourth cell holds the legend.
_CELLS = ((1, 1), (2, 1), (1, 2))


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


def _error_bars(part: pd.DataFrame, column: str, style: Style) -> dict[str, object] | None:
    if column not in INTERVAL_COLUMNS:
        return None  # params are exact
    low, high = INTERVAL_COLUMNS[column]
    return {
        "type": "data",
        "symmetric": False,
        "array": list(part[high] - part[column]),
        "arrayminus": list(part[column] - part[low]),
        "color": style.color,
        "thickness": 1,
        "width": 0,
    }


def _trial_trace(
    part: pd.DataFrame,
    projection: Projection,
    style: Style,
    hovers: pd.Series,
    first: bool,
) -> go.Scatter:
    return go.Scatter(
        x=list(part[projection.x]),
        y=list(part[projection.y]),
        mode="lines+markers" if style is FRONT else "markers",
        name=style.label,
        legendgroup=style.label,
        showlegend=first,
        marker={
            "color": style.color,
            "symbol": style.symbol,
            "size": style.size,
            "opacity": 1.0 if style is FRONT else 0.8,
            # Open symbols are drawn by their outline; filled ones get a thin white rim.
            "line": {"width": 1.5, "color": style.color}
            if style.symbol.endswith("-open")
            else {"width": 0.5, "color": "white"},
        },
        line={"color": style.color, "width": 1.5},
        error_x=_error_bars(part, projection.x, style),
        error_y=_error_bars(part, projection.y, style),
        hovertext=list(hovers[part.index]),
        hoverinfo="text",
        customdata=list(part["number"]),
    )


def _paper_trace(variants: Sequence[PaperVariant], visible: bool, first: bool) -> go.Scatter:
    model = variants[0].model
    source = f"paper, {TABLE_OF[model]}, {DATASET_WORDS[variants[0].dataset]}"
    return go.Scatter(
        x=[v.params_m for v in variants],
        y=[v.top1 for v in variants],
        mode="markers+text",
        text=[v.policy for v in variants],
        textposition="top center",
        textfont={"size": 9, "color": PAPER.color},
        name=f"{PAPER.label} ({model}, {DATASET_WORDS[variants[0].dataset]})",
        legendgroup=f"paper {model}",
        showlegend=first,
        visible=True if visible else "legendonly",
        opacity=0.55,
        marker={"color": PAPER.color, "symbol": PAPER.symbol, "size": PAPER.size},
        hovertext=[
            f"{source}: {model} {v.policy}<br>{v.params_m:.2f} M params \u00b7 "
            f"{v.top1:.2f} % top-1 (the paper's recipe, not this study's)"
            for v in variants
        ],
        hoverinfo="text",
    )


def pareto_figure(
    frame: pd.DataFrame,
    objectives: tuple[Objective, Objective, Objective],
    paper: Sequence[Sequence[PaperVariant]],
    paper_visible: bool,
) -> go.Figure:
    """The three projections with error bars, hover text and legend groups.

    Args:
        frame: The trial rows (:func:`gsearch.report.tables.trial_rows`).
        objectives: The study's objectives.
        paper: The paper's variants per model of the study, as reference marks.
        paper_visible: Show them at first (the study's dataset is one the paper reports);
            else they wait in the legend.
    """
    projections = projections_of(objectives)
    figure = make_subplots(
        rows=2,
        cols=2,
        specs=[[{}, {}], [{}, None]],
        subplot_titles=[projections[0].title, projections[2].title, projections[1].title],
        horizontal_spacing=0.09,
        vertical_spacing=0.11,
    )
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
    shown: set[str] = set()
    for projection, (row, col) in zip(projections, _CELLS, strict=True):
        for style, part in plot_groups(frame, projection):
            trace = _trial_trace(part, projection, style, hovers, style.label not in shown)
            figure.add_trace(trace, row=row, col=col)
            shown.add(style.label)
        figure.update_xaxes(title_text=projection.x_objective.title, row=row, col=col)
        figure.update_yaxes(title_text=projection.y_objective.title, row=row, col=col)
    for variants in paper:
        figure.add_trace(_paper_trace(variants, paper_visible, True), row=1, col=2)
    # One EPF axis for the left column, one top-1 axis for the top row.
    figure.update_xaxes(matches="x", row=2, col=1)
    figure.update_yaxes(matches="y", row=1, col=2)
    figure.update_xaxes(gridcolor="#e4e7eb", zeroline=False)
    figure.update_yaxes(gridcolor="#e4e7eb", zeroline=False)
    figure.update_layout(
        height=820,
        margin={"l": 70, "r": 20, "t": 40, "b": 60},
        template="plotly_white",
        hovermode="closest",
        hoverlabel={"bgcolor": "white", "font": {"size": 12}},
        legend={
            "x": 0.58,
            "y": 0.40,
            "xanchor": "left",
            "yanchor": "top",
            "title": {"text": "click to hide or show a group"},
            "font": {"size": 13},
        },
        font={"family": "system-ui, sans-serif", "size": 12},
    )
    return figure
