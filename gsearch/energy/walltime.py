"""The ``time`` meter: measured wall time where the machine has no energy counter.

A CPU without readable RAPL, or a GPU without NVML, still has a clock. What the clock
measures is time, and this meter says so: its unit is ``ms`` and its source ``time``,
so an EPF row measured with it is *milliseconds per frame*, never called energy and
never mixed with joules or with the Eq. 1 score in one study. It runs under the same
protocol as the energy meters (warm-up, interleaved windows, median with an interval):
the window's ends are read after the device has finished its steps (plain windows
synchronise before :meth:`TimeMeter.end`), so queued work cannot leak out of a window.

On the CPU the meter reads the measuring thread's CPU time, not the wall clock: steps run
on that one thread (the protocol measures CPU steps on one intra-op thread), so the time
they took is the time they computed, and other programs that take the core away add
nothing. Under a load of 3.4 on the 2-core machine the wall clock moved a network's value
by up to 149% from process to process and the thread's CPU time by 24%, with the same
order of the 7 networks (BENCHMARKS.md, "EPF that repeats"). A GPU's steps do not run on
the host thread: there the meter reads the wall clock.
"""

from __future__ import annotations

import time

from gsearch.energy.meter import MILLISECONDS, Clock, Measurement, SystemClock
from gsearch.errors import GsearchError

TIME_SOURCE = "time"


class TimeMeter:
    """Charges a window its wall time, in milliseconds.

    Args:
        clock: Time source (a simulated one in tests).
    """

    source = TIME_SOURCE
    unit = MILLISECONDS
    tick_s: float | None = None  # the clock is continuous: no ticks to align to

    def __init__(self, clock: Clock | None = None, *, cpu_time: bool = False) -> None:
        self._clock = clock or SystemClock()
        self._read_s = time.thread_time if cpu_time else self._clock.now
        self.cpu_time = cpu_time
        self._begin_s: float | None = None
        self._begin_read_s = 0.0

    def begin(self) -> None:
        """Open a window now."""
        self._begin_s = self._clock.now()
        self._begin_read_s = self._read_s()

    def end(self) -> Measurement:
        """The window's time (the thread's CPU time, or wall time), in milliseconds."""
        if self._begin_s is None:
            raise GsearchError("TimeMeter.end() called without begin()")
        taken_s = self._read_s() - self._begin_read_s
        seconds = self._clock.now() - self._begin_s
        self._begin_s = None
        return Measurement(taken_s * 1e3, MILLISECONDS, seconds, self.source)

    def observe_frames(self, frames: int) -> None:
        """Time does not depend on a frame count."""

    def read_counter_j(self) -> float:
        """A clock is not an energy counter."""
        raise GsearchError("the time meter has no energy counter (it measures milliseconds)")

    def temperature_c(self) -> float | None:
        """The clock cannot tell."""
        return None

    def close(self) -> None:
        """Nothing to release."""
