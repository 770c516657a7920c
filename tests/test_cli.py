from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from gsearch.cli import main


def test_table_json_lists_the_papers_11_variants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--model", "mobilenet_v1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["policy"] for r in rows] == [
        "G=1", "G=2", "G=4", "G=8", "G=16", "G=32", "g=2", "g=4", "g=8", "g=16", "g=32"
    ]  # fmt: skip
    assert rows[0] == {
        "model": "mobilenet_v1",
        "policy": "G=1",
        "resolution": 224,
        "params": 4_210_088,
        "params_with_bn": 4_231_976,
        "macs": 568_740_352,
    }


def test_table_csv_and_per_layer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--model", "tiny_convnet", "--policy", "G=8", "--per-layer",
                 "--resolution", "32", "--format", "csv"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("model,policy,resolution,params,params_with_bn,macs,layer_name")
    assert len(lines) == 1 + 8  # stem, 3 x (grouped, pointwise), classifier


def test_table_renders_a_rich_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--model", "resnext50", "--policy", "g=32"]) == 0
    out = capsys.readouterr().out
    assert "24.961" in out and "4,230.48" in out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gsearch.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["table", "--model", "mobilenet_v1", "--policy", "G=3"],
         "G=3 does not fit layer blocks.0.grouped.0 (m=32, n=32): "
         "valid G for this model are 1, 2, 4"),
        (["table", "--model", "vgg16"], "unknown model 'vgg16': known models are mobilenet_v1"),
        (["table", "--policy", "G=x"], "malformed policy 'G=x'"),
        (["table", "--resolution", "-3"], "expected pixels from 1 to 1024, got -3"),
        (["frobnicate"], "invalid choice"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_library_log_lines_reach_stderr_once_and_quiet_keeps_warnings(capsys) -> None:
    import logging

    from gsearch.cli import _show_library_logs

    log = logging.getLogger("gsearch.search.loop")
    _show_library_logs(quiet=False)
    _show_library_logs(quiet=False)  # a second command in one process adds no second handler
    log.info("energy source: time (test)")
    assert capsys.readouterr().err == "energy source: time (test)\n"
    _show_library_logs(quiet=True)
    log.info("hidden by --quiet")
    log.warning("skipped 2 unreadable images")
    assert capsys.readouterr().err == "skipped 2 unreadable images\n"


def test_an_explicit_device_is_one_process_on_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    import torch

    import gsearch.cli.run
    import gsearch.energy.select
    import gsearch.search
    import gsearch.workers
    from gsearch.search import RunConfig
    from gsearch.spaces import load_space

    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setattr(gsearch.cli.run, "_gpu_count", lambda: 4)  # a host with four GPUs
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(
        gsearch.energy.select,
        "resolve_device",
        lambda text: torch.device(
            "cuda", 0 if text == "auto" else int(text.partition(":")[2] or 0)
        ),
    )
    started: list[tuple[str, Any]] = []

    def searched(config: Any, storage: Any = None) -> None:
        started.append(("search", config.device))
        raise KeyboardInterrupt  # stop where the work would start

    def workers(config: Any, count: int | None, storage: Any = None) -> int:
        started.append(("workers", gsearch.workers.worker_devices(config, count)))
        raise KeyboardInterrupt

    monkeypatch.setattr(gsearch.search, "run_search", searched)
    monkeypatch.setattr(gsearch.workers, "run_local_workers", workers)
    base = ["run", "--space", "e2gc", "--dataset", "synthetic", "--energy", "model", "--quiet"]
    # cuda:1 with the ladder: one process on cuda:1, the ladder allowed.
    assert main([*base, "--device", "cuda:1", "--fidelity", "ladder"]) == 130
    assert main([*base, "--device", "cuda"]) == 130  # named without an index: one process too
    assert main(base) == 130  # no device named: one worker per visible GPU
    assert started == [
        ("search", "cuda:1"),
        ("search", "cuda"),
        ("workers", ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]),
    ]
    space = load_space("e2gc")
    two = RunConfig(space=space, study="x", device="cuda:1", energy="model")
    assert gsearch.workers.worker_devices(two, 2) == ["cuda:1", "cuda:1"]
