"""NVIDIA GPU energy through NVML (pynvml, package ``nvidia-ml-py``).

Volta and newer GPUs keep a total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
millijoules since the driver loaded). It changes about ten times a second, so a window
read from it is exact only between two counter changes ("ticks"); the EPF protocol
aligns its windows with them (see :mod:`gsearch.energy.window`). Where the counter is
missing, power (``nvmlDeviceGetPowerUsage``, milliwatts) is polled in a background thread
and integrated with the trapezoid rule; that meter reports source ``nvml-power``.

Device numbering: torch's ``cuda:i`` counts only the devices in ``CUDA_VISIBLE_DEVICES``,
while NVML counts all of them. :func:`resolve_nvml_handle` maps one to the other through
the device UUID when torch knows it, else through ``CUDA_VISIBLE_DEVICES`` (integers, full
or partial ``GPU-`` UUIDs, ``MIG-`` UUIDs). Every pynvml error is translated here into a
one-line :class:`~gsearch.errors.GsearchError`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from gsearch.energy.meter import JOULES, Clock, Measurement, SystemClock
from gsearch.errors import EnergySourceUnavailable, GsearchError

T = TypeVar("T")

# The NVML counter changes about every 100 ms (measured on an H200, driver 580).
NVML_TICK_S = 0.1


def _pynvml() -> Any:
    try:
        import pynvml
    except ImportError as error:  # the package is a dependency; this is a broken install
        raise GsearchError(
            f"NVML is unavailable: cannot import pynvml ({error}); install nvidia-ml-py"
        ) from None
    return pynvml


def nvml_call(what: str, fn: Callable[..., T], *args: Any) -> T:
    """Call a pynvml function, turning its errors into one-line GsearchErrors.

    Args:
        what: What the call does, for the message (``read the energy counter``).
        fn: The pynvml function.
        *args: Its arguments.
    """
    pynvml = _pynvml()
    try:
        return fn(*args)
    except pynvml.NVMLError as error:
        raise GsearchError(f"NVML could not {what}: {error}") from None


def _is_not_supported(error: Exception) -> bool:
    pynvml = _pynvml()
    return getattr(error, "value", None) == pynvml.NVML_ERROR_NOT_SUPPORTED


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_visible_devices(value: str | None) -> list[int | str] | None:
    """The entries of ``CUDA_VISIBLE_DEVICES`` as CUDA reads them.

    Args:
        value: The variable's value, or None when it is unset.

    Returns:
        None when unset (every device visible, in NVML order); else integers and
        ``GPU-``/``MIG-`` UUID strings, stopping at the first invalid entry as CUDA does.
    """
    if value is None:
        return None
    entries: list[int | str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if re.fullmatch(r"\d+", entry):
            entries.append(int(entry))
        elif entry.startswith(("GPU-", "MIG-")):
            entries.append(entry)
        else:
            break
    return entries


def resolve_nvml_handle(
    torch_index: int,
    *,
    visible: str | None = None,
    torch_uuid: str | None = None,
) -> Any:
    """The NVML handle of torch's ``cuda:torch_index``.

    Args:
        torch_index: Index as torch counts devices (within CUDA_VISIBLE_DEVICES).
        visible: Value of CUDA_VISIBLE_DEVICES (None: unset).
        torch_uuid: The device UUID torch reports (``torch.cuda.get_device_properties``);
            the most reliable key, since integer entries follow CUDA's enumeration order.

    Raises:
        GsearchError: no such device, an ambiguous UUID prefix, or an NVML failure.
    """
    pynvml = _pynvml()
    if torch_uuid:
        uuid = torch_uuid if torch_uuid.startswith(("GPU-", "MIG-")) else f"GPU-{torch_uuid}"
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(uuid)
        except pynvml.NVMLError:
            pass  # fall through to the environment variable
    count = nvml_call("count devices", pynvml.nvmlDeviceGetCount)
    entries = parse_visible_devices(visible)
    if entries is None:
        if not 0 <= torch_index < count:
            raise GsearchError(f"cuda:{torch_index} does not exist: NVML sees {count} GPU(s)")
        return nvml_call(f"open GPU {torch_index}", pynvml.nvmlDeviceGetHandleByIndex, torch_index)
    if not 0 <= torch_index < len(entries):
        raise GsearchError(
            f"cuda:{torch_index} is not visible: CUDA_VISIBLE_DEVICES={visible!r} "
            f"names {len(entries)} device(s)"
        )
    entry = entries[torch_index]
    if isinstance(entry, int):
        if entry >= count:
            raise GsearchError(
                f"CUDA_VISIBLE_DEVICES entry {entry} does not exist: NVML sees {count} GPU(s)"
            )
        return nvml_call(f"open GPU {entry}", pynvml.nvmlDeviceGetHandleByIndex, entry)
    if entry.startswith("MIG-"):
        return nvml_call(f"open MIG device {entry}", pynvml.nvmlDeviceGetHandleByUUID, entry)
    matches = []
    for index in range(count):
        handle = nvml_call(f"open GPU {index}", pynvml.nvmlDeviceGetHandleByIndex, index)
        uuid = _text(nvml_call("read a GPU UUID", pynvml.nvmlDeviceGetUUID, handle))
        if uuid.startswith(entry):
            matches.append(handle)
    if len(matches) != 1:
        problem = "matches no GPU" if not matches else f"matches {len(matches)} GPUs"
        raise GsearchError(f"CUDA_VISIBLE_DEVICES entry {entry!r} {problem}")
    return matches[0]


def nvml_init() -> None:
    """Initialise NVML, or fail with one line saying it found no device and why."""
    pynvml = _pynvml()
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError as error:
        raise EnergySourceUnavailable(f"NVML found no NVIDIA device ({error})") from None
    if count < 1:
        raise EnergySourceUnavailable("NVML found no NVIDIA device (0 GPUs)")


class NvmlMeter:
    """Energy of one NVIDIA GPU: the total-energy counter, else integrated power polling.

    Args:
        torch_index: torch's device index (``cuda:torch_index``).
        torch_uuid: The UUID torch reports for it, if known (see :func:`resolve_nvml_handle`).
        clock: Time source for windows (a simulated one in tests).
        poll_s: Sampling period of power polling where the counter is missing.
        visible: CUDA_VISIBLE_DEVICES; defaults to the environment's.
    """

    unit = JOULES

    def __init__(
        self,
        torch_index: int = 0,
        *,
        torch_uuid: str | None = None,
        clock: Clock | None = None,
        poll_s: float = 0.01,
        visible: str | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._poll_s = poll_s
        self._poller: _PowerPoller | None = None
        nvml_init()
        self._open = True
        try:
            env = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
            self.handle = resolve_nvml_handle(torch_index, visible=env, torch_uuid=torch_uuid)
            self.has_counter = self._probe_counter()
        except GsearchError:
            self.close()
            raise
        self.source = "nvml" if self.has_counter else "nvml-power"
        self.tick_s: float | None = NVML_TICK_S if self.has_counter else None
        self._begin_j = 0.0
        self._begin_s = 0.0

    def _probe_counter(self) -> bool:
        pynvml = _pynvml()
        try:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            return True
        except pynvml.NVMLError as error:
            if not _is_not_supported(error):
                raise GsearchError(f"NVML could not read the energy counter: {error}") from None
        nvml_call("read power", pynvml.nvmlDeviceGetPowerUsage, self.handle)
        return False

    def read_counter_j(self) -> float:
        """The total-energy counter in joules (changes about every 100 ms)."""
        if not self.has_counter:
            raise GsearchError("this GPU has no NVML energy counter (power polling is used)")
        pynvml = _pynvml()
        millijoules = nvml_call(
            "read the energy counter", pynvml.nvmlDeviceGetTotalEnergyConsumption, self.handle
        )
        return float(millijoules) / 1000.0

    def power_w(self) -> float:
        """Instantaneous board power as NVML reports it, watts."""
        pynvml = _pynvml()
        return float(nvml_call("read power", pynvml.nvmlDeviceGetPowerUsage, self.handle)) / 1e3

    def begin(self) -> None:
        """Open a window: read the counter, or start the power poller."""
        if self.has_counter:
            self._begin_j = self.read_counter_j()
            self._begin_s = self._clock.now()
        else:
            self._poller = _PowerPoller(self.power_w, self._clock, self._poll_s)
            self._poller.start()

    def end(self) -> Measurement:
        """Close the window and return its energy in joules."""
        if self.has_counter:
            joules = self.read_counter_j() - self._begin_j
            seconds = self._clock.now() - self._begin_s
            return Measurement(joules, JOULES, seconds, self.source)
        if self._poller is None:
            raise GsearchError("NvmlMeter.end() called without begin()")
        joules, seconds = self._poller.stop()
        self._poller = None
        return Measurement(joules, JOULES, seconds, self.source)

    def observe_frames(self, frames: int) -> None:
        """Hardware meters need no frame count."""

    def temperature_c(self) -> float | None:
        """GPU core temperature, degrees Celsius."""
        pynvml = _pynvml()
        try:
            return float(pynvml.nvmlDeviceGetTemperature(self.handle, pynvml.NVML_TEMPERATURE_GPU))
        except pynvml.NVMLError:
            return None

    def facts(self) -> dict[str, Any]:
        """Name, UUID, driver, power limit, clocks and temperature of the GPU right now."""
        pynvml = _pynvml()

        def optional(fn: Callable[..., Any], *args: Any) -> Any:
            try:
                return fn(*args)
            except pynvml.NVMLError:
                return None

        limit_mw = optional(pynvml.nvmlDeviceGetEnforcedPowerLimit, self.handle)
        return {
            "gpu_name": _text(
                nvml_call("read the GPU name", pynvml.nvmlDeviceGetName, self.handle)
            ),
            "gpu_uuid": _text(optional(pynvml.nvmlDeviceGetUUID, self.handle) or ""),
            "driver": _text(optional(pynvml.nvmlSystemGetDriverVersion) or ""),
            "power_limit_w": None if limit_mw is None else float(limit_mw) / 1000.0,
            "sm_clock_mhz": optional(
                pynvml.nvmlDeviceGetClockInfo, self.handle, pynvml.NVML_CLOCK_SM
            ),
            "mem_clock_mhz": optional(
                pynvml.nvmlDeviceGetClockInfo, self.handle, pynvml.NVML_CLOCK_MEM
            ),
            "temperature_c": self.temperature_c(),
            "energy_counter": self.has_counter,
        }

    def close(self) -> None:
        """Stop polling and shut NVML down (NVML reference-counts init/shutdown)."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self._open:
            self._open = False
            pynvml = _pynvml()
            # Shutting down a half-initialised library is not worth an error.
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()


class _PowerPoller:
    """Samples power in a daemon thread and integrates it (trapezoid rule)."""

    def __init__(self, read_w: Callable[[], float], clock: Clock, period_s: float) -> None:
        self._read_w = read_w
        self._clock = clock
        self._period_s = period_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gsearch-power-poll", daemon=True)
        self._joules = 0.0
        self._last: tuple[float, float] | None = None
        self._start_s = 0.0
        self._error: GsearchError | None = None

    def _sample(self) -> None:
        power_w = self._read_w()
        now = self._clock.now()
        with self._lock:
            if self._last is not None:
                then, last_w = self._last
                self._joules += 0.5 * (power_w + last_w) * (now - then)
            self._last = (now, power_w)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except GsearchError as error:
                self._error = error
                return
            self._stop.wait(self._period_s)

    def start(self) -> None:
        self._start_s = self._clock.now()
        self._sample()
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        """Stop the thread; returns (joules, seconds) since start."""
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._sample()
        return self._joules, self._clock.now() - self._start_s
