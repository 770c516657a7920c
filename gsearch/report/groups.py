"""Which trials a plot shows, and in which legend group (front, tied, other, over budget).

Shared by the interactive page and the PNGs so that both show the same points. A trial
that reused an earlier trial's result is that trial, not a point of its own; a trial
that was never trained (over the energy budget) has no top-1, so it appears only where
top-1 is not an axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from optuna.study import StudyDirection

from gsearch.pareto import non_dominated, to_minimise
from gsearch.report.labels import Projection


@dataclass(frozen=True)
class Style:
    """How a legend group looks, the same on the page and in the PNGs."""

    label: str
    color: str
    symbol: str  # plotly symbol name; PNGs map it to a matplotlib marker
    size: int


FRONT = Style("Pareto front", "#c8102e", "circle", 10)
TIED = Style("tied with the front", "#e69f00", "diamond-open", 10)
OTHER = Style("other trials", "#8a96a3", "circle", 6)
OVER_BUDGET = Style("over the energy budget", "#5a6570", "x-thin-open", 7)
PAPER = Style("paper's variants", "#2c7fb8", "square-open", 8)


def plot_groups(frame: pd.DataFrame, projection: Projection) -> list[tuple[Style, pd.DataFrame]]:
    """The trials ``projection`` plots, per legend group, in drawing order (front last)."""
    own = frame[frame["reused_from"].isna()]
    if "top1" in (projection.x, projection.y):
        own = own[own["trained"]]
    feasible = own["feasible"]
    parts = [
        (OVER_BUDGET, own[~feasible]),
        (OTHER, own[feasible & ~own["pareto"] & ~own["tied"]]),
        (TIED, own[own["tied"]]),
        (FRONT, own[own["pareto"]]),
    ]
    return [(style, part) for style, part in parts if not part.empty]


def front_line(front: pd.DataFrame, projection: Projection) -> pd.DataFrame:
    """The front trials that no other front trial beats in this projection, along x.

    The front is non-dominated in three objectives; seen in two, some of its trials lie
    behind others (their advantage is in the hidden objective). A line through all of
    them would zigzag; the line joins the ones that bound this view.
    """
    maximise = [
        o.direction == StudyDirection.MAXIMIZE
        for o in (projection.x_objective, projection.y_objective)
    ]
    points = [
        to_minimise((x, y), maximise)
        for x, y in zip(front[projection.x], front[projection.y], strict=True)
    ]
    return front.iloc[non_dominated(points)].sort_values(projection.x)
