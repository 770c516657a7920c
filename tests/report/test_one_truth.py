"""One truth for the front: the joint measurement at the end of a run decides the front,
its ties and its order, and every output a person reads shows it (issue 21, point 3)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from gsearch.report import write_report
from gsearch.report.front import (
    JOINT_ATTR,
    JOINT_NOTE,
    LONE_NOTE,
    final_front,
    front_candidates,
    joint_record,
)
from gsearch.report.labels import objectives_of
from gsearch.report.tables import human_table, trial_rows

NAMES = ("epf_mj", "top1", "params_m")


def _joint_study(builder: Callable[..., object]):
    """By their own values the front is #0 (10 mJ) then #1 (12), with #2 tied to #0; the
    joint measurement finds #2 cheapest, #1 next and #0 dearest, and #3 is no candidate."""
    made = builder()
    made.add(10.0, (9.8, 10.3), [90.0, 91.0, 92.0], 4.20)
    made.add(12.0, (11.8, 12.2), [89.0, 94.0, 95.0], 4.30)
    made.add(10.2, (10.1, 10.4), [89.0, 90.5, 91.5], 4.20)
    made.add(30.0, (29.5, 30.5), [70.0, 71.0, 72.0], 5.00)
    study = made.study
    candidates = front_candidates(study.trials, study.directions)
    assert [t.number for t in candidates] == [0, 1, 2]
    joint = {
        0: {"epf": 13.0, "epf_low": 12.9, "epf_high": 13.1, "ms_per_frame": 3.3},
        1: {"epf": 11.0, "epf_low": 10.9, "epf_high": 11.1, "ms_per_frame": 2.8},
        2: {"epf": 9.0, "epf_low": 8.9, "epf_high": 9.1, "ms_per_frame": 2.2},
    }
    study.set_user_attr(JOINT_ATTR, joint_record(candidates, joint, len(study.trials)))
    return made, joint


def test_the_joint_measurement_decides_members_order_and_values(builder) -> None:
    made, _ = _joint_study(builder)
    final = final_front(made.study)
    assert final.joint and final.note == JOINT_NOTE
    assert [t.number for t in final.front] == [2, 1, 0]  # by the joint EPF
    assert [t.values[0] for t in final.front] == [9.0, 11.0, 13.0]
    assert final.ties == {}
    shown = {t.number: t for t in final.trials}
    assert shown[0].user_attrs["epf_alone"] == 10.0 and shown[3].values[0] == 30.0


def test_print_csv_json_and_page_show_the_same_front(builder, capsys, tmp_path: Path) -> None:
    from gsearch.cli.run import _print_front

    made, joint = _joint_study(builder)
    _print_front(made.study, NAMES)
    printed = capsys.readouterr().out
    assert JOINT_NOTE in printed.replace("\n", " ") or "measured together" in printed
    lines = [line for line in printed.splitlines() if re.match(r"^\W*\d+\W", line)]
    assert [int(re.findall(r"\d+", line)[0]) for line in lines] == [2, 1, 0]
    for number, row in joint.items():
        assert f"{row['epf']:.4g} ({row['epf_low']:.4g}-{row['epf_high']:.4g})" in printed, number

    write_report(made.study, tmp_path)
    listed = pd.read_csv(tmp_path / "pareto.csv")
    on_front = listed[listed["pareto"]]
    assert sorted(on_front["number"]) == [0, 1, 2] and not listed["tied"].any()
    for number, row in joint.items():
        got = on_front[on_front["number"] == number].iloc[0]
        assert (got["epf"], got["epf_low"], got["epf_high"]) == pytest.approx(
            (row["epf"], row["epf_low"], row["epf_high"])
        )
        assert got["epf_measured"] == "together"
    document = json.loads((tmp_path / "report.json").read_text())
    assert {r["number"]: r["epf"] for r in document["pareto"]} == {
        n: r["epf"] for n, r in joint.items()
    }
    assert document["tied"] == []
    page = (tmp_path / "report.html").read_text()
    assert page.count(JOINT_NOTE) == 1
    frame = trial_rows(made.study)
    titles, rows = human_table(frame[frame["pareto"]], objectives_of(made.study))
    front_box = page.split('class="front-box"')[1].split("</table>")[0]
    epf_column = titles.index(objectives_of(made.study)[0].title)
    for row in rows:
        assert row[epf_column].text in front_box


def test_a_study_without_the_joint_measurement_says_so(builder, tmp_path: Path) -> None:
    made, _ = _joint_study(builder)
    made.add(9.5, (9.4, 9.6), [95.0, 96.0, 97.0], 4.0)  # a trial after the measurement
    final = final_front(made.study)
    assert not final.joint and final.note == LONE_NOTE
    assert [t.number for t in final.front] == [4]  # the lone values decide
    write_report(made.study, tmp_path)
    assert LONE_NOTE in (tmp_path / "report.html").read_text()
