"""Hand-made studies for the report tests: trials with EPF intervals and per-seed top-1."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import pytest
from optuna.trial import create_trial


class StudyBuilder:
    """An in-memory study of the search's shape (objectives, directions, user attrs)."""

    def __init__(self, first_objective: str = "epf_mj") -> None:
        self.study = optuna.create_study(directions=["minimize", "maximize", "minimize"])
        self.study.set_metric_names([first_objective, "top1", "params_m"])

    def add(
        self,
        epf: float,
        epf_interval: tuple[float, float],
        top1_seeds: Sequence[float],
        params_m: float,
        budget_excess: float | None = None,
        **attrs: Any,
    ) -> int:
        """Add a complete trial; top-1 is the median of its seeds. Returns its number."""
        number = len(self.study.trials)
        user_attrs: dict[str, Any] = {
            "model": "mobilenet_v1",
            "policy": f"G={2**number}",
            "epf": epf,
            "epf_low": epf_interval[0],
            "epf_high": epf_interval[1],
            "epf_unit": "mJ",
            "epf_batch": 1,
            "ms_per_frame": epf / 4.0,
            "macs": 568_740_352 + 1000 * number,
            "params": int(params_m * 1e6),
            "top1_seeds": list(top1_seeds),
            "top1_spread": max(top1_seeds) - min(top1_seeds) if top1_seeds else 0.0,
            "fidelity": "proxy",
            "energy_source": "nvml",
            "dataset": "digits",
            "trained": True,
            **attrs,
        }
        top1 = statistics.median(top1_seeds) if top1_seeds else 0.0
        constraints = None if budget_excess is None else {"epf_budget": budget_excess}
        self.study.add_trial(
            create_trial(
                values=[epf, top1, params_m], user_attrs=user_attrs, constraints=constraints
            )
        )
        return number


@pytest.fixture
def builder() -> Callable[..., StudyBuilder]:
    return StudyBuilder


@pytest.fixture
def tie_builder() -> StudyBuilder:
    """Two front trials, one tied with the first, two dominated, one copy, one over budget.

    #0 and #1 are the front; #2's intervals overlap #0's everywhere (tied); #3 is worse
    than #0 beyond every interval; #4 repeats #0's network; #5 broke the energy budget;
    #6 is where "some front trial does not dominate it beyond measurement" (the rule
    before issue 26) and "no front trial does" differ: #0 dominates it beyond every
    interval, while no objective separates it from #1 (#6 is cheaper and smaller than
    #1, and its top-1 reaches #1's lowest seed): not tied.
    """
    made = StudyBuilder()
    made.add(10.0, (9.8, 10.3), [90.0, 91.0, 92.0], 4.20)
    made.add(12.0, (11.8, 12.2), [89.0, 94.0, 95.0], 4.30)
    made.add(10.2, (10.1, 10.4), [89.0, 90.5, 91.5], 4.20)
    made.add(20.0, (19.5, 20.5), [80.0, 81.0, 82.0], 5.00)
    made.add(10.0, (9.8, 10.3), [90.0, 91.0, 92.0], 4.20, reused_from=0, policy="G=1")
    made.add(30.0, (29.0, 31.0), [], 6.00, budget_excess=5.0, trained=False)
    made.add(11.0, (10.9, 11.1), [87.5, 88.5, 89.5], 4.25)
    return made


@pytest.fixture
def tie_study(tie_builder: StudyBuilder) -> optuna.Study:
    return tie_builder.study
