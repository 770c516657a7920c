from __future__ import annotations

import json
import os
from pathlib import Path

import optuna
import pandas as pd
import pytest

from gsearch.errors import GsearchError
from gsearch.pareto import MAXIMISE, non_dominated, to_minimise
from gsearch.report import write_report


def make_study(
    values: list[tuple[float, float, float]], budget: float | None = None
) -> optuna.Study:
    study = optuna.create_study(directions=["minimize", "maximize", "minimize"])
    study.set_metric_names(["epf_mj", "top1", "params_m"])
    for index, value in enumerate(values):
        trial = study.ask()
        trial.set_user_attr("policy", f"G={2**index}")
        trial.set_user_attr("model", "tiny_convnet")
        trial.set_user_attr("epf_unit", "mJ")
        if budget is not None:
            trial.set_user_attr("constraint", [value[0] - budget])
        study.tell(trial, list(value))
    return study


VALUES = [
    (10.0, 90.0, 1.0),
    (8.0, 85.0, 1.2),
    (12.0, 80.0, 1.5),
    (9.0, 95.0, 2.0),
    (8.0, 85.0, 1.2),
]


def test_report_files_parse_and_hold_exactly_the_front(tmp_path: Path) -> None:
    study = make_study(VALUES)
    files = write_report(study, tmp_path / "out", {"energy_source": "model"})
    names = {p.name for p in files.files}
    assert {"trials.csv", "pareto.csv", "pareto.md", "report.json", "report.html",
            "pareto_3d.png", "pareto_epf_top1.png"} <= names  # fmt: skip
    expected = {i for i in non_dominated([to_minimise(v, MAXIMISE) for v in VALUES])}
    assert expected == {0, 1, 3, 4}  # trial 2 is dominated by trial 0
    front = pd.read_csv(tmp_path / "out" / "pareto.csv")
    assert set(front["number"]) == expected
    every = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert len(every) == 5 and set(every[every["pareto"]]["number"]) == expected
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {row["number"] for row in document["pareto"]} == expected
    assert document["facts"] == {"energy_source": "model"}
    assert document["objectives"][1] == {"name": "top1", "direction": "maximize"}
    markdown = (tmp_path / "out" / "pareto.md").read_text().splitlines()
    assert sum(line.startswith("| ") for line in markdown) == 1 + len(expected)
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "<script" not in page
    assert (tmp_path / "out" / "pareto_3d.png").read_bytes().startswith(b"\x89PNG")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_infeasible_trials_never_reach_the_front(tmp_path: Path) -> None:
    study = make_study(VALUES, budget=9.5)  # trials 0 and 2 exceed the budget
    write_report(study, tmp_path)
    front = pd.read_csv(tmp_path / "pareto.csv")
    assert set(front["number"]) == {1, 3, 4}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder_is_one_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(GsearchError, match="report folder .* is not writable"):
        write_report(make_study(VALUES), locked / "out")


def test_a_file_in_the_way_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GsearchError, match="report folder .* is not writable"):
        write_report(make_study(VALUES), blocker / "out")


def test_empty_study_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GsearchError, match="no complete trial"):
        write_report(make_study([]), tmp_path)
