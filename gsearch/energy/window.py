"""Measurement windows: how energy and work are paired so that counter ticks cannot bias EPF.

The NVML energy counter changes about every 100 ms. A *plain* window reads it at the
window's start and end, so the energy it sees runs from the tick before the start to
the tick before the end: up to one tick too much or too little, i.e. up to 10% of a 1 s
window, and biased whenever power before the window differs from power inside it.

An *aligned* window (:func:`measure_aligned`) instead

1. keeps the device busy with steps (a bounded queue) from well before the window
   opens until after it closes, so power is steady around both ends;
2. polls the counter and takes the window's ends at two counter changes ("ticks") at
   least ``window_s`` apart, so the energy between them is exact;
3. times every step on the host clock (CUDA events mapped to the host clock) and counts
   the work between the two ticks, in fractions of a step, by interpolating within the
   step that straddles each tick.

EPF is then (energy between ticks) / (frames between ticks). Errors left: the time of a
tick is known to within half the polling gap (one NVML read, 2.8 ms on an H200; one
eager step launch at worst), and energy within a straddling step is taken as spread
evenly over it. With the simulated counter of ``tests/energy`` this stays within 1% of
the true energy per step for windows of 0.3-5 s and steps of 1-100 ms, where plain
windows are off by more than 5%; on an H200 the aligned 0.6 s windows agree with a
20 s reference within 1% (measured; see BENCHMARKS.md).

Plain windows remain for meters without a discrete counter (RAPL updates every ~1 ms,
power polling, the model meter) and for the 20 s reference window, which shares nothing
with the aligned method but the counter: its tick error is at most 0.1 s / 20 s = 0.5%.
Every time source is injectable so that tests run in simulated time.
"""

from __future__ import annotations

import bisect
import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from gsearch.energy.meter import Clock, Meter
from gsearch.errors import GsearchError

ALIGNED = "aligned"
PLAIN = "plain"
# A tick between polls this close is always usable (+/- 1 ms at each end of a window),
# even where the polls that see the counter change are the slow ones.
MIN_TICK_GAP_S = 0.002
# Idle power: a GPU takes seconds to drop to idle after CUDA starts, so the reading waits
# until a short reading falls by less than this share, for at most this long.
IDLE_SETTLE_TOLERANCE = 0.01
IDLE_SETTLE_MAX_S = 15.0


class CounterStalled(GsearchError):
    """The energy counter did not change usably for a whole aligned window's time box."""


class StepRunner(Protocol):
    """Runs training steps of one model and reports when each ran.

    Attributes:
        frames_per_step: Frames (the batch size) of one step.
        asynchronous: True when ``launch`` returns before the step has run (CUDA).
    """

    frames_per_step: int
    asynchronous: bool

    def launch(self) -> None:
        """Enqueue one step (CUDA) or run it (CPU)."""
        ...

    def in_flight(self) -> int:
        """Steps launched but not finished."""
        ...

    def wait_one(self) -> None:
        """Block until the oldest step in flight has finished (no-op when none is)."""
        ...

    def synchronize(self) -> None:
        """Block until every launched step has finished."""
        ...

    def start_record(self) -> None:
        """Forget recorded steps and anchor step timing to the clock's present."""
        ...

    def spans(self) -> list[tuple[float, float]]:
        """(start, end) clock seconds of every step launched since ``start_record``.

        Only valid after :meth:`synchronize`; steps are in launch order and do not overlap.
        """
        ...


