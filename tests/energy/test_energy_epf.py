"""The EPF protocol end to end: on the simulated GPU (fake NVML) and for real on the CPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from fake_nvml import PowerTrace, SimRunner
from rich.console import Console
from torch import nn

from benchmarks.ticks import diagnose_rows
from gsearch.candidates import registry_candidate
from gsearch.costmodel import model_score_per_frame
from gsearch.energy.cache import EpfCache
from gsearch.energy.epf import (
    Candidate,
    EnergySession,
    EpfProtocol,
    EpfResult,
    default_protocol,
    measure_candidates,
    open_session,
)
from gsearch.energy.meter import EnergyChoice
from gsearch.energy.nvml import NvmlMeter
from gsearch.energy.steps import StepConfig, make_runner
from gsearch.errors import GsearchError

IDLE_W, BUSY_W = 120.0, 320.0
FAST = EpfProtocol(repeats=5, window_s=0.5, warmup_s=0.5, idle_s=0.5)


class Net(nn.Module):
    """A small conv net that also says how long its step takes on the simulated GPU."""

    def __init__(self, channels: int, gpu_s_per_frame: float, memory: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(channels, 10)
        self.gpu_s_per_frame = gpu_s_per_frame
        self.memory = memory

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean((2, 3)))


def _candidate(name: str, channels: int, gpu_s: float, memory: float = 1.0) -> Candidate:
    return Candidate("net", name, lambda: Net(channels, gpu_s, memory))


class MemoryRunner(SimRunner):
    """A simulated runner that holds device memory until released."""

    pool: ClassVar[dict[str, float]] = {"used": 0.0, "capacity": 1e9}
    log: ClassVar[list[str]] = []

    def __init__(self, device, model: Net, config: StepConfig, name: str) -> None:
        need = model.memory * config.batch
        if self.pool["used"] + need > self.pool["capacity"]:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.pool["used"] += need
        self.need = need
        self.name = name
        super().__init__(device, model.gpu_s_per_frame * config.batch, batch=config.batch)

    def start_record(self) -> None:
        self.log.append(self.name)
        super().start_record()

    def release(self) -> None:
        self.pool["used"] -= self.need


@pytest.fixture
def sim_session(sim_gpu):
    def make(trace=None, capacity=1e9, **options):
        options.setdefault("read_cost_s", 60e-6)
        device, clock, _ = sim_gpu(trace or PowerTrace(idle_w=IDLE_W, busy_w=BUSY_W), **options)
        meter = NvmlMeter(0, clock=clock, visible=None)
        session = EnergySession(
            torch.device("cpu"), meter, EnergyChoice("nvml", "simulated"), clock
        )
        MemoryRunner.pool = {"used": 0.0, "capacity": capacity}
        MemoryRunner.log = []

        def factory(model, config, torch_device, clock):
            return MemoryRunner(device, model, config, str(model.body[0].out_channels))

        return device, session, factory

    return make


def test_protocol_on_the_simulated_gpu(sim_session):
    _device, session, factory = sim_session()
    candidates = [_candidate("a", 4, 0.002), _candidate("b", 8, 0.0005), _candidate("c", 6, 0.03)]
    rows = measure_candidates(
        session, candidates, [1, 4], StepConfig(batch=1, resolution=8), FAST, runner_factory=factory
    )
    assert [(r.policy, r.batch) for r in rows] == [(p, b) for p in "abc" for b in (1, 4)]
    for row, candidate in zip(rows, [c for c in candidates for _ in (1, 4)], strict=True):
        gpu_s = {"a": 0.002, "b": 0.0005, "c": 0.03}[candidate.policy]
        assert row.status == "ok" and row.unit == "mJ" and row.source == "nvml"
        assert row.method == "aligned" and len(row.epf_windows) == 5
        assert row.epf == pytest.approx(BUSY_W * gpu_s * 1e3, rel=0.01)  # mJ per frame
        assert row.epf_low <= row.epf <= row.epf_high
        assert row.confidence == pytest.approx(0.9375)
        assert row.spread < 0.01
        assert row.ms_per_frame == pytest.approx(gpu_s * 1e3, rel=0.01)
        assert row.power_w == pytest.approx(BUSY_W, rel=0.01)
        assert row.idle_power_w == pytest.approx(IDLE_W, rel=0.01)
        assert row.dynamic_epf == pytest.approx((BUSY_W - IDLE_W) * gpu_s * 1e3, rel=0.02)
        assert row.facts["gpu_name"] == "NVIDIA H200" and row.facts["driver"] == "580.159.04"
        assert row.facts["torch"] == torch.__version__
        assert row.temperature_before_c == 41.0 and row.temperature_after_c == 41.0
        assert 0 < row.device_s < 10
        # per window: when it opened, the temperature after it, the counter's ticks
        assert row.window_temperatures_c == (41.0,) * 5
        assert len(row.window_starts_s) == len(row.window_ticks) == 5
        for ticks, epf in zip(row.window_ticks, row.epf_windows, strict=True):
            _seconds, joules, steps = ticks[-1]
            assert joules / (steps * row.batch) * 1e3 == pytest.approx(epf)
        assert EpfResult.from_dict(json.loads(json.dumps(row.to_dict()))) == row
    starts = sorted(s for row in rows for s in row.window_starts_s)
    assert len(set(starts)) == len(starts) == 30  # one clock orders a session's windows
    # interleaved: after preparing a, b, c, the rounds go abc, bca, cab, abc, bca
    windows = MemoryRunner.log[3:18]
    assert "".join({"4": "a", "8": "b", "6": "c"}[n] for n in windows) == "abcbcacababcbca"


def test_reference_window_agrees_with_the_aligned_protocol(sim_session):
    _, session, factory = sim_session()
    candidates = [_candidate("a", 4, 0.0137)]
    step = StepConfig(batch=1, resolution=8)
    reference = EpfProtocol.reference_protocol(warmup_s=0.5, idle_s=0.5)
    ref = measure_candidates(session, candidates, [2], step, reference, runner_factory=factory)[0]
    assert ref.method == "plain" and len(ref.epf_windows) == 1
    assert ref.window_ticks == () and len(ref.window_starts_s) == 1
    fast = measure_candidates(session, candidates, [2], step, FAST, runner_factory=factory)[0]
    assert ref.epf == pytest.approx(BUSY_W * 0.0137 * 1e3, rel=0.005)  # 0.1 s tick / 20 s
    assert fast.epf == pytest.approx(ref.epf, rel=0.01)


def test_memory_chunks_and_out_of_memory_rows(sim_session):
    _, session, factory = sim_session(capacity=10.0)
    candidates = [
        _candidate("a", 4, 0.001, memory=1.0),
        _candidate("b", 8, 0.001, memory=1.0),
        _candidate("huge", 6, 0.001, memory=100.0),
        _candidate("c", 5, 0.001, memory=1.0),
    ]
    protocol = EpfProtocol(repeats=2, window_s=0.3, warmup_s=0.2, idle_s=0.3)
    rows = measure_candidates(
        session,
        candidates,
        [4],
        StepConfig(batch=1, resolution=8),
        protocol,
        runner_factory=factory,
    )
    status = {r.policy: r.status for r in rows}
    assert status == {"a": "ok", "b": "ok", "huge": "oom", "c": "ok"}
    oom = next(r for r in rows if r.status == "oom")
    assert "out of memory" in oom.message and oom.epf is None
    assert MemoryRunner.pool["used"] == 0.0  # every prepared runner was released
    # a and b (4 + 4 of 10 units) are prepared and interleaved together; huge does not
    # fit beside them, so they are measured and released, then huge fails alone, then c.
    assert "".join(MemoryRunner.log) == "48" + "48" + "84" + "5" + "55"
    assert rows[0].epf == pytest.approx(BUSY_W * 0.001 * 1e3, rel=0.01)


def test_cpu_protocol_for_real_with_the_model_meter_and_cache(tmp_path):
    session = open_session("cpu", "model")
    assert session.unit == "model" and session.source == "model"
    candidates = [
        registry_candidate("tiny_convnet", "G=1", num_classes=10, resolution=16),
        registry_candidate("tiny_convnet", "g=2", num_classes=10, resolution=16),
    ]
    step = StepConfig(batch=1, resolution=16, num_classes=10)
    protocol = EpfProtocol(repeats=2, window_s=0.02, warmup_s=0.0, warmup_steps=1)
    cache = EpfCache(tmp_path)
    rows = measure_candidates(session, candidates, [1, 2], step, protocol, cache=cache)
    for row in rows:
        assert row.status == "ok" and row.unit == "model" and row.source == "model"
        assert row.mode == "eager" and row.method == "plain" and not row.cached
        with torch.device("meta"):
            model = candidates[0 if row.policy == "G=1" else 1].build()
        assert row.epf == pytest.approx(model_score_per_frame(model, 16, row.batch))
        assert row.spread == pytest.approx(0.0, abs=1e-12)
        assert row.power_w is None and row.dynamic_epf is None
        assert row.ms_per_frame > 0 and row.facts["cpu_model"]
    files = list((tmp_path / "epf").iterdir())
    assert len(files) == 4 and all(f.suffix == ".json" for f in files)
    assert json.loads(files[0].read_text())["row"]["unit"] == "model"

    built = []

    def counting(model, config, device, clock):
        built.append(config.batch)
        return make_runner(model, config, device, clock)

    again = measure_candidates(
        session, candidates, [1, 2], step, protocol, cache=cache, runner_factory=counting
    )
    assert built == [] and all(r.cached for r in again)
    assert [r.epf for r in again] == [r.epf for r in rows]
    measure_candidates(
        session, candidates[:1], [3], step, protocol, cache=cache, runner_factory=counting
    )
    assert built == [3]  # a new batch size is measured


def test_duplicate_candidates_are_refused():
    session = open_session("cpu", "model")
    twice = [registry_candidate("tiny_convnet", "G=1")] * 2
    with pytest.raises(GsearchError, match="twice"):
        measure_candidates(session, twice, [1])


def test_protocol_settings_are_checked():
    with pytest.raises(GsearchError):
        EpfProtocol(repeats=0)
    with pytest.raises(GsearchError):
        EpfProtocol(method="sloppy")
    with pytest.raises(GsearchError):
        StepConfig(batch=1, precision="fp8")
    assert EpfProtocol.reference_protocol().window_s == 20.0


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_train_step_precisions_and_memory_format(precision):
    from gsearch.energy.steps import TrainStep
    from gsearch.models import create_model

    config = StepConfig(
        batch=2,
        resolution=16,
        precision=precision,
        channels_last=True,
        optimizer_step=True,
        num_classes=10,
    )
    step = TrainStep(
        create_model("tiny_convnet", "G=1", num_classes=10), config, torch.device("cpu")
    )
    before = [p.detach().clone() for p in step.model.parameters()]
    step()
    first = step.inputs.clone()
    step()
    assert step.inputs.is_contiguous(memory_format=torch.channels_last)
    assert step.inputs.abs().sum() > 0 and not torch.equal(first, step.inputs)  # fresh data
    assert all(p.grad is not None for p in step.model.parameters())
    assert any(not torch.equal(b, p) for b, p in zip(before, step.model.parameters(), strict=True))


def test_cache_ignores_foreign_and_broken_files(tmp_path):
    cache = EpfCache(tmp_path)
    key = {"model": "m", "batch": 1}
    path = cache.put(key, {"epf": 1.5})
    assert cache.get(key) == {"epf": 1.5}
    assert cache.get({"model": "m", "batch": 2}) is None
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    path.write_text("{not json")
    assert cache.get(key) is None
    path.write_text(json.dumps({"key": {"model": "other"}, "row": {"epf": 9}}))
    assert cache.get(key) is None  # a colliding file for another key is not used


def test_out_of_memory_is_found_behind_a_capture_error():
    from gsearch.energy.steps import is_out_of_memory

    try:
        try:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        except torch.cuda.OutOfMemoryError:
            raise RuntimeError("operation failed due to a previous error during capture")  # noqa: B904
    except RuntimeError as error:
        assert is_out_of_memory(error)
    assert not is_out_of_memory(ValueError("shapes do not match"))


def test_diagnosis_of_a_session_whose_counter_publishes_late(sim_session):
    # The counter of this simulated GPU takes its energy every 100 ms and shows it 0-44 ms
    # later: the protocol's windows spread, the diagnosis says why and what fixes it.
    _, session, factory = sim_session(publish_delay_s=(0.0, 0.044), read_cost_s=3e-3)
    step_s = {"a": 0.002, "b": 0.0049, "c": 0.0011}
    candidates = [_candidate(name, 4 + k, gpu_s) for k, (name, gpu_s) in enumerate(step_s.items())]
    rows = measure_candidates(
        session, candidates, [4], StepConfig(batch=1, resolution=8), FAST, runner_factory=factory
    )
    found, grid = diagnose_rows(rows, 0.1)
    assert grid is not None and 8 < grid.residual_ms < 20  # 0-44 ms late: sd 12.7 ms
    assert set(found) == {"net a B=4", "net b B=4", "net c B=4"}
    for row in rows:
        diagnosis = found[f"net {row.policy} B=4"]
        truth = BUSY_W * step_s[row.policy] * 1e3
        assert row.spread > 0.02  # what the late publishing does to aligned windows
        assert diagnosis.ticks.alpha is not None and abs(diagnosis.ticks.alpha) < 0.2
        assert diagnosis.grid_spread < 0.005 and len(diagnosis.grid_epf_windows) == 5
        assert diagnosis.grid_epf == pytest.approx(truth, rel=0.005)
        assert diagnosis.temperature_c == (41.0, 41.0)
        # rounds abc, bca, cab, abc, bca: a window mostly follows the one before in abc
        before = {"a": "c", "b": "a", "c": "b"}[row.policy]
        assert diagnosis.usual_after == f"net {before} B=4"
        assert diagnosis.outlier is not None and 0 <= diagnosis.outlier < 5


def _precision_benchmark():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "epf_precision.py"
    spec = importlib.util.spec_from_file_location("epf_precision", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_precision_benchmark_prints_the_diagnosis(sim_session, monkeypatch):
    bench = _precision_benchmark()
    _, session, factory = sim_session(publish_delay_s=(0.0, 0.044), read_cost_s=3e-3)
    candidates = [_candidate("a", 4, 0.002), _candidate("b", 8, 0.0049)]
    step = StepConfig(batch=1, resolution=8)
    results = {
        name: measure_candidates(session, candidates, [4], step, FAST, runner_factory=factory)
        for name in ("sweep1", "sweep2")
    }
    rows = bench.summarise(results, "mJ")
    ticks = bench.diagnose(results, rows, 0.1)
    assert ticks["alpha_all"] is not None and abs(ticks["alpha_all"]) < 0.1
    for row in rows:
        assert row["spread_sweep1"] > 0.02 and row["grid_spread_sweep1"] < 0.005
        assert row["grid_epf_sweep2"] == pytest.approx(row["grid_epf_sweep1"], rel=0.003)
        assert row["outlier_sweep1"].startswith("w")
    console = Console(width=200, record=True)
    monkeypatch.setattr(bench, "console", console)
    bench.print_diagnosis(rows, ticks)
    text = console.export_text()
    assert "net a" in text and "shown late: trust the grid columns" in text
    assert ticks["grid_residual_ms"]["sweep1"] > 8
    assert bench.diagnose(results, rows, None) == {}  # no counter ticks, no diagnosis


def test_the_time_meter_defaults_to_short_windows_and_counters_to_one_second() -> None:
    """A clock has no tick to wait for; an energy counter's windows stay 1 s."""
    clock = default_protocol("time")
    assert (clock.window_s, clock.warmup_s, clock.preroll_s) == (0.2, 0.2, 0.05)
    for counter in ("nvml", "model"):
        assert default_protocol(counter) == EpfProtocol()
    # RAPL keeps 1 s windows; like the time meter it takes the fastest, on one thread.
    assert default_protocol("rapl") == EpfProtocol(estimator="min", cpu_threads=1)
    changed = default_protocol("time", window_s=2.0, repeats=3)
    assert (changed.window_s, changed.warmup_s, changed.repeats) == (2.0, 0.2, 3)


