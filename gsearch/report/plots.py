"""PNG plots for papers and slides: the three 2-D projections, titled in words.

The same points, groups and error bars as the interactive page (``groups.py``), drawn
with matplotlib at print resolution.
"""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from gsearch.report.groups import FRONT, front_line, plot_groups
from gsearch.report.labels import INTERVAL_COLUMNS, Projection

_MARKERS = {"circle": "o", "diamond-open": "D", "x-thin-open": "x", "square-open": "s"}


def _error(part: pd.DataFrame, column: str) -> list[list[float]] | None:
    """Asymmetric error bars (below, above) of ``column``, or None for an exact one."""
    if column not in INTERVAL_COLUMNS:
        return None
    low, high = INTERVAL_COLUMNS[column]
    return [list(part[column] - part[low]), list(part[high] - part[column])]


def projection_png(frame: pd.DataFrame, projection: Projection, study_name: str) -> bytes:
    """One projection as PNG bytes."""
    # The object API, not pyplot: no global figure state, and a lighter import.
    figure = Figure(figsize=(6.4, 4.6), dpi=150)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    for style, part in plot_groups(frame, projection):
        hollow = style.symbol.endswith("-open")
        axis.errorbar(
            part[projection.x],
            part[projection.y],
            xerr=_error(part, projection.x),
            yerr=_error(part, projection.y),
            fmt=_MARKERS[style.symbol],
            markersize=style.size * 0.7,
            color=style.color,
            mfc="none" if hollow else style.color,
            ecolor=to_rgba(style.color, 0.6 if style is FRONT else 0.3),
            elinewidth=0.8,
            label=style.label,
            zorder=3 if style is FRONT else 2,
        )
        if style is FRONT:
            line = front_line(part, projection)
            axis.plot(line[projection.x], line[projection.y], color=style.color, linewidth=1.2,
                      alpha=0.7, zorder=3)  # fmt: skip
    axis.set_title(f"{projection.title}\n{study_name}", fontsize=11)
    axis.set_xlabel(projection.x_objective.title)
    axis.set_ylabel(projection.y_objective.title)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8, framealpha=0.85)
    # Fixed margins: tight_layout would draw the figure once more (a third of the time).
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.11, top=0.87)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
