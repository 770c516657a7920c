from __future__ import annotations

import json
from pathlib import Path

import pytest

from gsearch.cli import main


def test_fidelity_command_reports_spread_gap_and_tau(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["fidelity", "--model", "tiny_convnet", "--dataset", "synthetic", "--recipe", "epochs=1",
            "--seeds", "0,1", "--reference-epochs", "2", "--checkpoints", str(tmp_path),
            "--format", "json"]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["policy"] for row in report["rows"]] == ["G=1", "G=8", "G=32", "g=2", "g=16"]
    for row in report["rows"]:
        assert len(row["proxy_top1s"]) == 2
        assert row["proxy_spread_top1"] == max(row["proxy_top1s"]) - min(row["proxy_top1s"])
    assert report["reference"]["epochs"] == 2 and report["proxy"]["epochs"] == 1
    assert "kendall_tau" in report and "tau_meaningful" in report


def test_fidelity_rejects_a_policy_before_training(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fidelity", "--model", "tiny_convnet", "--space", "e2gc"]) == 2
    assert "is not in search space e2gc" in capsys.readouterr().err
