"""Choosing the device and the energy source (``--device``, ``--energy``).

``auto`` takes the best source the machine has: NVML on a CUDA device, RAPL on a CPU
whose package counter is readable, else the ``time`` meter (measured milliseconds per
frame). It falls back only when a counter is *absent* (the typed
:class:`~gsearch.errors.EnergySourceUnavailable`); any other failure of a counter that
exists is an error, so a broken meter never turns silently into a clock. An explicit
source that is absent is a one-line error saying what ``auto`` would choose. The
paper's Eq. 1 score (``model``) is only used when asked for: it is a score monotone in
g, not a measurement.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from gsearch.energy.meter import Clock, EnergyChoice, Meter, SystemClock
from gsearch.energy.nvml import NvmlMeter
from gsearch.energy.rapl import POWERCAP_ROOT, RaplMeter
from gsearch.energy.walltime import TimeMeter
from gsearch.errors import EnergySourceUnavailable, GsearchError

ENERGY_SOURCES = ("auto", "nvml", "rapl", "time", "model")


def resolve_device(text: str | torch.device = "auto") -> torch.device:
    """``auto`` -> ``cuda:0`` when torch sees a GPU, else ``cpu``; checks the rest.

    Raises:
        GsearchError: a malformed device, or a CUDA device that torch cannot see.
    """
    if isinstance(text, torch.device):
        device = text
    elif text == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(text)
        except RuntimeError:
            raise GsearchError(f"unknown device {text!r}: use cuda:N or cpu") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GsearchError(f"{text} requested but torch sees no CUDA GPU; use --device cpu")
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise GsearchError(
                f"{text} requested but torch sees {torch.cuda.device_count()} CUDA GPU(s)"
            )
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise GsearchError(f"unsupported device {text!r}: use cuda:N or cpu")
    return device


def _torch_uuid(index: int) -> str | None:
    with contextlib.suppress(Exception):  # older torch builds have no uuid property
        return str(torch.cuda.get_device_properties(index).uuid)
    return None


def _nvml(device: torch.device, clock: Clock | None) -> NvmlMeter:
    index = device.index or 0
    uuid = _torch_uuid(index) if device.type == "cuda" else None
    return NvmlMeter(index, torch_uuid=uuid, clock=clock)


def _auto(device: torch.device, clock: Clock | None, rapl_root: Path) -> tuple[Meter, EnergyChoice]:
    try:
        if device.type == "cuda":
            meter = _nvml(device, clock)
            kind = "energy counter" if meter.has_counter else "power polling (no energy counter)"
            return meter, EnergyChoice(meter.source, f"NVML {kind} on {device}")
        rapl = RaplMeter(rapl_root, clock)
        return rapl, EnergyChoice("rapl", rapl.reason)
    except EnergySourceUnavailable as absent:
        return _time_meter(device, clock), EnergyChoice(
            "time", f"{absent}; measuring time per frame (ms) instead of energy"
        )


def _time_meter(device: torch.device, clock: Clock | None) -> TimeMeter:
    """CPU time of the measuring thread on the CPU, wall time on a GPU (see TimeMeter);
    a simulated clock (tests) is read as it is."""
    real_clock = clock is None or isinstance(clock, SystemClock)
    return TimeMeter(clock, cpu_time=device.type == "cpu" and real_clock)


def _absent(
    error: GsearchError, device: torch.device, clock: Clock | None, rapl_root: Path
) -> GsearchError:
    """The one-line error for an explicit source that is absent: what auto would choose."""
    meter, fallback = _auto(device, clock, rapl_root)
    meter.close()
    return GsearchError(
        f"{error}; --energy auto would choose {fallback.source!r} ({fallback.reason})"
    )


def open_meter(
    device: torch.device,
    energy: str = "auto",
    *,
    clock: Clock | None = None,
    rapl_root: Path = POWERCAP_ROOT,
) -> tuple[Meter | None, EnergyChoice]:
    """The meter for ``device`` and why it was chosen.

    ``auto``: NVML for a CUDA device, RAPL on the CPU where readable, else ``time``.
    The model meter is per model and batch, so for ``model`` the meter returned is None
    and callers build :class:`gsearch.energy.model.ModelMeter` themselves.

    Raises:
        GsearchError: ``nvml`` or ``rapl`` where that counter is absent (the line says
            what ``auto`` would choose), ``nvml``/``rapl`` for the wrong kind of device,
            or an unknown source.
    """
    if energy not in ENERGY_SOURCES:
        raise GsearchError(f"unknown energy source {energy!r}: choose {', '.join(ENERGY_SOURCES)}")
    if energy == "auto":
        return _auto(device, clock, rapl_root)
    if energy == "model":
        return None, EnergyChoice(
            "model", "requested: the paper's Eq. 1 score (model units, monotone in g; not energy)"
        )
    if energy == "time":
        return _time_meter(device, clock), EnergyChoice(
            "time", f"requested: measured time per frame on {device}"
        )
    if energy == "nvml":
        if device.type != "cuda":
            try:
                probe = _nvml(torch.device("cuda", 0), clock)
            except EnergySourceUnavailable as error:
                raise _absent(error, device, clock, rapl_root) from None
            probe.close()
            raise GsearchError(f"--energy nvml measures a GPU, but the device is {device}")
        try:
            meter = _nvml(device, clock)
        except EnergySourceUnavailable as error:
            raise _absent(error, device, clock, rapl_root) from None
        return meter, EnergyChoice(meter.source, f"requested: NVML on {device}")
    # rapl
    if device.type != "cpu":
        raise GsearchError(f"--energy rapl measures the CPU package, but the device is {device}")
    try:
        rapl = RaplMeter(rapl_root, clock)
    except EnergySourceUnavailable as error:
        raise _absent(error, device, clock, rapl_root) from None
    return rapl, EnergyChoice("rapl", f"requested: {rapl.reason}")
