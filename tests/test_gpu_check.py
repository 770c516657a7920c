"""The GPU check's dry run: every stage end to end on the CPU, so no GPU minute is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_every_stage_of_the_gpu_check_runs_on_the_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "GPU_CHECK_DEVICE": "cpu", "OUT": str(tmp_path),
           "GPU_CHECK_PYTHON": sys.executable}  # fmt: skip
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=900)  # fmt: skip
    log = (tmp_path / "gpu_check.log").read_text()
    assert done.returncode == 0, log[-3000:]
    assert "gpu_check: every stage ran" in log
    search = json.loads((tmp_path / "search_check.json").read_text())
    assert search["ok"] and search["interrupt"]["exit"] == 130
    assert any(epoch > 0 for epoch in search["resume"]["resumed_from_epochs"])
    assert search["workers"]["exit"] == 2
    for model in ("mobilenet_v1", "resnext50"):
        rows = json.loads((tmp_path / f"paper_b1_{model}.json").read_text())
        assert len(rows) == 11 and all(r["status"] == "ok" and r["batch"] == 1 for r in rows)
    assert (tmp_path / "calibrate" / "results.json").exists()
