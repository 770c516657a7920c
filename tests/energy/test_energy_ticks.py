"""What the counter's changes carry: the ticks of aligned windows tell a late-published
regular grid from a late firmware loop, on simulated counters that do each."""

from __future__ import annotations

import itertools
import math

import pytest
from fake_nvml import SimRunner

from benchmarks.ticks import (
    TickGrid,
    fit_tick_grid,
    grid_energy_per_step,
    tick_statistics,
)
from gsearch.energy.nvml import NvmlMeter
from gsearch.energy.window import Window, measure_aligned, run_for

TICK_S = 0.1
READ_COST_S = 3e-3  # an H200's median energy read: polls ~3 ms apart


def _windows(sim_gpu, step_s, count=8, gap_s=0.3, **options):
    device, clock, _ = sim_gpu(None, read_cost_s=READ_COST_S, seed=3, **options)
    meter = NvmlMeter(0, clock=clock, visible=None)
    depth = max(2, math.ceil(0.02 / step_s))
    runner = SimRunner(device, step_s, batch=4)
    run_for(runner, clock, 1.0, 3, depth)
    windows: list[tuple[Window, float]] = []
    for _ in range(count):
        window = measure_aligned(
            runner, meter, clock, window_s=0.6, preroll_s=0.15, max_in_flight=depth
        )
        windows.append((window, device.true_energy_per_step(window.start_s, window.end_s)))
        clock.sleep(gap_s)  # what happens between windows: other candidates, reads
        run_for(runner, clock, 0.2, 1, depth)
    return windows


def _errors(windows):
    grid = fit_tick_grid([(w.start_s, w.ticks) for w, _ in windows], TICK_S)
    assert grid is not None
    aligned = [w.energy / w.steps / truth - 1 for w, truth in windows]
    gridded = [grid_energy_per_step(w.ticks, w.start_s, grid) / truth - 1 for w, truth in windows]
    return aligned, gridded, tick_statistics([w.ticks for w, _ in windows], TICK_S)


def test_a_window_keeps_its_ticks_from_first_to_last(sim_gpu):
    (window, _), *_ = _windows(sim_gpu, 0.0137, count=1)
    ticks = window.ticks
    assert ticks[0] == (0.0, 0.0, 0.0)
    assert len(ticks) >= 6  # a 0.6 s window sees a change every ~0.1 s
    assert ticks[-1][0] == pytest.approx(window.seconds)
    assert ticks[-1][1] == pytest.approx(window.energy)
    assert ticks[-1][2] == pytest.approx(window.steps)
    for before, after in itertools.pairwise(ticks):
        assert after[0] > before[0] and after[1] > before[1] and after[2] > before[2]


@pytest.mark.parametrize("step_s", [0.0011, 0.0196])
def test_late_published_grid_spreads_aligned_windows_and_the_grid_ends_fix_it(sim_gpu, step_s):
    # Energy taken every 100 ms, shown 0-44 ms later: the visible change no longer ends
    # the energy it carries, and aligned windows move by the delay's variation.
    windows = _windows(sim_gpu, step_s, publish_delay_s=(0.0, 0.044))
    aligned, gridded, stats = _errors(windows)
    assert max(aligned) - min(aligned) > 0.02
    assert max(abs(e) for e in gridded) < 0.005
    assert stats.alpha is not None and abs(stats.alpha) < 0.2
    assert stats.energy_cv < 0.01 < stats.power_cv  # steady energy, jumpy intervals


def test_late_firmware_loop_keeps_aligned_windows_exact_and_says_so(sim_gpu):
    # Each change carries the energy up to its own jittered moment: aligned windows are
    # right, a regular grid is not, and alpha is what tells the two cases apart.
    windows = _windows(sim_gpu, 0.0196, tick_jitter_s=0.02)
    aligned, gridded, stats = _errors(windows)
    assert max(abs(e) for e in aligned) < 0.01
    assert max(abs(e) for e in gridded) > 0.01
    assert stats.alpha is not None and stats.alpha > 0.8
    assert stats.power_cv < 0.05 < stats.energy_cv


def test_regular_changes_leave_alpha_undecided_and_both_estimates_right(sim_gpu):
    windows = _windows(sim_gpu, 0.0137)
    aligned, gridded, stats = _errors(windows)
    assert stats.alpha is None  # intervals within the polling noise: nothing to tell
    assert stats.interval_ms == pytest.approx(100, abs=3)
    assert max(abs(e) for e in aligned) < 0.01
    assert max(abs(e) for e in gridded) < 0.005


def test_the_grid_numbers_ticks_across_long_gaps():
    # 100.4 ms updates (as an H200 under load), windows 0.6 s long, 5 s apart, unordered
    period, origin = 0.1004, 10.0
    windows = []
    for w in (3, 0, 2, 1):
        first = 60 * w + 2
        start = origin + first * period + 0.01
        ticks = tuple(
            ((first + k) * period + origin + 0.01 - start, 32.0 * k, 5.0 * k) for k in range(7)
        )
        windows.append((start, ticks))
    grid = fit_tick_grid(windows, TICK_S)
    assert grid is not None
    assert grid.period_s == pytest.approx(period, rel=1e-6)
    assert grid.place(grid.time(244)) == 244
    assert grid.residual_ms == pytest.approx(0.0, abs=1e-6)


def test_too_few_ticks_give_no_estimate():
    assert fit_tick_grid([(0.0, ((0.0, 0.0, 0.0), (0.1, 1.0, 1.0)))], TICK_S) is None
    assert grid_energy_per_step(((0.0, 0.0, 0.0),), 0.0, TickGrid(0.0, TICK_S)) is None
    empty = tick_statistics([], TICK_S)
    assert empty.intervals == 0 and empty.alpha is None