def test_a_session_measures_with_its_meters_default_when_given_no_protocol() -> None:
    from gsearch.candidates import registry_candidate

    candidate = registry_candidate("tiny_convnet", "G=1", num_classes=10, resolution=32)
    with open_session("cpu", "time") as session:
        (row,) = measure_candidates(
            session, [candidate], [2], StepConfig(batch=2, resolution=32, num_classes=10)
        )
    # five windows of the time meter's default length, not of a counter's 1 s
    assert len(row.epf_windows) == 5
    assert row.device_s < 5 * 1.0


class BareRunner(SimRunner):
    """A runner that cannot replay several steps per launch."""

    set_steps_per_launch = None  # type: ignore[assignment]


def test_a_step_too_short_for_the_queue_is_replayed_several_per_launch(sim_session):
    # 20 us steps: 64 in flight last 1.3 ms, while one NVML read takes 2.5 ms (15 ms at
    # times), as on an H200
    _device, session, _ = sim_session(read_cost_s=2.5e-3, slow_reads=(0.02, 0.015))
    device = _device

    def factory(model, config, torch_device, clock):
        return SimRunner(device, 20e-6 * config.batch, batch=config.batch)

    (row,) = measure_candidates(session, [_candidate("short", 4, 20e-6)], [1],
                                StepConfig(batch=1, resolution=8), FAST, runner_factory=factory)  # fmt: skip
    assert row.steps_per_launch > 1 and row.busy_fraction is not None
    assert row.busy_fraction >= 0.9 and row.message == ""
    assert row.epf == pytest.approx(BUSY_W * 20e-6 * 1e3, rel=0.02)  # no idle energy in it
    assert row.ms_per_frame == pytest.approx(20e-3, rel=0.02)
    assert (
        EpfResult.from_dict(json.loads(json.dumps(row.to_dict()))).busy_fraction
        == row.busy_fraction
    )


