"""The one interface every energy source sits behind, and the clock the protocol reads.

A meter measures a window: ``begin()`` opens it, ``end()`` closes it and returns a
:class:`Measurement`. Hardware meters (``nvml``, ``rapl``) report joules. The ``time``
meter (:mod:`gsearch.energy.walltime`) is for machines without an energy counter: it
reports the window's wall time in milliseconds, a real measurement named as time. The
``model`` meter has no hardware behind it: it reports the paper's Eq. 1 score in *model
units*, a score that falls monotonically as groups grow, not an energy. That is why a
measurement carries an ``energy`` amount plus an explicit ``unit`` (``"J"``, ``"ms"`` or
``"model"``) rather than a field named ``joules``; :attr:`Measurement.joules` refuses to
answer for anything but joules, and sources are never mixed in one study.

Meters whose hardware exposes a discrete energy counter (NVML's total-energy counter
changes about every 100 ms) also offer ``read_counter_j()`` and say how often it changes
(``tick_s``); the EPF protocol uses that to align windows with counter ticks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gsearch.errors import GsearchError

JOULES = "J"
MILLISECONDS = "ms"
MODEL_UNITS = "model"


@dataclass(frozen=True)
class Measurement:
    """The amount one window cost.

    Attributes:
        energy: What the window cost, in ``unit``.
        unit: ``"J"`` for measured joules, ``"ms"`` for measured time (the ``time``
            meter), ``"model"`` for the Eq. 1 score (relative model units, not joules).
        seconds: Length of the window, wall clock.
        source: The meter: ``nvml``, ``nvml-power``, ``rapl``, ``time`` or ``model``.
    """

    energy: float
    unit: str
    seconds: float
    source: str

    @property
    def joules(self) -> float:
        """The energy in joules; an error for a model-unit measurement."""
        if self.unit != JOULES:
            raise GsearchError(
                f"a {self.source!r} measurement is in {self.unit!r} units, not joules"
            )
        return self.energy

    @property
    def power_w(self) -> float | None:
        """Average power over the window in watts; None for model units or an empty window."""
        if self.unit != JOULES or self.seconds <= 0:
            return None
        return self.energy / self.seconds


@runtime_checkable
class Meter(Protocol):
    """An energy source behind ``begin()`` / ``end()``.

    Attributes:
        source: Short name recorded with every result (``nvml``, ``rapl``, ``time``...).
        unit: ``"J"``, ``"ms"`` or ``"model"``.
        tick_s: Period of a discrete energy counter that ``read_counter_j`` reads,
            or None when the meter has no such counter (tick alignment then does not apply).
    """

    source: str
    unit: str
    tick_s: float | None

    def begin(self) -> None:
        """Open a window."""
        ...

    def end(self) -> Measurement:
        """Close the window opened by :meth:`begin` and return its energy."""
        ...

    def observe_frames(self, frames: int) -> None:
        """Tell the meter that ``frames`` frames were processed (only the model meter counts)."""
        ...

    def read_counter_j(self) -> float:
        """The raw cumulative counter in joules (only where ``tick_s`` is not None)."""
        ...

    def temperature_c(self) -> float | None:
        """Device temperature in degrees Celsius, None where the meter cannot tell."""
        ...

    def close(self) -> None:
        """Release the hardware handle (idempotent)."""
        ...


class Clock(Protocol):
    """Where the protocol reads time; tests pass a simulated clock."""

    def now(self) -> float:
        """Monotonic time in seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...


class SystemClock:
    """The host's monotonic high-resolution clock."""

    def now(self) -> float:
        """``time.perf_counter()`` in seconds."""
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        """``time.sleep``; negative values are ignored."""
        if seconds > 0:
            time.sleep(seconds)


@dataclass(frozen=True)
class EnergyChoice:
    """Which energy source a run uses and why (printed and recorded with results).

    Attributes:
        source: ``nvml``, ``nvml-power``, ``rapl``, ``time`` or ``model``.
        reason: One line saying why this source was chosen (or fallen back to).
    """

    source: str
    reason: str
