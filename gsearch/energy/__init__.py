"""Energy per frame: meters behind one interface, and the protocol that measures EPF.

* :mod:`~gsearch.energy.meter`: ``Meter.begin()`` / ``Meter.end() -> Measurement``.
* :mod:`~gsearch.energy.nvml`, :mod:`~gsearch.energy.rapl`, :mod:`~gsearch.energy.model`:
  the sources; :func:`~gsearch.energy.select.open_meter` picks one (``auto``).
* :mod:`~gsearch.energy.window`: tick-aligned and plain windows.
* :mod:`~gsearch.energy.epf`: the protocol (:func:`measure_candidates`).

A leaf: nothing here imports models, policies, the cost model or the search; it measures
a :class:`Candidate` (a label and a module factory; :mod:`gsearch.candidates` builds them
from the registry), and ``gsearch profile``'s report lives in :mod:`gsearch.profile`.
"""

from __future__ import annotations

from gsearch.energy.cache import DEFAULT_CACHE_DIR, EpfCache
from gsearch.energy.epf import (
    Candidate,
    EnergySession,
    EpfProtocol,
    EpfResult,
    default_protocol,
    measure_candidates,
    open_session,
)
from gsearch.energy.meter import EnergyChoice, Measurement, Meter
from gsearch.energy.select import open_meter, resolve_device
from gsearch.energy.steps import StepConfig

__all__ = [
    "DEFAULT_CACHE_DIR",
    "Candidate",
    "EnergyChoice",
    "EnergySession",
    "EpfCache",
    "EpfProtocol",
    "EpfResult",
    "Measurement",
    "Meter",
    "StepConfig",
    "default_protocol",
    "measure_candidates",
    "open_meter",
    "open_session",
    "resolve_device",
]