def test_a_row_busy_under_the_bound_is_flagged(sim_session):
    _device, session, _ = sim_session(read_cost_s=2.5e-3, slow_reads=(0.02, 0.015))
    device = _device

    def factory(model, config, torch_device, clock):
        return BareRunner(device, 20e-6 * config.batch, batch=config.batch)

    (row,) = measure_candidates(session, [_candidate("short", 4, 20e-6)], [1],
                                StepConfig(batch=1, resolution=8), FAST, runner_factory=factory)  # fmt: skip
    assert row.status == "ok" and row.steps_per_launch == 1
    assert row.busy_fraction is not None and row.busy_fraction < 0.9
    assert "includes idle energy" in row.message


def test_idle_power_waits_for_the_device_to_settle_and_says_so(sim_gpu):
    # CUDA just started: the GPU draws 250 W and falls to its 120 W idle over seconds
    device, clock, _ = sim_gpu(PowerTrace(idle_w=IDLE_W, busy_w=BUSY_W, tau_s=1.5))
    device._power_w = 250.0
    meter = NvmlMeter(0, clock=clock, visible=None)
    session = EnergySession(torch.device("cpu"), meter, EnergyChoice("nvml", "simulated"), clock)
    idle_w = session.idle_power_w(1.0)
    assert idle_w == pytest.approx(IDLE_W, rel=0.03)  # at 0.3 s it read about 200 W
    assert session.idle is not None and session.idle.settled
    assert 2.0 < session.idle.settle_s < 15.0
    runner = SimRunner(device, 0.002)
    (row,) = measure_candidates(session, [_candidate("a", 4, 0.002)], [1],
                                StepConfig(batch=1, resolution=8), FAST,
                                runner_factory=lambda *_: runner)  # fmt: skip
    assert row.idle_settle_s == session.idle.settle_s and row.idle_settled is True


