"""The front a person reads: decided from the run's final joint measurement.

A trial's own EPF is measured alone, between two trainings, minutes or hours from the
others: it steers the sampler. At the end of a run the candidates for the front (the
front by those lone values, and every trial tied with it) are measured again together,
their windows interleaved beside one baseline network (:func:`gsearch.search.loop.
remeasure_front`), and stored in the study's user attribute ``front_epf``. That joint
measurement decides the front's members, the trials tied with it and their order, and it
is what every place a person reads shows: ``gsearch run``'s table, every file of
``gsearch report`` and its page, and the study attributes optuna-dashboard lists.

A study whose last run did not end with that measurement (interrupted, or trials added
since) is shown from the lone values, and says so (:attr:`FinalFront.joint` is False).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from gsearch.pareto import pareto_trials
from gsearch.report.ties import ties_with_front

JOINT_ATTR = "front_epf"
# What the page and the printed front say of values from the joint measurement.
JOINT_NOTE = "EPF measured together at the end of the run, beside one baseline network"
LONE_NOTE = (
    "EPF as each trial measured it alone: the run did not end with the joint "
    "measurement of the front (interrupted, or trials were added since)"
)


@dataclass(frozen=True)
class FinalFront:
    """The study as a person should read it.

    Attributes:
        trials: Every complete trial, by number; those in the joint measurement carry its
            EPF (``values[0]``, ``epf_low``, ``epf_high``, ``ms_per_frame``) and keep
            their own in ``epf_alone``.
        front: The non-dominated trials, sorted by the EPF shown.
        ties: Trial number -> the front trials it is tied with.
        joint: The front was decided from the joint measurement.
    """

    trials: list[FrozenTrial]
    front: list[FrozenTrial]
    ties: dict[int, list[int]]
    joint: bool

    @property
    def note(self) -> str:
        """One line on where the EPF shown comes from."""
        return JOINT_NOTE if self.joint else LONE_NOTE


def front_candidates(
    trials: Sequence[FrozenTrial], directions: Sequence[optuna.study.StudyDirection]
) -> list[FrozenTrial]:
    """What the joint measurement measures: the front by lone values and its ties."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    front = pareto_trials(complete)
    ties = ties_with_front(complete, front, directions)
    chosen = {t.number for t in front} | set(ties)
    return [t for t in complete if t.number in chosen]


def joint_record(
    candidates: Sequence[FrozenTrial], rows: dict[int, dict[str, Any]], complete: int
) -> dict[str, Any]:
    """The study attribute that stores a joint measurement (see :func:`final_front`)."""
    return {
        "complete_trials": complete,
        "candidates": [t.number for t in candidates],
        "rows": {str(number): row for number, row in rows.items()},
    }


def final_front(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> FinalFront:
    """The front, ties and values every output shows (see the module docstring).

    Args:
        study: The study.
        trials: Its trials, where the caller has read them already (any states).
    """
    every = study.get_trials(deepcopy=False) if trials is None else trials
    complete = sorted(
        (t for t in every if t.state == TrialState.COMPLETE and t.values is not None),
        key=lambda t: t.number,
    )
    record = study.user_attrs.get(JOINT_ATTR) or {}
    rows = record.get("rows") if isinstance(record, dict) else None
    joint = bool(rows) and record.get("complete_trials") == len(complete)
    if not joint:
        front = pareto_trials(complete)
        ties = ties_with_front(complete, front, study.directions)
        return FinalFront(complete, _by_epf(front), ties, False)
    assert rows is not None
    shown = [
        _with_joint_epf(t, rows[str(t.number)]) if str(t.number) in rows else t for t in complete
    ]
    pool = [t for t in shown if str(t.number) in rows]
    front = pareto_trials(pool)
    ties = ties_with_front(pool, front, study.directions)
    return FinalFront(shown, _by_epf(front), ties, True)


def _with_joint_epf(trial: FrozenTrial, row: dict[str, Any]) -> FrozenTrial:
    """A copy of ``trial`` with the joint measurement's EPF in place of its own."""
    shown = copy.copy(trial)
    values = list(trial.values)
    values[0] = row["epf"]
    shown.values = values
    attrs = dict(trial.user_attrs)
    attrs["epf_alone"] = trial.values[0]
    for key in ("epf_low", "epf_high", "ms_per_frame", "epf_ratio", "baseline_policy"):
        if row.get(key) is not None:
            attrs[key] = row[key]
    attrs["epf_measured"] = "together"
    shown.user_attrs = attrs
    return shown


def _by_epf(front: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return sorted(front, key=lambda t: (t.values[0], t.number))
