"""The ladder: the proxy front, and the trials the proxy cannot separate from it, trained
again at full fidelity."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from gsearch.search.study import DIRECTIONS


def ladder_promotions(
    proxy_front: Sequence[FrozenTrial],
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection] = DIRECTIONS,
) -> list[FrozenTrial]:
    """Proxy trials to train at full fidelity: the front plus the trials tied with it.

    Tied is the report's rule (:func:`gsearch.report.ties.ties_with_front`): no front
    trial dominates the trial beyond measurement (EPF interval, top-1 over its seeds),
    so the proxy cannot tell it from the front. Infeasible trials (over the energy
    budget) and copies of an earlier trial are never promoted.
    """
    # Imported here: the report package brings plotting along, which a worker never needs.
    from gsearch.report.ties import ties_with_front

    tied = ties_with_front(trials, proxy_front, directions)
    return [*proxy_front, *(t for t in trials if t.number in tied)]
