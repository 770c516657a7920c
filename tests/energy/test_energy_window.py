"""Tick-aligned windows against the simulated NVML counter: within 1% where plain windows are not."""

from __future__ import annotations

import math

import pytest
from fake_nvml import PowerTrace, SimRunner

from gsearch.energy.nvml import NvmlMeter
from gsearch.energy.window import (
    ALIGNED,
    PLAIN,
    busy_s,
    measure_aligned,
    measure_idle_power_w,
    measure_plain,
    run_for,
    steps_done_by,
)
from gsearch.errors import GsearchError

READ_COST_S = 60e-6  # one NVML call; bigger than real, keeps the simulation quick


def _depth(step_s: float) -> int:
    return max(2, math.ceil(0.02 / step_s))


def _setup(sim_gpu, step_s, trace=None, launch_s=15e-6, **options):
    options.setdefault("read_cost_s", READ_COST_S)
    device, clock, _ = sim_gpu(trace, **options)
    meter = NvmlMeter(0, clock=clock, visible=None)
    runner = SimRunner(device, step_s, batch=4, launch_s=launch_s)
    run_for(runner, clock, 1.0, 3, _depth(step_s))  # warm-up: power ramps settle
    return device, clock, meter, runner


def _aligned_error(device, clock, meter, runner, window_s):
    window = measure_aligned(
        runner, meter, clock, window_s=window_s, max_in_flight=_depth(runner.gpu_s)
    )
    truth = device.true_energy_per_step(window.start_s, window.end_s)
    return window, window.energy / window.steps / truth - 1.0


STEPS_S = (0.001, 0.0137, 0.0973, 0.1)


@pytest.mark.parametrize("window_s", [0.3, 1.0, 5.0])
@pytest.mark.parametrize("step_s", STEPS_S)
def test_aligned_window_within_one_percent(sim_gpu, window_s, step_s):
    device, clock, meter, runner = _setup(sim_gpu, step_s, tick_phase_s=0.0371)
    window, error = _aligned_error(device, clock, meter, runner, window_s)
    assert window.method == ALIGNED
    assert window.seconds >= window_s
    assert abs(error) < 0.01, f"aligned window off by {100 * error:.3f}%"
    assert window.frames == pytest.approx(window.steps * 4)
    assert window.busy_fraction > 0.99
    # power and time per frame follow from the trace too
    assert window.power_w == pytest.approx(320.0, rel=0.01)
    assert window.seconds_per_frame == pytest.approx(step_s / 4, rel=0.01)


TRACES = {
    "ramps, jitter and lag": (PowerTrace(tau_s=0.08), {"tick_jitter_s": 0.006, "lag_s": 0.02}),
    "heating drift": (PowerTrace(drift_per_s=0.01), {}),
    "forward/backward power": (PowerTrace(shape=(0.85, 1.15)), {}),
}


@pytest.mark.parametrize("name", list(TRACES))
@pytest.mark.parametrize("window_s", [0.3, 1.0])
@pytest.mark.parametrize("step_s", STEPS_S)
def test_aligned_window_on_harder_traces(sim_gpu, name, window_s, step_s):
    trace, options = TRACES[name]
    if trace.shape != (1.0,) and step_s / window_s > 0.05:
        # Energy inside a straddling step is taken as even; with uneven power inside a
        # step the error per end is up to (dP/P) * (step / window) / 4: documented limit.
        pytest.skip("uneven in-step power needs windows >= 20 steps for 1%")
    device, clock, meter, runner = _setup(sim_gpu, step_s, trace, **options)
    _, error = _aligned_error(device, clock, meter, runner, window_s)
    assert abs(error) < 0.01, f"{name}: aligned window off by {100 * error:.3f}%"


def test_plain_windows_are_off_by_more_than_five_percent_where_aligned_are_not(sim_gpu):
    worst_plain = 0.0
    phases_s = [0.003 + 0.01 * i for i in range(10)]  # where the ticks fall vs the window
    for step_s, phase_s in [(s, p) for s in (0.001, 0.0137) for p in phases_s]:
        device, clock, meter, runner = _setup(sim_gpu, step_s, tick_phase_s=phase_s)
        plain = measure_plain(runner, meter, clock, window_s=0.3, preroll_s=0.2, max_in_flight=8)
        assert plain.method == PLAIN
        truth = device.true_energy_per_step(plain.start_s, plain.end_s)
        worst_plain = max(worst_plain, abs(plain.energy / plain.steps / truth - 1.0))
        _, error = _aligned_error(device, clock, meter, runner, 0.3)
        assert abs(error) < 0.01
    assert worst_plain > 0.05


