"""The ladder: the proxy front, and the trials the proxy cannot separate from it, trained
again at full fidelity."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from gsearch.pareto import dominates, to_minimise
from gsearch.search.study import DIRECTIONS


def ladder_promotions(
    proxy_front: Sequence[FrozenTrial],
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection] = DIRECTIONS,
) -> list[FrozenTrial]:
    """Proxy trials to train at full fidelity: the front plus its ties.

    A trial whose top-1 lies within the front's seed spread of being non-dominated is a
    tie the proxy cannot separate from the front, so it is promoted too. Infeasible
    trials (over the energy budget) are never promoted.
    """
    maximise = [d == StudyDirection.MAXIMIZE for d in directions]
    margin = max((t.user_attrs.get("top1_spread", 0.0) for t in proxy_front), default=0.0)
    front_ids = {t.number for t in proxy_front}
    promoted = list(proxy_front)
    front_points = [to_minimise(t.values, maximise) for t in proxy_front]
    for trial in trials:
        feasible = all(c <= 0 for c in trial.constraints.values())
        if trial.number in front_ids or not feasible or trial.values is None:
            continue
        if "reused_from" in trial.user_attrs:
            continue
        epf, top1, params = trial.values
        lifted = to_minimise((epf, top1 + margin, params), maximise)
        if not any(dominates(point, lifted) for point in front_points):
            promoted.append(trial)
    return promoted
