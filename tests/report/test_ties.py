from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from gsearch.pareto import MAXIMISE, pareto_front
from gsearch.report.ties import (
    TIE_RULE,
    dominates_beyond_measurement,
    intervals_of,
    ties_with_front,
)

DIRECTIONS = (StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE)


def _tied_before_issue_26(trial: FrozenTrial, front: list[FrozenTrial]) -> bool:
    """The old rule: tied when SOME front trial fails to separate it (in every objective
    the intervals overlap or the trial is better)."""

    def not_separated(front_trial: FrozenTrial) -> bool:
        pairs = zip(intervals_of(trial), intervals_of(front_trial), MAXIMISE, strict=True)
        return all(
            (mine.low <= theirs.high and theirs.low <= mine.high)
            or (mine.low > theirs.high if up else mine.high < theirs.low)
            for mine, theirs, up in pairs
        )

    return any(not_separated(f) for f in front)


def test_one_tied_and_one_clearly_dominated_trial(tie_study: optuna.Study) -> None:
    front = pareto_front(tie_study)
    assert [t.number for t in front] == [0, 1]
    ties = ties_with_front(tie_study.get_trials(), front, tie_study.directions)
    # #2 overlaps #0 in EPF and top-1 with equal params; #3 is worse beyond every interval;
    # the copy #4 is #0 itself and #5 broke the budget: neither can be tied.
    assert ties == {2: [0]}
    assert [t.number for t in pareto_front(tie_study)] == [0, 1]  # the front is unchanged
    # #6: #1 does not separate it, so the old "some" rule marked it tied; #0 dominates it
    # beyond measurement, so it is not.
    six = tie_study.trials[6]
    assert _tied_before_issue_26(six, front) and 6 not in ties
    assert dominates_beyond_measurement(front[0], six, DIRECTIONS)
    assert not dominates_beyond_measurement(front[1], six, DIRECTIONS)


def test_the_ladder_promotes_exactly_the_reports_ties(tie_study: optuna.Study) -> None:
    from gsearch.search import ladder_promotions

    front = pareto_front(tie_study)
    complete = tie_study.get_trials()
    promoted = ladder_promotions(front, complete, tie_study.directions)
    tied = ties_with_front(complete, front, tie_study.directions)
    assert [t.number for t in promoted] == [0, 1, *tied] == [0, 1, 2]


def test_an_overlap_in_one_objective_is_enough(builder: Callable[..., object]) -> None:
    made = builder()
    made.add(10.0, (9.8, 10.3), [90.0, 91.0, 92.0], 4.20)
    # Worse top-1 beyond the seeds and more params, but its EPF may be below #0's: it
    # might trade params and top-1 for energy, so the measurements cannot separate it.
    made.add(10.1, (9.9, 10.4), [85.0, 86.0, 87.0], 4.21)
    # Params are exact: worse beyond EPF and top-1, and 0.01 M more params: dominated.
    made.add(10.5, (10.4, 10.6), [88.0, 89.0, 89.5], 4.21)
    study = made.study
    assert ties_with_front(study.get_trials(), pareto_front(study), study.directions) == {1: [0]}


def test_better_ends_decide(builder: Callable[..., object]) -> None:
    made = builder()
    made.add(10.0, (9.9, 10.1), [91.0, 91.5, 92.0], 4.2)
    made.add(8.0, (7.9, 8.1), [91.2, 91.4, 91.6], 4.2)
    made.add(12.0, (11.9, 12.1), [80.0, 80.5, 81.0], 4.2)
    first, cheaper, worse = made.study.get_trials()
    assert not dominates_beyond_measurement(first, cheaper, DIRECTIONS)  # cheaper is cheaper
    assert dominates_beyond_measurement(first, worse, DIRECTIONS)  # worse beyond EPF, top-1
    # cheaper's EPF is better beyond measurement, but first's top-1 may be higher.
    assert not dominates_beyond_measurement(cheaper, first, DIRECTIONS)


def test_missing_intervals_are_points(builder: Callable[..., object]) -> None:
    made = builder()
    made.add(10.0, (9.8, 10.3), [], 4.2, epf_low=None, epf_high=None)
    (trial,) = made.study.get_trials()
    epf, top1, params = intervals_of(trial)
    assert (epf.low, epf.high, top1.low, top1.high) == (10.0, 10.0, 0.0, 0.0)
    assert params.low == params.high == 4.2


def test_rule_is_one_sentence() -> None:
    assert TIE_RULE.count(". ") == 0 and TIE_RULE.endswith(".")


def test_the_printed_front_names_its_ties_and_a_one_seed_top1(
    builder: Callable[..., object], capsys
) -> None:
    from gsearch.cli.run import _print_front

    made = builder()
    made.add(10.0, (9.8, 10.3), [91.0], 4.20)
    made.add(10.1, (9.9, 10.4), [91.0], 4.20)  # EPF overlaps #0's, the rest equal: tied
    made.add(20.0, (19.5, 20.5), [80.0], 5.00)  # worse beyond every interval
    study = made.study
    _print_front(study, ("epf_mj", "top1", "params_m"))
    out = capsys.readouterr().out
    assert "not separated from the front by their measurements: G=2 (trial 1)" in out
    assert "G=4" not in out
    assert "one training seed" in out

    seeded = builder()
    seeded.add(10.0, (9.8, 10.3), [90.0, 91.0, 92.0], 4.20)
    seeded.add(20.0, (19.5, 20.5), [80.0, 81.0, 82.0], 5.00)
    _print_front(seeded.study, ("epf_mj", "top1", "params_m"))
    out = capsys.readouterr().out
    assert "not separated" not in out and "one training seed" not in out
