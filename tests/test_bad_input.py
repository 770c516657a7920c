"""The bad-input table of the README: each case is one clear line on stderr and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD_SPACE = """
models = ["tiny_convnet"]
[policy]
kind = "group_size"
values = [1, 2]
[defaults]
dataset = "synthetic"
"""


def gsearch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gsearch.cli", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def one_line_exit_2(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--space", "e3gc"], "unknown search space 'e3gc': known spaces are e2gc"),
        (["table", "--policy", "G=eight"], "malformed policy 'G=eight': expected G=<int>"),
        (["table", "--model", "resnext50", "--policy", "G=3"], "G=3 does not fit layer layer1.0.conv2 (m=128"),
        (["run", "--space", "e2gc", "--trials", "-5"], "--trials: expected a positive integer, got -5"),
        (["run", "--space", "e2gc", "--sampler", "annealing"], "unknown sampler 'annealing'; allowed: nsga2, tpe"),
        (["run", "--space", "e2gc", "--dataset", "imagenet", "--data-root", "/nonexistent/imagenet"], "/nonexistent/imagenet"),
        (["run", "--space", "e2gc", "--device", "cuda:99"], "cuda:99 requested but torch sees"),
        (["run", "--space", "e2gc", "--device", "gpu"], "unknown device 'gpu': use cuda:N or cpu"),
        (["run", "--space", "e2gc", "--fidelity", "medium"], "unknown fidelity 'medium'"),
    ],
)  # fmt: skip
def test_bad_input_table(tmp_path: Path, args: list[str], expected: str) -> None:
    one_line_exit_2(gsearch(tmp_path, *args), expected)


def test_a_space_whose_values_fit_no_layer(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(GOOD_SPACE.replace("[1, 2]", "[3, 5]"))
    one_line_exit_2(
        gsearch(tmp_path, "run", "--space", "bad.toml"),
        "search space bad.toml: none of [3, 5] fits tiny_convnet",
    )


def test_unwritable_report_folder(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(GOOD_SPACE)
    run = gsearch(tmp_path, "run", "--space", "tiny.toml", "--trials", "1", "--energy", "model",
                  "--recipe", "epochs=1", "--quiet")  # fmt: skip
    assert run.returncode == 0, run.stderr
    (tmp_path / "blocker").write_text("a file, not a folder")
    one_line_exit_2(
        gsearch(tmp_path, "report", "--out", "blocker/report"),
        "report folder blocker/report is not writable",
    )


def test_corrupt_sqlite_file_is_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "studies" / "gsearch.db"
    db.parent.mkdir()
    db.write_bytes(b"\x00garbage" * 512)
    before = db.read_bytes()
    one_line_exit_2(gsearch(tmp_path, "run", "--space", "e2gc"), "is not an SQLite database")
    one_line_exit_2(gsearch(tmp_path, "report"), "is not an SQLite database")
    assert db.read_bytes() == before
