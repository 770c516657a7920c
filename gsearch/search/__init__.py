"""The search: an Optuna multi-objective study over group policies.

Read it as Optuna's ``study/`` reads:

* :mod:`~gsearch.search.config`: :class:`RunConfig`, validated once, serialised for workers;
* :mod:`~gsearch.search.objective`: the trial (policy -> network -> counts, EPF, top-1),
  against two small interfaces: an energy probe and a trainer;
* :mod:`~gsearch.search.probe`, :mod:`~gsearch.search.trainer`: the real ones;
* :mod:`~gsearch.search.study`: create or resume, pinned settings, samplers, the front;
* :mod:`~gsearch.search.ladder`: promotion of the proxy front and its ties;
* :mod:`~gsearch.search.loop`: the trial loop, stages, the front's final EPF.
"""

from __future__ import annotations

from gsearch.search.config import DEFAULT_STORAGE, RunConfig
from gsearch.search.ladder import ladder_promotions
from gsearch.search.loop import SearchResult, run_search, run_trials, run_worker
from gsearch.search.objective import Architecture, TrainOutcome, TrialObjective, trial_seeds
from gsearch.search.study import ATTR_PREFIX, load_study, objective_names

__all__ = [
    "ATTR_PREFIX",
    "DEFAULT_STORAGE",
    "Architecture",
    "RunConfig",
    "SearchResult",
    "TrainOutcome",
    "TrialObjective",
    "ladder_promotions",
    "load_study",
    "objective_names",
    "run_search",
    "run_trials",
    "run_worker",
    "trial_seeds",
]