@dataclass(frozen=True)
class Window:
    """One measured window.

    Attributes:
        energy: Energy in the window, in ``unit`` (joules or model units).
        unit: ``"J"`` or ``"model"``.
        seconds: Length of the window, seconds.
        steps: Steps done inside the window (fractional for aligned windows).
        frames: ``steps * batch``.
        method: ``aligned`` or ``plain``.
        tick_error_s: Worst uncertainty of one end's time (half a polling gap); 0 for plain.
        busy_fraction: Share of the window covered by steps (launch-bound runs show gaps
            only inside steps, so this stays near 1 for them too).
        start_s: Clock time the window opened (the first tick, for aligned windows).
        end_s: Clock time it closed.
        ticks: Aligned windows: every usable counter tick from the first to the last, as
            (seconds, energy, steps) since the first; the raw material of
            :mod:`benchmarks.ticks`, which asks what the counter's changes carry.
        stalls: Aligned windows given up because the counter stalled before this one was
            taken (see :func:`measure_aligned_retrying`).
    """

    energy: float
    unit: str
    seconds: float
    steps: float
    frames: float
    method: str
    tick_error_s: float = 0.0
    busy_fraction: float = 1.0
    start_s: float = 0.0
    end_s: float = 0.0
    ticks: tuple[tuple[float, float, float], ...] = ()
    stalls: int = 0

    @property
    def energy_per_frame(self) -> float:
        """Energy per frame, in ``unit`` (joules or model units)."""
        return self.energy / self.frames

    @property
    def seconds_per_frame(self) -> float:
        """Wall time per frame, seconds."""
        return self.seconds / self.frames

    @property
    def power_w(self) -> float | None:
        """Average power over the window, watts (None for model units)."""
        if self.unit != "J" or self.seconds <= 0:
            return None
        return self.energy / self.seconds


def steps_done_by(spans: Sequence[tuple[float, float]], when: float) -> float:
    """Steps finished by ``when``, counting the running step by the fraction of it elapsed.

    Args:
        spans: (start, end) of each step, in order, not overlapping.
        when: A time on the same clock.
    """
    ends = [end for _, end in spans]
    done = bisect.bisect_right(ends, when)
    if done < len(spans):
        start, end = spans[done]
        if start < when < end:
            return done + (when - start) / (end - start)
    return float(done)


