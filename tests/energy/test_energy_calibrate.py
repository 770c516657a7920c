"""The time meter, the inference pass, calibration (measure, resume, load, refuse) and the
predictor, on this machine's CPU for real."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from gsearch.calibration_plan import (
    calibration_target,
    layer_breakdown,
    layer_choices,
    policy_layers,
    rest_network,
)
from gsearch.cli import main
from gsearch.energy.calibrate import (
    ANCHOR,
    REST,
    Calibration,
    calibrate,
    calibration_path,
    load_calibration,
    write_csv,
)
from gsearch.energy.epf import PROTOCOL_VERSION, EpfProtocol, architecture_fingerprint, open_session
from gsearch.energy.facts import software_facts
from gsearch.energy.meter import SystemClock
from gsearch.energy.predict import FORMULATIONS, predict_epf
from gsearch.energy.steps import LayerBench, StepConfig, make_runner
from gsearch.energy.walltime import TimeMeter
from gsearch.errors import GsearchError
from gsearch.models import create_model
from gsearch.profile import profile
from gsearch.spaces import load_space
from tests.energy.fake_calibration import write_calibration

QUICK = EpfProtocol(repeats=2, window_s=0.02, warmup_s=0.0, idle_s=0.01)
STEP = StepConfig(batch=2, resolution=32, num_classes=10)


class StepClock:
    def __init__(self) -> None:
        self.t = 10.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def test_time_meter_charges_a_window_its_milliseconds():
    clock = StepClock()
    meter = TimeMeter(clock)
    meter.begin()
    clock.sleep(0.25)
    measurement = meter.end()
    assert measurement.energy == pytest.approx(250.0) and measurement.unit == "ms"
    assert measurement.source == "time" and measurement.power_w is None
    with pytest.raises(GsearchError, match="not joules"):
        _ = measurement.joules
    with pytest.raises(GsearchError, match="without begin"):
        meter.end()


def test_time_session_reports_ms_per_frame(tmp_path):
    with open_session("cpu", "time") as session:
        assert session.unit == "ms" and session.source == "time"
    report = profile(
        "tiny_convnet",
        ["G=1"],
        [2],
        device="cpu",
        energy="time",
        repeats=2,
        window_s=0.02,
        warmup_s=0.0,
        resolution=32,
        num_classes=10,
        cache_dir=None,
        passes=["training", "inference"],
    )
    training, inference = (row.result for row in report.rows)
    assert [row.pass_ for row in report.rows] == ["training", "inference"]
    for row in (training, inference):
        assert row.unit == "ms" and row.source == "time" and row.power_w is None
        # the time meter's "EPF" on the CPU is the measuring thread's CPU ms per frame: one
        # thread computes no longer than the wall clock runs (ms_per_frame stays wall time)
        assert row.epf_alone is not None and 0 < row.epf_alone <= row.ms_per_frame * 1.01
        assert row.dynamic_epf is None


@pytest.mark.parametrize("pass_", ["training", "inference"])
def test_layer_bench_runs_the_pass_asked_for(pass_):
    bench = LayerBench(torch.nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False), (8, 6, 6))
    config = StepConfig(batch=3, resolution=16, pass_=pass_)
    runner = make_runner(bench, config, torch.device("cpu"), SystemClock())
    runner.launch()
    step = runner.step
    if pass_ == "training":
        assert step.inputs.grad is not None and bench.layer.weight.grad is not None
    else:
        assert bench.layer.weight.grad is None and step.inputs.is_inference()
    with pytest.raises(GsearchError, match="unknown pass"):
        StepConfig(batch=1, pass_="deploy")


def test_layer_choices_follow_the_space():
    e2gc = layer_choices("mobilenet_v1", load_space("e2gc"), 224)
    assert e2gc[0] == [1, 2, 4, 8, 16, 32]  # m=32: G=1..32 give g=32..1, G=64 gives g=1
    assert e2gc[-1] == [16, 32, 64, 128, 256, 512, 1024]  # m=1024: G=1..64
    every = layer_choices("mobilenet_v1", None, 224)
    assert every[-1] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    layers = policy_layers("mobilenet_v1", "G=8", 224)
    assert (layers[1].stride, layers[1].in_h, layers[1].groups) == (2, 112, 8)


def test_rest_network_keeps_every_shape():
    rest = rest_network("mobilenet_v1", 32, num_classes=10)
    assert rest is not None
    assert rest(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    grouped = [m for m in rest.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert grouped == []


@pytest.mark.slow
def test_calibrate_resume_load_predict_and_refuse(tmp_path):
    target = calibration_target("tiny_convnet", load_space("e2gc"), resolution=32, num_classes=10)
    with open_session("cpu", "time") as session:
        calls: list[tuple[int, int, str]] = []
        calibration = calibrate(
            session,
            target,
            STEP,
            QUICK,
            directory=tmp_path,
            progress=lambda *a: calls.append(a),
        )
        facts = session.facts
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1]
    assert set(calibration.networks) == {REST, ANCHOR} and calibration.unit == "ms"
    assert calibration.device_s > 0
    # an interrupted run: drop one layer, and the rerun measures that one only
    path = calibration.path
    assert path is not None and path == calibration_path(tmp_path, calibration.key)
    data = json.loads(path.read_text())
    dropped = sorted(data["layers"])[0]
    del data["layers"][dropped]
    path.write_text(json.dumps(data))
    with open_session("cpu", "time") as session:
        calls.clear()
        resumed = calibrate(
            session, target, STEP, QUICK, directory=tmp_path, progress=lambda *a: calls.append(a)
        )
    assert calls[0][0] == calls[0][1] - 1 and dropped in resumed.layers
    assert [p.name for p in (tmp_path / "calibration").iterdir()] == [path.name]

    loaded = load_calibration(tmp_path, "tiny_convnet", facts, batch=2, resolution=32)
    anchor = policy_layers("tiny_convnet", target.anchor_policy, 32)
    at_anchor = predict_epf(loaded, anchor, "anchor")
    assert at_anchor.epf == pytest.approx(loaded.network_epf(ANCHOR))
    assert at_anchor.source == "predicted-time" and at_anchor.unit == "ms"
    assert predict_epf(loaded, anchor, "scaled").epf == pytest.approx(at_anchor.epf)
    for formulation in FORMULATIONS:
        predict_epf(loaded, policy_layers("tiny_convnet", "G=8", 32), formulation)
    prediction, shares = layer_breakdown("tiny_convnet", "G=4", loaded, resolution=32)
    assert len(shares) == 3 and sum(s.macs_share for s in shares) < 1
    assert all(s.epf > 0 and s.ai > 0 for s in shares) and prediction.epf > 0
    csv_path = write_csv(loaded, tmp_path / "table.csv")
    assert len(csv_path.read_text().splitlines()) == 1 + len(loaded.layers) + 2

    with pytest.raises(GsearchError, match="gsearch calibrate --model tiny_convnet"):
        load_calibration(tmp_path, "tiny_convnet", facts, batch=8, resolution=32)
    with pytest.raises(GsearchError, match="refused"):
        load_calibration(
            tmp_path, "tiny_convnet", {**facts, "torch": "0.1"}, batch=2, resolution=32
        )
    with pytest.raises(GsearchError, match="no entry for layer"):
        predict_epf(loaded, [replace(anchor[0], groups=3), *anchor[1:]])


def test_calibration_refuses_the_eq1_score(tmp_path):
    target = calibration_target("tiny_convnet", None, resolution=32, num_classes=10)
    with open_session("cpu", "model") as session, pytest.raises(GsearchError, match="not a meas"):
        calibrate(session, target, STEP, QUICK, directory=tmp_path)


def test_cli_predicted_without_calibration_names_the_command(tmp_path, capsys):
    argv = ["profile", "--model", "tiny_convnet", "--energy", "predicted", "--device", "cpu"]
    assert main([*argv, "--batch", "4", "--resolution", "32", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no calibration of tiny_convnet at batch 4, 32 px")
    assert "gsearch calibrate --model tiny_convnet --device cpu --batch 4 --resolution 32" in err
    assert not (tmp_path / "calibration").exists()


def test_cli_explicit_rapl_without_rapl_is_one_line(capsys):
    from gsearch.energy.rapl import POWERCAP_ROOT, find_package_domains

    if find_package_domains(POWERCAP_ROOT)[0]:
        pytest.skip("RAPL is readable here")
    assert main(["calibrate", "--model", "tiny_convnet", "--energy", "rapl"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: RAPL is not available") and "\n" not in err


def test_a_calibration_of_another_format_is_refused_by_its_format(tmp_path):
    with pytest.raises(GsearchError, match="has format 1, this gsearch reads format 2"):
        Calibration.from_dict({"format": 1, "device_seconds": 3.0}, tmp_path / "old.json")
    with pytest.raises(GsearchError, match="is not a gsearch calibration"):
        Calibration.from_dict({"layers": {}}, tmp_path / "other.json")


def test_cli_csv_that_cannot_be_written_is_one_line_and_keeps_the_calibration(
    tmp_path, capsys, monkeypatch
):
    # A folder where the CSV goes is refused before measuring (tests/test_bad_input.py);
    # here one appears while the calibration runs, so only the final write fails.
    import gsearch.energy.calibrate as calibrate_module

    blocker = tmp_path / "a-folder.csv"
    measure = calibrate_module.calibrate

    def calibrate_then_block(*args, **kwargs):
        calibration = measure(*args, **kwargs)
        blocker.mkdir()
        return calibration

    monkeypatch.setattr(calibrate_module, "calibrate", calibrate_then_block)
    status = main(
        [
            "calibrate", "--model", "tiny_convnet", "--resolution", "32",
            "--batch", "2", "--energy", "time", "--repeats", "1", "--window", "0.02",
            "--warmup", "0", "--cache-dir", str(tmp_path / "cache"), "--quiet",
            "--csv", str(blocker),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("error: cannot write CSV") and err[-1].endswith("pass another --csv")
    assert list((tmp_path / "cache" / "calibration").glob("*.json"))  # the table itself is kept


# A GPU's facts as a time meter records them (no NVML: no UUID, driver or power limit)
# and as the NVML meter does.
GPU_FACTS = {"device": "cuda:0", "gpu_name": "NVIDIA H200", **software_facts()}
NVML_FACTS = {
    **GPU_FACTS,
    "gpu_uuid": "GPU-5f6e0a1b-0000-1111-2222-333344445555",
    "driver": "580.159.04",
    "power_limit_w": 700.0,
}


def test_a_time_calibration_is_refused_for_an_nvml_session_naming_both(tmp_path):
    write_calibration(tmp_path, GPU_FACTS, "time")
    with pytest.raises(GsearchError) as caught:
        load_calibration(tmp_path, "tiny_convnet", NVML_FACTS, batch=2, resolution=32,
                         source="nvml", num_classes=10)  # fmt: skip
    message = str(caught.value)
    assert "energy source time, not nvml: it is refused" in message and "\n" not in message
    assert "gsearch calibrate --model tiny_convnet --device cuda:0" in message
    assert "--energy nvml" in message
    # the time session of that GPU takes it, in its own unit
    loaded = load_calibration(tmp_path, "tiny_convnet", GPU_FACTS, batch=2, resolution=32,
                              source="time", num_classes=10)  # fmt: skip
    assert loaded.unit == "ms"


@pytest.mark.parametrize(
    ("written", "wanted", "words"),
    [
        ({"step": StepConfig(2, 32, mode="eager", num_classes=10)}, {}, "step mode eager, not graph"),
        ({"step": StepConfig(2, 32, channels_last=True, num_classes=10)}, {},
         "channels_last True, not False"),
        ({"step": StepConfig(2, 32, num_classes=1000)}, {}, "num_classes 1000, not 10"),
        ({"key_changes": {"protocol": {**EpfProtocol().key(), "version": 1}}}, {},
         f"protocol version 1, not {PROTOCOL_VERSION}"),
        ({"protocol": EpfProtocol(window_s=0.25)}, {"protocol": EpfProtocol()},
         "protocol window_s 0.25, not 1.0"),
        ({}, {"mode": "eager"}, "step mode graph, not eager"),
    ],
)  # fmt: skip
def test_every_input_that_changes_a_calibrated_number_is_compared(tmp_path, written, wanted, words):
    write_calibration(tmp_path, NVML_FACTS, "nvml", **written)
    with pytest.raises(GsearchError) as caught:
        load_calibration(tmp_path, "tiny_convnet", NVML_FACTS, batch=2, resolution=32,
                         source="nvml", num_classes=10, **wanted)  # fmt: skip
    message = str(caught.value)
    assert f"was measured with {words}" in message and "it is refused" in message
    assert "\n" not in message


def test_calibrate_builds_its_networks_as_the_search_builds_them():
    target = calibration_target("tiny_convnet", None, resolution=48)
    assert target.num_classes == 10  # the default search's dataset (digits), not 1000
    searched = create_model("tiny_convnet", target.anchor_policy, num_classes=10, resolution=48)
    assert architecture_fingerprint(target.build_anchor()) == architecture_fingerprint(searched)
    assert target.build_rest is not None
    assert target.build_rest()(torch.randn(2, 3, 48, 48)).shape == (2, 10)
    imagenet = calibration_target("tiny_convnet", None, resolution=48, num_classes=1000)
    assert imagenet.build_anchor()(torch.randn(1, 3, 48, 48)).shape == (1, 1000)