def test_a_counter_that_stalls_once_costs_a_retry_not_the_row(sim_session):
    device, session, factory = sim_session()
    session.idle_power_w(FAST.idle_s)  # before the stall
    # a 9.5 s stall, like the one seen on an H200 (8.4 s and more)
    device.stall(device.now + 1.5, device.now + 11.0)
    (row,) = measure_candidates(session, [_candidate("a", 4, 0.002)], [1],
                                StepConfig(batch=1, resolution=8), FAST, runner_factory=factory)  # fmt: skip
    assert row.status == "ok" and row.counter_stalls == 1 and row.method == "aligned"
    assert row.epf == pytest.approx(BUSY_W * 0.002 * 1e3, rel=0.05)


def test_a_counter_that_stays_stalled_falls_back_to_a_plain_window(sim_session):
    device, session, factory = sim_session()
    session.idle_power_w(FAST.idle_s)  # before the stall
    device.stall(device.now, device.now + 100.0)
    protocol = EpfProtocol(repeats=1, window_s=0.5, warmup_s=0.5, idle_s=0.5)
    (row,) = measure_candidates(session, [_candidate("a", 4, 0.002)], [1],
                                StepConfig(batch=1, resolution=8), protocol, runner_factory=factory)  # fmt: skip
    assert row.status == "ok" and row.counter_stalls == 2 and row.method == "plain"
