from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest

from gsearch.errors import GsearchError
from gsearch.pareto import pareto_front
from gsearch.report import write_report
from gsearch.report.labels import objectives_of, projections_of
from gsearch.report.ties import TIE_RULE

FACTS = {"energy_source": "nvml", "device": "NVIDIA H200", "dataset": "digits",
         "fidelity": "proxy", "space": "e2gc"}  # fmt: skip


def test_files_hold_the_front_the_ties_and_every_trial(
    tie_study: optuna.Study, tmp_path: Path
) -> None:
    files = write_report(tie_study, tmp_path / "out", FACTS)
    out = tmp_path / "out"
    assert {p.name for p in files.files} == {
        "trials.csv", "pareto.csv", "pareto.md", "report.json", "report.html",
        "pareto_epf_top1.png", "pareto_epf_params_m.png", "pareto_params_m_top1.png",
    }  # fmt: skip
    assert (files.front_size, files.tied, files.trials) == (2, 1, 7)
    front = {t.number for t in pareto_front(tie_study)}

    every = pd.read_csv(out / "trials.csv", dtype={"tied_with": str, "top1_seeds": str})
    assert list(every["number"]) == [0, 1, 2, 3, 4, 5, 6]
    assert set(every[every["pareto"]]["number"]) == front
    assert list(every[every["tied"]]["number"]) == [2]
    assert str(every.loc[2, "tied_with"]) == "0" and every.loc[2, "top1_seeds"] == "89;90.5;91.5"
    assert every.loc[4, "reused_from"] == 0 and not every.loc[5, "feasible"]

    listed = pd.read_csv(out / "pareto.csv")  # the front, then the trials tied with it
    assert list(listed["number"]) == [0, 1, 2]
    assert set(listed[listed["pareto"]]["number"]) == front
    assert list(listed["tied"]) == [False, False, True]

    document = json.loads((out / "report.json").read_text())
    assert {row["number"] for row in document["pareto"]} == front
    assert [row["number"] for row in document["tied"]] == [2]
    assert document["tied"][0]["tied_with"] == [0] and document["tie_rule"] == TIE_RULE
    assert document["facts"] == FACTS
    assert document["objectives"][1]["name"] == "top1"
    assert document["objectives"][1]["direction"] == "maximize"
    assert document["trials"][4]["reused_from"] == 0

    markdown = (out / "pareto.md").read_text()
    rows = [  # the cells of each table row, padding aside
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]
    assert ["#0", "mobilenet_v1", "G=1", "10.0 (9.8–10.3)", "91.0 (90.0–92.0)", "4.20"] in [
        row[:6] for row in rows
    ]
    numbers = [row[0] for row in rows]
    assert "#2" in numbers and "tied with #0" in markdown and TIE_RULE in markdown
    assert "#3" not in numbers and "#6" not in numbers

    for png in out.glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


def test_page_is_self_contained_and_opens_with_the_facts(
    tie_study: optuna.Study, tmp_path: Path
) -> None:
    write_report(tie_study, tmp_path, FACTS)
    page = (tmp_path / "report.html").read_text()
    # Offline: plotly's script is inside; nothing is fetched from anywhere.
    assert "plotly.js v" in page[:20_000]
    assert "<script src" not in page and "<link" not in page
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.DOTALL)  # the page, not plotly's
    assert not re.search(r"https?:|//cdn", markup)
    assert page.index("NVIDIA H200") < page.index("The Pareto front") < page.index("pareto-plot")
    assert page.index("pareto-plot") < page.index("All complete trials")
    assert TIE_RULE.replace("'", "&#x27;") in page
    assert "energy per frame (mJ), lower is better" in page
    assert "10.2 (10.1–10.4)" in page and "tied with #0" in page
    assert "1.963e+06" not in page and "top1_spread" not in page


def test_png_and_plot_titles_are_words(tie_study: optuna.Study) -> None:
    titles = [p.title for p in projections_of(objectives_of(tie_study))]
    assert titles == [
        "Top-1 accuracy vs energy per frame",
        "Parameters vs energy per frame",
        "Top-1 accuracy vs parameters",
    ]


def test_the_score_and_time_objectives_are_named_in_words(
    builder: Callable[..., object], tmp_path: Path
) -> None:
    made = builder("epf_model")
    made.add(1_963_000.0, (1_963_000.0, 1_963_000.0), [90.0], 4.2, epf_unit="model")
    write_report(made.study, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "Eq. 1 score per frame (model units)" in page and "1.96 M" in page


@pytest.fixture
def umask_027() -> Iterator[None]:
    before = os.umask(0o027)
    yield
    os.umask(before)


@pytest.mark.usefixtures("umask_027")
def test_files_get_the_users_umask(tie_study: optuna.Study, tmp_path: Path) -> None:
    files = write_report(tie_study, tmp_path)
    assert {stat.S_IMODE(p.stat().st_mode) for p in files.files} == {0o640}


def test_a_study_without_complete_trials_writes_nothing(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["minimize", "maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    with pytest.raises(GsearchError, match="has no complete trial to report yet"):
        write_report(study, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder_is_one_clear_error(tie_study: optuna.Study, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(GsearchError, match="report folder .* is not writable"):
        write_report(tie_study, locked / "out")


def test_a_file_in_the_way_is_one_clear_error(tie_study: optuna.Study, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(GsearchError, match="report folder .* is not writable"):
        write_report(tie_study, tmp_path / "file" / "out")


def gsearch_study(tmp_path: Path, complete: bool) -> str:
    """An SQLite storage holding study "s" as gsearch leaves it, with one trial."""
    url = f"sqlite:///{tmp_path / 'gsearch.db'}"
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(
        study_name="s", storage=storage, directions=["minimize", "maximize", "minimize"]
    )
    study.set_metric_names(["epf_mj", "top1", "params_m"])
    # What gsearch records on a study it made (a study without it is another program's).
    storage.set_study_system_attr(storage.get_study_id_from_name("s"), "gsearch:space", "e2gc")
    if complete:
        study.add_trial(optuna.trial.create_trial(values=[10.0, 90.0, 4.2]))
    else:
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    return url


def report_cli(url: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gsearch.cli", "report", "--storage", url, "--study", "s",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_on_a_study_without_complete_trials(tmp_path: Path) -> None:
    result = report_cli(gsearch_study(tmp_path, complete=False), tmp_path / "report")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: study 's' has no complete trial to report yet: run trials first (gsearch run)"
    ]
    assert not (tmp_path / "report").exists()


def test_cli_unwritable_out_and_a_report(tmp_path: Path) -> None:
    url = gsearch_study(tmp_path, complete=True)
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = report_cli(url, tmp_path / "blocker" / "report")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert f"report folder {tmp_path}/blocker/report is not writable" in result.stderr
    done = report_cli(url, tmp_path / "report")
    assert done.returncode == 0, done.stderr
    assert "1 trials, 1 on the Pareto front and 0 tied with it" in done.stdout
    assert (tmp_path / "report" / "report.html").exists()
