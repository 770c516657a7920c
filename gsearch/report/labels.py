"""The study's objectives in words and their values in human units (mJ, %, M).

Machines get the raw floats (CSV, JSON); people get ``12.3 mJ``, ``91.4 %`` and
``4.25 M`` on the page, in the Markdown front and on the PNGs' axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import optuna
from optuna.study import StudyDirection

from gsearch.pareto import objective_names_of


def _fixed(decimals: int) -> Callable[[float], str]:
    return lambda value: f"{value:,.{decimals}f}"


def scaled(value: float) -> str:
    """Three significant digits with k/M/G: a score of 1963000.0 reads ``1.96 M``."""
    for factor, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Objective:
    """One objective of a study: its metric name, words, unit, direction and format."""

    name: str
    words: str  # short, for titles: "energy per frame"
    unit: str
    direction: StudyDirection
    fmt: Callable[[float], str]

    @property
    def title(self) -> str:
        """Axis and column title, e.g. ``energy per frame (mJ)``."""
        return f"{self.words} ({self.unit})" if self.unit else self.words

    @property
    def goal(self) -> str:
        return (
            "higher is better" if self.direction == StudyDirection.MAXIMIZE else "lower is better"
        )

    def show(self, value: float | None, with_unit: bool = False) -> str:
        """``value`` in human units (``12.3``, or ``12.3 mJ``); empty when unknown."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        text = self.fmt(value)
        return f"{text} {self.unit}" if with_unit and self.unit else text


# metric name -> (words, unit, format). The first objective depends on the energy source.
_KNOWN: dict[str, tuple[str, str, Callable[[float], str]]] = {
    "epf_mj": ("energy per frame", "mJ", _fixed(1)),
    "epf_model": ("Eq. 1 score per frame", "model units", scaled),
    "ms_per_frame": ("time per frame", "ms", _fixed(2)),
    "top1": ("top-1 accuracy", "%", _fixed(1)),
    "params_m": ("parameters", "M", _fixed(2)),
}


def objectives_of(study: optuna.Study) -> tuple[Objective, Objective, Objective]:
    """The study's three objectives, named as the study names them."""
    names = objective_names_of(study)
    made = []
    for name, direction in zip(names, study.directions, strict=True):
        words, unit, fmt = _KNOWN.get(name, (name, "", lambda v: f"{v:.4g}"))
        made.append(Objective(name, words, unit, direction, fmt))
    return made[0], made[1], made[2]


@dataclass(frozen=True)
class Projection:
    """One 2-D view of the three objectives: which column on which axis, and its title."""

    x: str  # a column of the trial rows: epf, top1 or params_m
    y: str
    x_objective: Objective
    y_objective: Objective

    @property
    def title(self) -> str:
        words = f"{self.y_objective.words} vs {self.x_objective.words}"
        return words[0].upper() + words[1:]

    @property
    def file_name(self) -> str:
        return f"pareto_{self.x}_{self.y}.png"


def projections_of(objectives: tuple[Objective, Objective, Objective]) -> list[Projection]:
    """Top-1 vs EPF, params vs EPF, top-1 vs params."""
    epf, top1, params = objectives
    return [
        Projection("epf", "top1", epf, top1),
        Projection("epf", "params_m", epf, params),
        Projection("params_m", "top1", params, top1),
    ]


# Rows columns that hold each objective's interval (params are exact).
INTERVAL_COLUMNS = {"epf": ("epf_low", "epf_high"), "top1": ("top1_low", "top1_high")}


def show_macs(macs: float | None) -> str:
    """Multiply-accumulates of one image, e.g. ``569 M`` or ``4.02 G``."""
    return "" if macs is None else scaled(float(macs))


def show_seeds(seeds: Sequence[float]) -> str:
    """Per-seed top-1, e.g. ``91.2, 92.0, 91.6 %``."""
    return ", ".join(f"{s:.1f}" for s in seeds) + " %" if seeds else ""
