"""A trial's EPF is `gsearch profile`'s EPF; the cache knows networks, not spellings."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsearch.energy import EpfProtocol
from gsearch.profile import profile
from gsearch.search import run_search
from gsearch.search.loop import FRONT_EPF_ATTR
from tests.search.conftest import SPACE, MakeConfig


def test_a_trials_epf_is_what_gsearch_profile_measures(config: MakeConfig, tmp_path: Path) -> None:
    space = SPACE.replace("[1, 2, 4, 8]", "[4]").replace("[4, 8]", "[4]")
    result = run_search(config(trials=1, epf_resolution=48, space_text=space))
    (trial,) = result.study.trials
    assert trial.user_attrs["epf_resolution"] == 48
    report = profile("tiny_convnet", ["G=4"], [4], energy="model", resolution=48, num_classes=10,
                     cache_dir=None, repeats=1, window_s=0.05)  # fmt: skip
    (row,) = report.rows
    assert trial.values[0] == pytest.approx(row.result.epf, rel=1e-12)


def test_the_front_is_measured_again_together_at_the_end(config: MakeConfig) -> None:
    result = run_search(config())
    record = result.study.user_attrs[FRONT_EPF_ATTR]
    rows = record["rows"]
    # every front trial, and every trial tied with the front, measured together
    assert {str(t.number) for t in result.front} <= set(rows)
    assert set(rows) == {str(n) for n in record["candidates"]}
    assert record["complete_trials"] == len(result.study.trials)
    assert all(entry["interleaved_with"] == len(rows) for entry in rows.values())
    for trial in result.front:  # the model score is exact: the same value again
        assert rows[str(trial.number)]["epf"] == pytest.approx(trial.values[0])


def test_two_spellings_of_one_network_are_measured_once(config: MakeConfig, tmp_path: Path) -> None:
    # G=16 and one G of 16 per layer build the same network (g = 1, 2, 4).
    space = SPACE.replace('kind = "group_size"', 'kind = "list"').replace(
        "[1, 2, 4, 8]", '["G=16", "layers=16,16,16"]'
    )
    result = run_search(config(trials=2, space_text=space))
    trials = sorted(result.study.trials, key=lambda t: t.user_attrs["policy"])
    assert [t.user_attrs["policy"] for t in trials] == ["G=16", "layers=16,16,16"]
    assert trials[0].user_attrs["arch"] == trials[1].user_attrs["arch"]
    assert sorted(t.user_attrs["epf_cached"] for t in trials) == [False, True]
    assert trials[0].values == trials[1].values


def test_the_protocol_version_changed_with_the_window_fix() -> None:
    # Rows measured with version 1's windows (before 6bbc01d) must not come back cached.
    assert EpfProtocol().key()["version"] >= 2
