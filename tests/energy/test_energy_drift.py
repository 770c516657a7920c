"""Protocol 3: CPU time on one thread, the fastest window, and a baseline that cancels drift."""

from __future__ import annotations

import time

import pytest
import test_energy_epf
import torch
from test_energy_epf import FAST, MemoryRunner, _candidate

from gsearch.energy.epf import (
    MIN_BAND,
    EpfProtocol,
    default_protocol,
    estimate,
    measure_candidates,
    open_session,
)
from gsearch.energy.steps import StepConfig, torch_threads
from gsearch.energy.walltime import TimeMeter

sim_session = test_energy_epf.sim_session  # the simulated GPU behind a fake NVML


def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_cpu_time_meter_charges_work_and_not_waiting() -> None:
    """Time the core was taken away (here: asleep) is not the network's cost."""
    cpu, wall = TimeMeter(cpu_time=True), TimeMeter()
    cpu.begin()
    wall.begin()
    time.sleep(0.3)
    _busy(0.05)
    on_cpu, on_wall = cpu.end(), wall.end()
    assert 40 <= on_cpu.energy <= 200 < 300 <= on_wall.energy
    assert on_cpu.seconds >= 0.3  # the window's length stays wall time
    assert on_cpu.unit == "ms"


def test_a_cpu_session_reads_cpu_time_and_a_gpu_or_simulated_one_the_clock() -> None:
    with open_session("cpu", "time") as session:
        assert isinstance(session.meter, TimeMeter) and session.meter.cpu_time
        assert "time" in session.choice.reason


def test_min_estimator_takes_the_fastest_window_with_a_band_to_the_third() -> None:
    interval = estimate([5.0, 3.0, 3.3, 9.0, 4.0], "min")
    assert interval.median == 3.0
    band = (4.0 - 3.0) / 3.0  # the third-fastest is 4.0
    assert interval.high == pytest.approx(3.0 * (1 + band))
    assert interval.low == pytest.approx(3.0 / (1 + band))
    quiet = estimate([3.0, 3.0, 3.0], "min")  # windows that agree: the narrowest band
    assert quiet.high == pytest.approx(3.0 * (1 + MIN_BAND))
    median = estimate([5.0, 3.0, 4.0], "median")
    assert median.median == 4.0


def test_cpu_meters_default_to_the_fastest_window_on_one_thread() -> None:
    for source in ("time", "rapl"):
        protocol = default_protocol(source)
        assert (protocol.estimator, protocol.cpu_threads) == ("min", 1)
    assert default_protocol("nvml").estimator == "median"
    assert default_protocol("nvml").cpu_threads == 0
    with pytest.raises(Exception, match="unknown estimator"):
        EpfProtocol(estimator="mean")
    with pytest.raises(Exception, match="cpu_threads"):
        EpfProtocol(cpu_threads=-1)


def test_steps_are_measured_on_the_protocols_threads_and_the_setting_restored() -> None:
    before = torch.get_num_threads()
    with torch_threads(1, torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(1, torch.device("cuda")):  # a GPU's steps are not the host's
        assert torch.get_num_threads() == before


def test_a_baseline_cancels_a_machine_that_slows_down(sim_session) -> None:
    """The same network measured twice, the second time on a device twice as slow: its own
    EPF doubles, its EPF read against the baseline measured beside it does not."""
    device, session, _ = sim_session()
    slowdown = [1.0]

    def factory(model, config, torch_device, clock):
        model.gpu_s_per_frame *= slowdown[0]
        return MemoryRunner(device, model, config, str(model.body[0].out_channels))

    step = StepConfig(batch=4, resolution=8)
    net, base = _candidate("a", 4, 0.003), _candidate("base", 8, 0.002)
    (first,) = measure_candidates(
        session, [net], [4], step, FAST, runner_factory=factory, baseline=base
    )
    slowdown[0] = 2.0
    (second,) = measure_candidates(
        session, [net], [4], step, FAST, runner_factory=factory, baseline=base
    )
    assert first.epf_alone is not None and second.epf_alone is not None
    assert second.epf_alone / first.epf_alone == pytest.approx(2.0, rel=0.05)
    assert second.epf == pytest.approx(first.epf, rel=0.02)
    assert second.epf_ratio == pytest.approx(first.epf_ratio, rel=0.02)
    assert first.baseline_policy == "base" and first.baseline_epf == second.baseline_epf
    assert second.epf_low < second.epf < second.epf_high


def test_a_baseline_that_is_also_a_candidate_is_measured_as_both(sim_session) -> None:
    _device, session, factory = sim_session()
    net = _candidate("a", 4, 0.003)
    rows = measure_candidates(
        session, [net], [4], StepConfig(batch=4, resolution=8), FAST,
        runner_factory=factory, baseline=net,
    )  # fmt: skip
    (row,) = rows
    assert row.policy == "a" and row.epf_ratio == pytest.approx(1.0, rel=0.05)
