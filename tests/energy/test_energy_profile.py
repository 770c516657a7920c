"""`gsearch profile`: the library call, its renderings, the paper's columns and the CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console

from gsearch.cli import main
from gsearch.errors import GsearchError
from gsearch.paper import paper_epf_mj, paper_models
from gsearch.profile import parse_batches, profile, render_table, to_csv, to_json

QUICK = {"repeats": 2, "window_s": 0.02, "warmup_s": 0.0, "resolution": 16}


def test_paper_numbers_are_tables_iii_and_iv():
    assert paper_models() == ["mobilenet_v1", "resnext50"]
    assert paper_epf_mj("mobilenet_v1", "G=1", 1, "P100") == 689
    assert paper_epf_mj("mobilenet_v1", "G=32", 16, "P4000") == 480
    assert paper_epf_mj("resnext50", "g=32", 4, "P100") == 766
    assert paper_epf_mj("resnext50", "G=2", 1, "P4000") == 4661
    assert paper_epf_mj("resnext50", "G=2", 64, "P4000") is None
    assert paper_epf_mj("tiny_convnet", "G=1", 1, "P100") is None


def test_parse_batches():
    assert parse_batches("1,4,16") == [1, 4, 16]
    assert parse_batches("4,4,1") == [4, 1]
    for bad in ("", "0", "1,x"):
        with pytest.raises(GsearchError):
            parse_batches(bad)


def test_profile_renders_table_json_and_csv(tmp_path):
    report = profile(
        "tiny_convnet",
        ["G=1", "g=2"],
        [1, 2],
        device="cpu",
        energy="model",
        num_classes=10,
        cache_dir=tmp_path,
        **QUICK,
    )
    assert [(r.result.policy, r.result.batch) for r in report.rows] == [
        ("G=1", 1),
        ("G=1", 2),
        ("g=2", 1),
        ("g=2", 2),
    ]
    objects = json.loads(to_json(report))
    for key in ("model", "policy", "batch", "epf", "epf_low", "epf_high", "unit", "source"):
        assert key in objects[0]
    assert objects[0]["unit"] == "model" and objects[0]["ms_per_frame"] > 0
    assert "window_ticks" not in objects[0] and len(objects[0]["window_starts_s"]) == 2
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == 4 and rows[0]["cpu_model"]
    console = Console(width=160, record=True)
    console.print(render_table(report))
    text = console.export_text()
    assert "tiny_convnet: EPF per frame (model)" in text and "g=2" in text


def test_paper_mode_measures_the_eleven_variants_beside_the_papers_columns(tmp_path):
    report = profile(
        "mobilenet_v1",
        None,
        [1],
        paper=True,
        device="cpu",
        energy="model",
        num_classes=10,
        cache_dir=None,
        **{**QUICK, "repeats": 1, "resolution": 64},
    )
    assert [r.result.policy for r in report.rows][:2] == ["G=1", "G=2"]
    # both passes side by side: the paper's columns beside the training rows only
    assert len(report.rows) == 22 and all(r.result.status == "ok" for r in report.rows)
    assert [r.pass_ for r in report.rows] == ["training"] * 11 + ["inference"] * 11
    assert report.rows[5].paper_p100_mj == 363 and report.rows[5].paper_p4000_mj == 648
    assert report.rows[16].paper_p100_mj is None
    console = Console(width=200, record=True)
    console.print(render_table(report))
    text = console.export_text()
    assert "P100 mJ" in text and "inference" in text


def test_cli_profile_json(tmp_path, capsys):
    argv = ["profile", "--model", "tiny_convnet", "--policy", "G=2", "--batch", "1,2"]
    argv += ["--device", "cpu", "--energy", "model", "--resolution", "16", "--repeats", "2"]
    argv += ["--window", "0.02", "--warmup", "0", "--cache-dir", str(tmp_path), "--format", "json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    objects = json.loads(captured.out)
    assert [(o["policy"], o["batch"], o["unit"]) for o in objects] == [
        ("G=2", 1, "model"),
        ("G=2", 2, "model"),
    ]
    assert "energy source: model" in captured.err
    assert main(argv) == 0  # the second time from the cache
    assert all(o["cached"] for o in json.loads(capsys.readouterr().out))


def test_a_failing_step_names_the_row():
    # batch 1 at 16 px leaves a 1x1 map: BatchNorm cannot train on a single value
    with pytest.raises(GsearchError, match="mobilenet_v1 G=1 at batch 1, 16 px"):
        profile("mobilenet_v1", ["G=1"], [1], device="cpu", energy="model", cache_dir=None, **QUICK)


def test_cli_energy_nvml_without_gpu_is_one_line(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["profile", "--model", "tiny_convnet", "--energy", "nvml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: NVML found no NVIDIA device")
    assert "--energy auto would choose 'time'" in err
