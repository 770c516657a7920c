"""Trials tied with the Pareto front: choices the measurements cannot separate from it.

The front is computed from point values (medians). Each point carries an uncertainty:
the EPF interval of its measurement windows and the spread of top-1 over training
seeds. A trial off the front whose intervals reach a front trial's in every objective
may be as good as that front trial; the report marks it instead of hiding it. The
front itself is never changed by this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from gsearch.pareto import feasible

# One sentence for the page (and this module's rule in words).
TIE_RULE = (
    "A trial off the front is tied with the front when some front trial does not "
    "dominate it beyond measurement: in every objective the trial's interval (EPF over "
    "its measurement windows, top-1 over its training seeds, params exact) overlaps the "
    "front trial's, or the trial is better."
)


@dataclass(frozen=True)
class Interval:
    """The range an objective's value may lie in, given its measurements."""

    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def intervals_of(trial: FrozenTrial) -> tuple[Interval, Interval, Interval]:
    """EPF interval, top-1 interval over seeds, params as a point; older trials lack some.

    The value itself is always inside its interval, even where a recorded bound is off
    (a median outside a rounded bound, or a missing one).
    """
    epf, top1, params_m = trial.values
    attrs = trial.user_attrs
    epf_low, epf_high = attrs.get("epf_low"), attrs.get("epf_high")
    epf_span = Interval(
        min(epf, epf_low if epf_low is not None else epf),
        max(epf, epf_high if epf_high is not None else epf),
    )
    seeds = [float(s) for s in attrs.get("top1_seeds") or ()]
    top1_span = Interval(min([top1, *seeds]), max([top1, *seeds]))
    return epf_span, top1_span, Interval(params_m, params_m)


def _better(a: float, b: float, direction: StudyDirection) -> bool:
    return a > b if direction == StudyDirection.MAXIMIZE else a < b


def not_separated(
    trial: FrozenTrial, front_trial: FrozenTrial, directions: Sequence[StudyDirection]
) -> bool:
    """True when ``front_trial`` does not dominate ``trial`` beyond measurement.

    That is, in every objective ``trial``'s interval overlaps ``front_trial``'s or
    ``trial``'s value is better.
    """
    pairs = zip(intervals_of(trial), intervals_of(front_trial), strict=True)
    values = zip(trial.values, front_trial.values, directions, strict=True)
    return all(
        span.overlaps(front_span) or _better(mine, theirs, direction)
        for (span, front_span), (mine, theirs, direction) in zip(pairs, values, strict=True)
    )


def ties_with_front(
    trials: Sequence[FrozenTrial],
    front: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
) -> dict[int, list[int]]:
    """Trial number -> numbers of the front trials it is tied with (see :data:`TIE_RULE`).

    Only trials that could stand on the front are considered: complete, feasible, not a
    copy of an earlier trial's result, and not on the front already.

    Args:
        trials: The study's complete trials.
        front: Its Pareto front (:func:`gsearch.pareto.pareto_front`).
        directions: The study's directions, in objective order.
    """
    on_front = {t.number for t in front}
    ties: dict[int, list[int]] = {}
    for trial in trials:
        if (
            trial.number in on_front
            or trial.values is None
            or not feasible(trial)
            or "reused_from" in trial.user_attrs
        ):
            continue
        tied = [f.number for f in front if not_separated(trial, f, directions)]
        if tied:
            ties[trial.number] = tied
    return ties
