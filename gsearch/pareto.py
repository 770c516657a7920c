"""Pareto dominance, hypervolume and the fronts of studies (objectives turned to minimisation).

The search reports the size of the front and its hypervolume while it runs, the ladder
promotes non-dominated proxy trials, and the reports print exactly the front; all of
them use these few functions, so they agree on what "non-dominated" means.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

Point = Sequence[float]
# The study's objectives in order: EPF (minimise), top-1 (maximise), params (minimise).
MAXIMISE = (False, True, False)


def to_minimise(values: Sequence[float], maximise: Sequence[bool]) -> tuple[float, ...]:
    """Negate the objectives that are maximised, so that smaller is better everywhere."""
    return tuple(-v if up else v for v, up in zip(values, maximise, strict=True))


def dominates(a: Point, b: Point) -> bool:
    """True when ``a`` is no worse than ``b`` everywhere and better somewhere (minimising)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def non_dominated(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates (duplicates all stay)."""
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p) for j, q in enumerate(points) if j != i)
    ]


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (minimising).

    Exact, by slicing along the first objective and recursing: O(n^(d-1) log n), ample
    for the fronts of a search (tens to hundreds of points, three objectives).
    Points not strictly better than the reference in every objective add nothing.
    """
    inside = [tuple(p) for p in points if all(x < r for x, r in zip(p, reference, strict=True))]
    return _hv(inside, tuple(reference))


def _hv(points: list[tuple[float, ...]], reference: tuple[float, ...]) -> float:
    if not points:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in points)
    ordered = sorted(points)
    volume = 0.0
    for index, point in enumerate(ordered):
        upper = ordered[index + 1][0] if index + 1 < len(ordered) else reference[0]
        width = upper - point[0]
        if width > 0:
            # The points up to this one in the first objective dominate this slice.
            volume += width * _hv([p[1:] for p in ordered[: index + 1]], reference[1:])
    return volume


# ---------------------------------------------------------------- fronts of studies
def finished(study: optuna.Study) -> list[FrozenTrial]:
    """The study's complete trials."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def feasible(trial: FrozenTrial) -> bool:
    """False when the trial broke a constraint (``trial.set_constraint``: the energy budget)."""
    return all(c <= 0 for c in trial.constraints.values())


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """The study's Pareto front by its trials' own values, over architectures, by number.

    Not ``study.best_trials``: that decides over trials, so a reused copy of an
    architecture measured again lower than its original dominated the original, and the
    architecture fell off the front. Copies are left out before dominance is decided.
    """
    return pareto_trials(finished(study))


def pareto_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The feasible, complete trials that no other such trial dominates, by number.

    Infeasible trials (over the energy budget) are left out. A trial that reused an
    earlier trial's result (the same architecture suggested again) is that trial, not a
    second point: only the original stands on the front.
    """
    usable = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and feasible(t)
        and t.values is not None
        and "reused_from" not in t.user_attrs
    ]
    points = [to_minimise(t.values, MAXIMISE) for t in usable]
    return sorted((usable[i] for i in non_dominated(points)), key=lambda t: t.number)


def front_hypervolume(trials: Sequence[FrozenTrial]) -> float:
    """Hypervolume as a share of the box from the best corner to a reference point.

    The reference is 1.1 x the worst EPF and params seen and 0 % top-1; the share lies
    in [0, 1] and grows as the front improves (a progress indicator: its reference moves
    as new worst values arrive).
    """
    usable = [t for t in trials if feasible(t) and t.values is not None]
    if not usable:
        return 0.0
    worst_epf = max(t.values[0] for t in usable) * 1.1
    worst_params = max(t.values[2] for t in usable) * 1.1
    reference = (worst_epf, 0.0, worst_params)
    points = [to_minimise(t.values, MAXIMISE) for t in usable]
    box = worst_epf * 100.0 * worst_params
    return hypervolume(points, reference) / box if box > 0 else 0.0


def objective_names_of(study: optuna.Study) -> tuple[str, str, str]:
    """The study's metric names (``epf_mj`` or ``epf_model``, ``top1``, ``params_m``)."""
    names = study.metric_names or ["epf_mj", "top1", "params_m"]
    return (names[0], names[1], names[2])
