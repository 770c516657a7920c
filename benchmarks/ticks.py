"""What the energy counter's changes carry, read from the ticks of aligned windows.

An aligned window (:func:`gsearch.energy.window.measure_aligned`) ends at two visible
changes of the NVML counter and counts the work up to the moments they were seen. That
is exact when the energy a change carries runs up to the moment it became visible. On an
H200 the changes came every 100 ms idle (97-103 ms apart) but 77-122 ms apart under a
matmul load, and 6 of 30 rows at B >= 16 spread 1.1-3.6% over 5 windows while their
ms/frame did not move. Two explanations fit those figures and call for different fixes:

* *integrated*: the firmware's update loop itself runs late under load, and each change
  carries the energy up to its own (late) moment. Aligned windows stay exact; the spread
  comes from elsewhere (within-step power seen by a sensor that samples part of the
  time, heat).
* *published late*: the energy is taken on a regular 100 ms grid and shown after a
  varying delay. A window's ends are then off by the delay's variation, up to 40 ms in
  0.6 s (several %), at any batch size.

The ticks tell them apart without extra device time. Pooled over a row's windows,
:func:`tick_statistics` regresses each change's energy on its visible interval:
``alpha`` near 1 says *integrated*, near 0 *published late* (the energy per change is
then steady while the intervals are not). :func:`grid_energy_per_step` is the estimate
that is right in the second case: the window's ends moved to the one regular grid that
:func:`fit_tick_grid` fits to all ticks of a session (a grid fitted to one window's
7 ticks would pin its ends little better than the ticks themselves).

A tick is (seconds, energy, steps) since the window's first tick, as recorded in
:attr:`gsearch.energy.window.Window.ticks`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gsearch.energy.stats import spread

if TYPE_CHECKING:
    from gsearch.energy.epf import EpfResult

Tick = tuple[float, float, float]

# Below this spread of the intervals, the regression cannot tell the two cases apart
# (and need not: with regular changes both estimates agree).
MIN_INTERVAL_JITTER_S = 0.002
MIN_INTERVALS = 8


def _grid_index(ticks: Sequence[Tick], tick_s: float) -> list[int]:
    """Each tick's place on the nominal grid, counted from the first (skipped ticks skip)."""
    return [round(t / tick_s) for t, _, _ in ticks]


def _steps_at(ticks: Sequence[Tick], when: float) -> float:
    """Steps done by ``when``, interpolated between ticks (extrapolated past the ends)."""
    i = 1
    while i < len(ticks) - 1 and ticks[i][0] < when:
        i += 1
    (t0, _, s0), (t1, _, s1) = ticks[i - 1], ticks[i]
    if t1 == t0:
        return s0
    return s0 + (s1 - s0) * (when - t0) / (t1 - t0)


@dataclass(frozen=True)
class TickGrid:
    """A regular grid of counter updates on the host clock: ``origin_s + place * period_s``.

    Attributes:
        origin_s: Host clock time of place 0.
        period_s: Time between places.
        residual_ms: Root mean square of the ticks' distance from their places: the
            polling noise plus any late showing; a large value (tens of ms, near half a
            period) says the changes do not keep to one grid at all.
    """

    origin_s: float
    period_s: float
    residual_ms: float = 0.0

    def place(self, when: float) -> int:
        """The grid place nearest to ``when``."""
        return round((when - self.origin_s) / self.period_s)

    def time(self, place: int) -> float:
        """Host clock time of a grid place."""
        return self.origin_s + place * self.period_s


