from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.study import StudyDirection

from gsearch.pareto import pareto_front
from gsearch.report.ties import TIE_RULE, intervals_of, not_separated, ties_with_front

DIRECTIONS = (StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE)


def test_one_tied_and_one_clearly_dominated_trial(tie_study: optuna.Study) -> None:
    front = pareto_front(tie_study)
    assert [t.number for t in front] == [0, 1]
    ties = ties_with_front(tie_study.get_trials(), front, tie_study.directions)
    # #2 overlaps #0 in EPF and top-1 with equal params; #3 is worse beyond every interval;
    # the copy #4 is #0 itself and #5 broke the budget: neither can be tied.
    assert ties == {2: [0]}
    assert [t.number for t in pareto_front(tie_study)] == [0, 1]  # the front is unchanged


def test_params_are_exact(builder: Callable[..., object]) -> None:
    made = builder()
    made.add(10.0, (9.8, 10.3), [90.0, 91.0, 92.0], 4.20)
    made.add(10.1, (9.9, 10.4), [89.5, 90.5, 91.5], 4.21)  # overlaps, but more params
    study = made.study
    assert ties_with_front(study.get_trials(), pareto_front(study), study.directions) == {}


def test_better_counts_where_intervals_do_not_overlap(builder: Callable[..., object]) -> None:
    made = builder()
    made.add(10.0, (9.9, 10.1), [91.0, 91.5, 92.0], 4.2)
    made.add(8.0, (7.9, 8.1), [91.2, 91.4, 91.6], 4.2)
    made.add(12.0, (11.9, 12.1), [80.0, 80.5, 81.0], 4.2)
    first, cheaper, worse = made.study.get_trials()
    assert not_separated(cheaper, first, DIRECTIONS)  # better EPF, overlapping top-1
    assert not not_separated(worse, first, DIRECTIONS)  # worse beyond EPF and top-1
    assert not not_separated(first, cheaper, DIRECTIONS)  # first's EPF is worse than cheaper's


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
    from gsearch.cli import _print_front

    made = builder()
    made.add(10.0, (9.8, 10.3), [91.0], 4.20)
    made.add(10.1, (9.9, 10.4), [91.0], 4.20)  # EPF overlaps #0's, the rest equal: tied
    made.add(20.0, (19.5, 20.5), [80.0], 5.00)  # worse beyond every interval
    study = made.study
    _print_front(study, pareto_front(study), ("epf_mj", "top1", "params_m"))
    out = capsys.readouterr().out
    assert "not separated from the front by their measurements: G=2 (trial 1)" in out
    assert "G=4" not in out
    assert "one training seed" in out

    seeded = builder()
    seeded.add(10.0, (9.8, 10.3), [90.0, 91.0, 92.0], 4.20)
    seeded.add(20.0, (19.5, 20.5), [80.0, 81.0, 82.0], 5.00)
    _print_front(seeded.study, pareto_front(seeded.study), ("epf_mj", "top1", "params_m"))
    out = capsys.readouterr().out
    assert "not separated" not in out and "one training seed" not in out