def test_plain_window_after_idle_is_biased_low_aligned_is_not(sim_gpu):
    _device, clock, meter, runner = _setup(sim_gpu, 0.01, PowerTrace(tau_s=0.1))
    runner.synchronize()
    clock.sleep(0.5)  # the device idles, as between candidates measured one by one
    plain = measure_plain(runner, meter, clock, window_s=0.5, max_in_flight=4)
    plain_error = plain.energy / plain.steps / (320.0 * 0.01) - 1.0
    assert plain_error < -0.05
    runner.synchronize()
    clock.sleep(0.5)
    # A pre-roll of five ramp time constants: the protocol's warm-up does this after idle.
    window = measure_aligned(runner, meter, clock, window_s=0.5, preroll_s=0.5, max_in_flight=4)
    assert window.energy / window.steps / (320.0 * 0.01) - 1.0 == pytest.approx(0, abs=0.01)


@pytest.mark.parametrize("phase_s", [0.0031, 0.0371, 0.0712])
def test_slow_counter_reads_neither_starve_the_device_nor_blur_the_ticks(sim_gpu, phase_s):
    """The H200 case: a 2.8 ms energy read (15 ms now and then) and a 1.1 ms graph step.

    Launching one step per poll left the device idle most of the time (3.8 ms per step
    instead of 1.1 ms, EPF +127% against a 20 s reference); the queue must stay full.
    """
    device, clock, meter, runner = _setup(
        sim_gpu,
        0.0011,
        PowerTrace(tau_s=0.08),
        tick_phase_s=phase_s,
        tick_jitter_s=0.003,
        read_cost_s=2.8e-3,
        slow_reads=(0.03, 0.015),
        seed=int(phase_s * 1e4),
    )
    window, error = _aligned_error(device, clock, meter, runner, 0.6)
    assert window.busy_fraction > 0.99
    assert window.seconds_per_frame == pytest.approx(0.0011 / 4, rel=0.01)
    assert abs(error) < 0.01, f"aligned window off by {100 * error:.3f}%"
    assert window.tick_error_s < 0.003  # a tick next to a 15 ms read is not used


def test_launch_bound_steps_are_charged_their_gaps(sim_gpu):
    # eager-like: 8 ms to launch a step that keeps the GPU busy for 1.3 ms
    device, clock, meter, runner = _setup(sim_gpu, 0.0013, launch_s=0.008)
    window, error = _aligned_error(device, clock, meter, runner, 1.0)
    assert abs(error) < 0.01
    duty = 0.0013 / 0.008
    expected_power = duty * 320.0 + (1 - duty) * 120.0
    assert window.power_w == pytest.approx(expected_power, rel=0.02)


def test_idle_power_between_ticks(sim_gpu):
    _device, clock, _ = sim_gpu(PowerTrace(idle_w=97.0), read_cost_s=READ_COST_S)
    meter = NvmlMeter(0, clock=clock, visible=None)
    assert measure_idle_power_w(meter, clock, seconds=1.0) == pytest.approx(97.0, rel=0.002)


def test_a_counter_that_never_ticks_is_an_error(sim_gpu):
    _device, clock, meter, runner = _setup(sim_gpu, 0.01, tick_s=1000.0, tick_phase_s=999.0)
    with pytest.raises(GsearchError, match="did not tick"):
        measure_aligned(runner, meter, clock, window_s=0.3, max_in_flight=4, timeout_s=2.0)


def test_steps_done_by_counts_fractions():
    spans = [(0.0, 1.0), (1.0, 2.0), (3.0, 4.0)]
    assert steps_done_by(spans, -1.0) == 0.0
    assert steps_done_by(spans, 0.25) == pytest.approx(0.25)
    assert steps_done_by(spans, 1.0) == 1.0
    assert steps_done_by(spans, 2.5) == 2.0  # a gap counts no work
    assert steps_done_by(spans, 3.5) == pytest.approx(2.5)
    assert steps_done_by(spans, 9.0) == 3.0
    assert busy_s(spans, 0.5, 3.5) == pytest.approx(2.0)