def busy_s(spans: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of ``[start, end]`` covered by steps."""
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)


def run_for(
    runner: StepRunner, clock: Clock, seconds: float, min_steps: int, max_in_flight: int
) -> int:
    """Run steps until both ``seconds`` have passed and ``min_steps`` were launched.

    The queue of launched-but-unfinished steps stays at most ``max_in_flight`` deep, so
    the device stays busy without the host running far ahead of it.

    Returns:
        Steps launched.
    """
    start = clock.now()
    launched = 0
    while launched < min_steps or clock.now() - start < seconds:
        if runner.in_flight() >= max_in_flight:
            runner.wait_one()
            continue
        runner.launch()
        launched += 1
    return launched


def measure_plain(
    runner: StepRunner,
    meter: Meter,
    clock: Clock,
    *,
    window_s: float,
    preroll_s: float = 0.0,
    max_in_flight: int = 2,
    min_steps: int = 1,
) -> Window:
    """Read the meter before and after ``window_s`` of steps (after a pre-roll).

    Args:
        runner: The warmed-up step runner.
        meter: Any meter; the model meter is told the frames done.
        clock: Time source.
        window_s: Minimum window length.
        preroll_s: Steps run, unmeasured, just before the window.
        max_in_flight: Queue depth of launched steps.
        min_steps: Minimum steps in the window.
    """
    if preroll_s > 0:
        run_for(runner, clock, preroll_s, 1, max_in_flight)
    runner.synchronize()
    runner.start_record()
    meter.begin()
    opened = clock.now()
    launched = run_for(runner, clock, window_s, min_steps, max_in_flight)
    runner.synchronize()
    meter.observe_frames(launched * runner.frames_per_step)
    measurement = meter.end()
    closed = opened + measurement.seconds
    busy = busy_s(runner.spans(), opened, closed) / measurement.seconds if closed > opened else 1.0
    return Window(
        energy=measurement.energy,
        unit=measurement.unit,
        seconds=measurement.seconds,
        steps=float(launched),
        frames=float(launched * runner.frames_per_step),
        method=PLAIN,
        busy_fraction=min(1.0, busy),
        start_s=opened,
        end_s=closed,
    )


def measure_aligned(
    runner: StepRunner,
    meter: Meter,
    clock: Clock,
    *,
    window_s: float,
    preroll_s: float = 0.2,
    max_in_flight: int = 2,
    tick_gap_factor: float = 1.5,
    timeout_s: float | None = None,
) -> Window:
    """A window between two counter ticks, with the work inside it counted by step timing.

    Args:
        runner: The warmed-up step runner (asynchronous: the host polls while it runs).
        meter: A meter with a discrete counter (``tick_s`` set).
        clock: Time source, the same clock the runner's spans are on.
        window_s: Minimum time between the two ticks.
        preroll_s: Steps run before the first tick may be taken, so that power is
            steady at the window's start.
        max_in_flight: Queue depth of launched steps.
        tick_gap_factor: A tick is usable only if the two polls around it are at most
            this many times the median poll gap apart, so a slow read (NVML's energy read
            took 2.8 ms median, 15 ms at the 99th percentile on an H200) cannot blur the
            time of a window's end.
        timeout_s: Give up after this long (default: generous for ``window_s``).

    Raises:
        GsearchError: the meter has no counter, or the counter stopped changing.
    """
    tick_s = meter.tick_s
    if tick_s is None:
        raise GsearchError(f"the {meter.source!r} meter has no counter to align windows to")
    runner.start_record()
    opened = clock.now()
    timeout = timeout_s if timeout_s is not None else preroll_s + window_s + 30 * tick_s + 5
    read_s: deque[float] = deque(maxlen=32)  # host time of one counter read
    gaps_s: deque[float] = deque(maxlen=32)  # time between consecutive reads
    previous: tuple[float, float] | None = None  # (read time, value)
    first: tuple[float, float, float] | None = None  # (tick time, value, half gap)
    last: tuple[float, float, float] | None = None
    inside: list[tuple[float, float]] = []  # (tick time, value) of usable ticks, first..last
    while last is None:
        # Refill the queue, launching for no longer than one read takes: graph launches
        # (microseconds) refill it at every poll, so the device never waits on a slow
        # read; an eager step's launch (milliseconds) goes one per poll, so that polls
        # stay close together around every tick.
        burst_start = clock.now()
        burst_limit = statistics.median(read_s) if read_s else 0.0
        while runner.in_flight() < max_in_flight:
            runner.launch()
            if clock.now() - burst_start >= burst_limit:
                break
        before = clock.now()
        value = meter.read_counter_j()
        after = clock.now()
        read_s.append(after - before)
        read_at = 0.5 * (before + after)
        if previous is not None:
            gap = read_at - previous[0]
            gaps_s.append(gap)
            allowed = min(
                max(tick_gap_factor * statistics.median(gaps_s), MIN_TICK_GAP_S), 0.5 * tick_s
            )
            tick_at = 0.5 * (read_at + previous[0])
            usable = value != previous[1] and gap <= allowed
            if usable and tick_at >= opened + preroll_s:
                if first is None:
                    first = (tick_at, value, 0.5 * gap)
                elif tick_at - first[0] >= window_s:
                    last = (tick_at, value, 0.5 * gap)
                inside.append((tick_at, value))
        previous = (read_at, value)
        if after - opened > timeout:
            raise CounterStalled(
                f"the {meter.source} energy counter did not tick usably for {timeout:.1f} s "
                f"(expected a change every {tick_s:.3f} s)"
            )
    runner.synchronize()
    spans = runner.spans()
    assert first is not None  # set before `last`
    start, end = first[0], last[0]
    steps_at_start = steps_done_by(spans, start)
    steps = steps_done_by(spans, end) - steps_at_start
    if steps <= 0:
        raise GsearchError("no step ran inside the measurement window")
    ticks = tuple(
        (at - start, joules - first[1], steps_done_by(spans, at) - steps_at_start)
        for at, joules in inside
    )
    return Window(
        energy=last[1] - first[1],
        unit=meter.unit,
        seconds=end - start,
        steps=steps,
        frames=steps * runner.frames_per_step,
        method=ALIGNED,
        tick_error_s=max(first[2], last[2]),
        busy_fraction=busy_s(spans, start, end) / (end - start),
        start_s=start,
        end_s=end,
        ticks=ticks,
    )


def measure_aligned_retrying(
    runner: StepRunner,
    meter: Meter,
    clock: Clock,
    *,
    window_s: float,
    preroll_s: float = 0.2,
    max_in_flight: int = 2,
    log: Callable[[str], None] | None = None,
) -> Window:
    """:func:`measure_aligned`, once more after a stalled counter, then a plain window.

    On an H200 the counter once gave no usable tick for 8.4 s in the middle of a
    calibration, and the rerun passed: a transient stall must not end minutes of work.
    The window records how many aligned tries were given up (``stalls``) and its method.
    """
    for stalls in range(2):
        try:
            window = measure_aligned(
                runner,
                meter,
                clock,
                window_s=window_s,
                preroll_s=preroll_s,
                max_in_flight=max_in_flight,
            )
            return replace(window, stalls=stalls)
        except CounterStalled as error:
            if log is not None:
                log(f"{error}: {'trying again' if stalls == 0 else 'taking a plain window'}")
    window = measure_plain(
        runner, meter, clock, window_s=window_s, preroll_s=preroll_s, max_in_flight=max_in_flight
    )
    return replace(window, stalls=2)


@dataclass(frozen=True)
class IdlePower:
    """Idle power and how it settled.

    Attributes:
        power_w: Average power of the idle device, watts.
        settle_s: Time spent waiting for the reading to settle before it was taken.
        settled: False when ``IDLE_SETTLE_MAX_S`` passed with the readings still moving.
        readings_w: The short readings taken while waiting, in order.
    """

    power_w: float
    settle_s: float
    settled: bool
    readings_w: tuple[float, ...] = ()


def measure_idle(
    meter: Meter,
    clock: Clock,
    seconds: float = 1.0,
    settle_s: float = 0.3,
    *,
    max_settle_s: float = IDLE_SETTLE_MAX_S,
    tolerance: float = IDLE_SETTLE_TOLERANCE,
) -> IdlePower | None:
    """Idle power once it has settled (None for meters not in joules).

    Short readings (0.5 s, or 5 counter ticks) are taken until one falls by less than
    ``tolerance`` from the one before or ``max_settle_s`` has passed; then the idle power
    is read over ``seconds``.
    """
    if meter.unit != "J":
        return None
    started = clock.now()
    clock.sleep(settle_s)
    probe_s = max(0.5, 5 * meter.tick_s) if meter.tick_s is not None else 0.5
    readings = [_power_w(meter, clock, probe_s)]
    settled = False
    while clock.now() - started < max_settle_s:
        readings.append(_power_w(meter, clock, probe_s))
        # settled once it stops falling: a counter's jitter makes readings wobble, and
        # a wobble up is no reason to wait longer
        if readings[-1] >= (1.0 - tolerance) * readings[-2]:
            settled = True
            break
    waited = clock.now() - started
    return IdlePower(_power_w(meter, clock, seconds), waited, settled, tuple(readings))


def measure_idle_power_w(
    meter: Meter, clock: Clock, seconds: float = 1.0, settle_s: float = 0.3
) -> float | None:
    """Average power of the idle device once settled, watts (None for model units)."""
    idle = measure_idle(meter, clock, seconds, settle_s)
    return None if idle is None else idle.power_w


def _power_w(meter: Meter, clock: Clock, seconds: float) -> float:
    """Average power over ``seconds``, watts.

    With a tick counter, the power is taken between two ticks ``seconds`` apart, so the
    100 ms granularity does not bias it either.
    """
    if meter.tick_s is None:
        meter.begin()
        clock.sleep(seconds)
        measurement = meter.end()
        return measurement.energy / measurement.seconds
    poll_s = min(0.002, meter.tick_s / 20)
    deadline = clock.now() + seconds + 30 * meter.tick_s + 5
    ticks: list[tuple[float, float]] = []
    previous = (clock.now(), meter.read_counter_j())
    while clock.now() < deadline:
        clock.sleep(poll_s)
        read_at = clock.now()
        value = meter.read_counter_j()
        if value != previous[1]:
            ticks.append((0.5 * (read_at + previous[0]), value))
            if len(ticks) > 1 and ticks[-1][0] - ticks[0][0] >= seconds:
                return (ticks[-1][1] - ticks[0][1]) / (ticks[-1][0] - ticks[0][0])
        previous = (read_at, value)
    raise GsearchError(f"the {meter.source} energy counter did not change while idle")
