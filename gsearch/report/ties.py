"""Trials tied with the Pareto front: choices the measurements cannot separate from it.

The front is computed from point values (medians). Each point carries an uncertainty:
the EPF interval of its measurement windows and the spread of top-1 over training
seeds. A trial off the front that no front trial dominates beyond measurement may be
as good as the front; the report, the printed front and the ladder (which trains these
trials again at full fidelity) mark it with this one rule instead of hiding it. The
front itself is never changed by this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from gsearch.pareto import dominates, feasible, to_minimise

# One sentence for the page (and this module's rule in words).
TIE_RULE = (
    "A trial off the front is tied with the front when no front trial dominates it "
    "beyond measurement, that is, no front trial is at least as good in every objective "
    "even at the ends of the intervals most favourable to the trial (EPF over the "
    "measurement windows, top-1 over the training seeds, params exact)."
)


@dataclass(frozen=True)
class Interval:
    """The range an objective's value may lie in, given its measurements."""

    low: float
    high: float


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


def dominates_beyond_measurement(
    front_trial: FrozenTrial, trial: FrozenTrial, directions: Sequence[StudyDirection]
) -> bool:
    """True when ``front_trial`` dominates ``trial`` whatever their true values within
    their intervals: ``front_trial``'s worst ends dominate ``trial``'s best ends.

    The ladder's rule: a trial not dominated so might be on the front once measured
    better, so the measurements cannot separate it from the front.
    """
    worst_front, best_trial = [], []
    for front_span, span, direction in zip(
        intervals_of(front_trial), intervals_of(trial), directions, strict=True
    ):
        if direction == StudyDirection.MAXIMIZE:  # as minimisation: negate
            worst_front.append(-front_span.low)
            best_trial.append(-span.high)
        else:
            worst_front.append(front_span.high)
            best_trial.append(span.low)
    return dominates(worst_front, best_trial)


def _point_dominates(a: FrozenTrial, b: FrozenTrial, directions: Sequence[StudyDirection]) -> bool:
    maximise = [d == StudyDirection.MAXIMIZE for d in directions]
    return dominates(to_minimise(a.values, maximise), to_minimise(b.values, maximise))


def ties_with_front(
    trials: Sequence[FrozenTrial],
    front: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
) -> dict[int, list[int]]:
    """Trial number -> numbers of the front trials it is tied with (see :data:`TIE_RULE`).

    A trial is tied when no front trial dominates it beyond measurement; it is tied
    with the front trials whose point values dominate its own (all of them where none
    does). Only trials that could stand on the front are considered: complete,
    feasible, not a copy of an earlier trial's result, and not on the front already.

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
        if any(dominates_beyond_measurement(f, trial, directions) for f in front):
            continue
        over = [f.number for f in front if _point_dominates(f, trial, directions)]
        ties[trial.number] = over or [f.number for f in front]
    return ties