def _line(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of time on place."""
    mean_p = statistics.fmean(p for p, _ in points)
    mean_t = statistics.fmean(t for _, t in points)
    var = sum((p - mean_p) ** 2 for p, _ in points)
    slope = sum((p - mean_p) * (t - mean_t) for p, t in points) / var
    return mean_t - slope * mean_p, slope


def fit_tick_grid(
    windows: Sequence[tuple[float, Sequence[Tick]]], tick_s: float
) -> TickGrid | None:
    """The one regular grid that best explains every tick of a session's windows.

    Windows are taken in time order and the grid refitted after each, so that its period
    is known well enough to number the ticks of the next window across the gap between
    them (a window of 0.6 s pins the period to a few ms, two windows to well under one).

    Args:
        windows: (host clock time of the window's first tick, the window's ticks).
        tick_s: Nominal update period.

    Returns:
        The grid, or None with fewer than three ticks.
    """
    ordered = sorted((start, ticks) for start, ticks in windows if ticks)
    points: list[tuple[int, float]] = []
    grid: TickGrid | None = None
    for start, ticks in ordered:
        for t, _, _ in ticks:
            when = start + t
            place = round((when - ordered[0][0]) / tick_s) if grid is None else grid.place(when)
            if not points or place > points[-1][0]:
                points.append((place, when))
        if len({p for p, _ in points}) >= 3:
            origin, period = _line(points)
            if abs(period / tick_s - 1.0) < 0.2:
                grid = TickGrid(origin, period)
    if grid is None:
        return None
    residuals = [when - grid.time(place) for place, when in points]
    rms = math.sqrt(statistics.fmean(r * r for r in residuals))
    return TickGrid(grid.origin_s, grid.period_s, 1e3 * rms)


def grid_energy_per_step(ticks: Sequence[Tick], start_s: float, grid: TickGrid) -> float | None:
    """Energy per step of a window, its ends moved from the visible ticks to the grid.

    Right where the counter publishes the energy of a regular grid late; wrong by the
    firmware's own jitter where it does not (``alpha`` of :func:`tick_statistics` says which).

    Returns:
        The energy (the counter's unit) per step, or None without two ticks.
    """
    if len(ticks) < 2:
        return None
    first = grid.time(grid.place(start_s + ticks[0][0])) - start_s
    last = grid.time(grid.place(start_s + ticks[-1][0])) - start_s
    work = _steps_at(ticks, last) - _steps_at(ticks, first)
    if work <= 0:
        return None
    return (ticks[-1][1] - ticks[0][1]) / work


@dataclass(frozen=True)
class TickStatistics:
    """The counter's changes inside a row's windows, pooled.

    Attributes:
        intervals: Consecutive changes (one grid place apart) that went in.
        interval_ms: Median time between them, milliseconds.
        interval_jitter_ms: Standard deviation of that time.
        energy_cv: Coefficient of variation of the energy per change.
        power_cv: Coefficient of variation of energy over visible interval.
        alpha: Slope of energy on interval, as a share of the mean (1: the energy follows
            the visible interval; 0: it does not); None where the intervals are too
            regular (or too few) to tell.
    """

    intervals: int
    interval_ms: float | None
    interval_jitter_ms: float | None
    energy_cv: float | None
    power_cv: float | None
    alpha: float | None


def _cv(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean else None


def tick_statistics(windows: Sequence[Sequence[Tick]], tick_s: float) -> TickStatistics:
    """Pool the consecutive changes of ``windows`` (each a window's ticks) and describe them."""
    dts: list[float] = []
    des: list[float] = []
    for ticks in windows:
        index = _grid_index(ticks, tick_s)
        for k in range(1, len(ticks)):
            if index[k] - index[k - 1] == 1:
                dts.append(ticks[k][0] - ticks[k - 1][0])
                des.append(ticks[k][1] - ticks[k - 1][1])
    if not dts:
        return TickStatistics(0, None, None, None, None, None)
    jitter = statistics.stdev(dts) if len(dts) > 1 else 0.0
    alpha = None
    if len(dts) >= MIN_INTERVALS and jitter >= MIN_INTERVAL_JITTER_S:
        mean_t, mean_e = statistics.fmean(dts), statistics.fmean(des)
        cov = sum((t - mean_t) * (e - mean_e) for t, e in zip(dts, des, strict=True))
        var = sum((t - mean_t) ** 2 for t in dts)
        alpha = cov / var * mean_t / mean_e if mean_e else None
    return TickStatistics(
        intervals=len(dts),
        interval_ms=1e3 * statistics.median(dts),
        interval_jitter_ms=1e3 * jitter,
        energy_cv=_cv(des),
        power_cv=_cv([e / t for t, e in zip(dts, des, strict=True) if t > 0]),
        alpha=alpha,
    )


@dataclass(frozen=True)
class RowDiagnosis:
    """Why a row's windows may differ: its ticks, the grid estimate, its outlier window.

    Attributes:
        ticks: The row's counter changes, pooled over its windows.
        grid_epf_windows: EPF of each window with its ends on the session's grid, mJ
            per frame.
        grid_epf: Their median.
        grid_spread: Their max/min - 1.
        outlier: Index of the window farthest from the row's median EPF.
        outlier_after: The row measured just before that window ("model policy B").
        usual_after: The row measured just before most of the row's windows.
        temperature_c: (lowest, highest) device temperature after the row's windows.
    """

    ticks: TickStatistics
    grid_epf_windows: tuple[float, ...]
    grid_epf: float | None
    grid_spread: float | None
    outlier: int | None
    outlier_after: str | None
    usual_after: str | None
    temperature_c: tuple[float, float] | None


def _label(row: EpfResult) -> str:
    return f"{row.model} {row.policy} B={row.batch}"


def diagnose_rows(
    rows: Sequence[EpfResult], tick_s: float
) -> tuple[dict[str, RowDiagnosis], TickGrid | None]:
    """Diagnose the measured rows of one session (every row's windows on one clock).

    Returns:
        One diagnosis per ``"model policy B=batch"`` label, for rows with windows, and
        the session's tick grid (None without ticks).
    """
    measured = [r for r in rows if r.status == "ok" and r.window_starts_s]
    timeline = sorted((start, _label(row)) for row in measured for start in row.window_starts_s)
    before = {start: timeline[k - 1][1] if k else None for k, (start, _) in enumerate(timeline)}
    grid = fit_tick_grid(
        [
            (start, ticks)
            for row in measured
            for start, ticks in zip(row.window_starts_s, row.window_ticks, strict=False)
        ],
        tick_s,
    )
    result: dict[str, RowDiagnosis] = {}
    for row in measured:
        grid_epf: list[float] = []
        if grid is not None and row.unit == "mJ":
            for start, ticks in zip(row.window_starts_s, row.window_ticks, strict=False):
                per_step = grid_energy_per_step(ticks, start, grid)
                if per_step is not None:
                    grid_epf.append(per_step * 1e3 / row.batch)
        median = statistics.median(row.epf_windows)
        outlier = max(range(len(row.epf_windows)), key=lambda k: abs(row.epf_windows[k] - median))
        afters = [before[start] for start in row.window_starts_s]
        named = [a for a in afters if a is not None]
        temperatures = [t for t in row.window_temperatures_c if t is not None]
        result[_label(row)] = RowDiagnosis(
            ticks=tick_statistics(row.window_ticks, tick_s),
            grid_epf_windows=tuple(grid_epf),
            grid_epf=statistics.median(grid_epf) if grid_epf else None,
            grid_spread=spread(grid_epf) if len(grid_epf) > 1 else None,
            outlier=outlier,
            outlier_after=afters[outlier],
            usual_after=max(set(named), key=named.count) if named else None,
            temperature_c=(min(temperatures), max(temperatures)) if temperatures else None,
        )
    return result, grid
