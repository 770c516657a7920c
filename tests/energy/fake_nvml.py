"""A simulated GPU whose NVML energy counter ticks like the real one, in simulated time.

Only the hardware is fake: the simulated device runs a queue of steps, draws power from
a known trace (idle and busy levels, first-order ramps between them, optional shape
within a step and slow drift), and publishes the integral of that power through an
NVML-style counter that changes every ``tick_s`` (100 ms by default, optionally with
jitter and a lag). ``install`` monkeypatches pynvml so that the real
:class:`gsearch.energy.nvml.NvmlMeter` reads it. Time moves only when the host "does"
something (launching a step, reading the counter, sleeping), so tests that cover many
seconds of device time run in milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pynvml
from scipy.signal import lfilter


@dataclass(frozen=True)
class PowerTrace:
    """How the simulated GPU draws power.

    Attributes:
        idle_w: Power with no step running.
        busy_w: Power while a step runs (times ``shape`` and drift).
        tau_s: Time constant of the first-order ramp between levels.
        shape: Relative power over equal parts of a step (e.g. forward vs backward).
        drift_per_s: Slow relative change of busy power per second (heating).
    """

    idle_w: float = 120.0
    busy_w: float = 320.0
    tau_s: float = 0.05
    shape: tuple[float, ...] = (1.0,)
    drift_per_s: float = 0.0


class SimDevice:
    """One simulated GPU plus the host clock that drives it.

    Args:
        trace: The power trace.
        tick_s: Counter update period.
        tick_phase_s: Time of the first counter update.
        tick_jitter_s: Uniform jitter of each update time, +/- this much.
        lag_s: The counter published at a tick holds the energy up to ``tick - lag_s``.
        publish_delay_s: (low, high): each tick's value becomes visible a uniform random
            delay after the tick that it holds the energy up to. Zero (the default): the
            energy follows the visible changes; above zero it does not, and a visible change
            no longer marks the end of the energy it carries.
        read_cost_s: Host time one NVML call takes.
        slow_reads: (probability, seconds): a read takes this long instead, at random
            (on an H200 the energy read took 2.8 ms median and 15 ms at the 99th percentile).
        dt: Integration step of the power trace.
        horizon_s: Longest simulated time supported.
        seed: Seed of the tick jitter.
    """

    def __init__(
        self,
        trace: PowerTrace | None = None,
        *,
        tick_s: float = 0.1,
        tick_phase_s: float = 0.0371,
        tick_jitter_s: float = 0.0,
        lag_s: float = 0.0,
        publish_delay_s: tuple[float, float] = (0.0, 0.0),
        read_cost_s: float = 30e-6,
        slow_reads: tuple[float, float] = (0.0, 0.0),
        dt: float = 1e-4,
        horizon_s: float = 120.0,
        seed: int = 0,
    ) -> None:
        self.trace = trace or PowerTrace()
        self.tick_s = tick_s
        self.lag_s = lag_s
        self.read_cost_s = read_cost_s
        self.slow_reads = slow_reads
        self._read_rng = np.random.default_rng(seed + 1)
        self.dt = dt
        self.now = 0.0
        self.reads = 0
        n = math.ceil(horizon_s / tick_s) + 2
        rng = np.random.default_rng(seed)
        # _ticks: when the energy of each update is taken; _visible: when NVML shows it
        self._ticks = tick_phase_s + tick_s * np.arange(n) + rng.uniform(-1, 1, n) * tick_jitter_s
        self._visible = self._ticks + rng.uniform(*publish_delay_s, n)
        self._grid_n = math.ceil(horizon_s / dt) + 1
        self._cum_j = np.zeros(self._grid_n + 1)  # energy at grid points k*dt
        self._filled = 0  # grid intervals integrated so far
        self._power_w = self.trace.idle_w
        self._alpha = 1.0 - math.exp(-dt / self.trace.tau_s)
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.duty: list[float] = []
        self.counter_offset_mj = 7_654_321
        self._done = 0  # steps finished by `now` (now only moves forward)
        self._tick = -1  # index of the last tick at or before `now`
        self._tick_value_mj = self.counter_offset_mj

    # ------------------------------------------------------------------ host side
    def advance(self, seconds: float) -> None:
        """Let host time pass."""
        self.now += max(0.0, seconds)

    def enqueue(self, gpu_s: float, launch_s: float) -> None:
        """The host launches one step: ``launch_s`` of host time, ``gpu_s`` of device work.

        The device starts the step when it is free and the launch has begun; it cannot
        finish before the launch has; in between, it draws busy power for ``gpu_s`` of the
        span only (the launch-bound eager case spreads the work thinly).
        """
        begin = self.now
        self.advance(launch_s)
        start = max(begin, self.ends[-1] if self.ends else 0.0)
        end = max(start + gpu_s, self.now)
        self.starts.append(start)
        self.ends.append(end)
        self.duty.append(gpu_s / (end - start))

    def in_flight(self) -> int:
        """Steps not finished at host time ``now``."""
        while self._done < len(self.ends) and self.ends[self._done] <= self.now:
            self._done += 1
        return len(self.ends) - self._done

    # ------------------------------------------------------------------ power and energy
    def _target_w(self, times: np.ndarray) -> np.ndarray:
        trace = self.trace
        target = np.full(times.shape, trace.idle_w)
        if not self.starts:
            return target
        starts = np.asarray(self.starts)
        ends = np.asarray(self.ends)
        index = np.searchsorted(starts, times, side="right") - 1
        valid = index >= 0
        clipped = np.clip(index, 0, None)
        inside = valid & (times < ends[clipped])
        if not inside.any():
            return target
        k = clipped[inside]
        phase = (times[inside] - starts[k]) / (ends[k] - starts[k])
        shape = np.asarray(trace.shape)
        rel = shape[np.minimum((phase * len(shape)).astype(int), len(shape) - 1)] / shape.mean()
        busy = trace.busy_w * rel * (1.0 + trace.drift_per_s * times[inside])
        duty = np.asarray(self.duty)[k]
        target[inside] = duty * busy + (1.0 - duty) * trace.idle_w
        return target

    def _extend(self, until: float) -> None:
        needed = min(math.ceil(until / self.dt), self._grid_n)
        if needed <= self._filled:
            return
        k = np.arange(self._filled, needed)
        target = self._target_w((k + 0.5) * self.dt)
        power, _ = lfilter(
            [self._alpha],
            [1.0, self._alpha - 1.0],
            target,
            zi=[(1.0 - self._alpha) * self._power_w],
        )
        self._power_w = float(power[-1])
        self._cum_j[self._filled + 1 : needed + 1] = self._cum_j[self._filled] + np.cumsum(
            power * self.dt
        )
        self._filled = needed

    def energy_j(self, when: float) -> float:
        """Exact energy used from time 0 to ``when`` (final only for ``when <= now``)."""
        self._extend(when + self.dt)
        position = when / self.dt
        k = int(position)
        return float(self._cum_j[k] + (position - k) * (self._cum_j[k + 1] - self._cum_j[k]))

    def power_w(self) -> float:
        """Power at the present moment."""
        self._extend(self.now)
        return self._power_w

    def stall(self, start_s: float, end_s: float) -> None:
        """The counter shows no new value from ``start_s`` until ``end_s`` (then catches up)."""
        stalled = (self._visible >= start_s) & (self._visible < end_s)
        self._visible[stalled] = end_s

    def counter_mj(self) -> int:
        """The counter as NVML shows it now: energy up to the last tick (minus lag), mJ."""
        self.reads += 1
        probability, slow_s = self.slow_reads
        slow = probability > 0 and self._read_rng.random() < probability
        self.advance(slow_s if slow else self.read_cost_s)
        last = self._tick
        while self._visible[last + 1] <= self.now:
            last += 1
        if last != self._tick and last >= 0:
            upto = max(0.0, float(self._ticks[last]) - self.lag_s)
            self._tick_value_mj = self.counter_offset_mj + int(self.energy_j(upto) * 1000.0)
        self._tick = last
        return self._tick_value_mj

    # ------------------------------------------------------------------ ground truth
    def true_energy_per_step(self, start: float, end: float) -> float:
        """Energy per step of the steps wholly inside ``[start, end]``.

        Each step owns the energy from its start to the next step's start, so gaps in
        launch-bound runs are charged to the step before them.
        """
        inside = [
            i
            for i, (s, e) in enumerate(zip(self.starts, self.ends, strict=True))
            if s >= start and e <= end
        ]
        if not inside:
            raise ValueError("no whole step inside the window")
        first, last = inside[0], inside[-1]
        stop = self.starts[last + 1] if last + 1 < len(self.starts) else self.ends[last]
        return (self.energy_j(stop) - self.energy_j(self.starts[first])) / len(inside)


class SimClock:
    """The :class:`gsearch.energy.meter.Clock` of a simulated device."""

    def __init__(self, device: SimDevice) -> None:
        self.device = device

    def now(self) -> float:
        return self.device.now

    def sleep(self, seconds: float) -> None:
        self.device.advance(seconds)


class SimRunner:
    """A :class:`gsearch.energy.window.StepRunner` on the simulated device.

    Args:
        device: The simulated GPU.
        gpu_s: Device time of one step.
        batch: Frames per step.
        launch_s: Host time to launch one step (tens of microseconds for a CUDA graph,
            milliseconds for an eager step).
    """

    asynchronous = True

    def __init__(self, device: SimDevice, gpu_s: float, batch: int = 1, launch_s: float = 15e-6):
        self.device = device
        self.gpu_s = gpu_s
        self.frames_per_step = batch
        self.launch_s = launch_s
        self._first = 0
        self.launched = 0

    def launch(self) -> None:
        self.device.enqueue(self.gpu_s, self.launch_s)
        self.launched += 1

    def set_steps_per_launch(self, count: int) -> None:
        """Replay ``count`` steps per launch (a CUDA graph of several steps): one launch's
        host cost, ``count`` steps of device work and frames."""
        self.gpu_s *= count
        self.frames_per_step *= count

    def in_flight(self) -> int:
        return self.device.in_flight()

    def wait_one(self) -> None:
        pending = [e for e in self.device.ends if e > self.device.now]
        if pending:
            self.device.now = pending[0]

    def synchronize(self) -> None:
        if self.device.ends:
            self.device.now = max(self.device.now, self.device.ends[-1])

    def start_record(self) -> None:
        self.synchronize()
        self._first = len(self.device.starts)

    def spans(self) -> list[tuple[float, float]]:
        return list(
            zip(self.device.starts[self._first :], self.device.ends[self._first :], strict=True)
        )


@dataclass
class FakeGpu:
    """What NVML reports about one GPU; ``sim`` drives its counter and power."""

    uuid: str
    name: str = "NVIDIA H200"
    sim: SimDevice | None = None
    has_counter: bool = True
    power_limit_mw: int = 700_000
    temperature_c: int = 41
    extra: dict[str, Any] = field(default_factory=dict)


class FakeNvml:
    """The pynvml functions gsearch uses, answered from :class:`FakeGpu` objects."""

    def __init__(self, gpus: list[FakeGpu], driver: str = "580.159.04") -> None:
        self.gpus = gpus
        self.driver = driver
        self.inits = 0
        self.shutdowns = 0

    def _gpu(self, handle: Any) -> FakeGpu:
        return self.gpus[handle]

    def install(self, monkeypatch: Any) -> FakeNvml:
        def not_supported() -> pynvml.NVMLError:
            return pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

        def init() -> None:
            self.inits += 1

        def shutdown() -> None:
            self.shutdowns += 1

        def by_index(index: int) -> int:
            if not 0 <= index < len(self.gpus):
                raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            return index

        def by_uuid(uuid: Any) -> int:
            text = uuid.decode() if isinstance(uuid, bytes) else uuid
            for index, gpu in enumerate(self.gpus):
                if gpu.uuid == text:
                    return index
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

        def energy(handle: int) -> int:
            gpu = self._gpu(handle)
            if not gpu.has_counter:
                raise not_supported()
            assert gpu.sim is not None
            return gpu.sim.counter_mj()

        def power(handle: int) -> int:
            gpu = self._gpu(handle)
            assert gpu.sim is not None
            return int(gpu.sim.power_w() * 1000)

        def clock_info(handle: int, kind: int) -> int:
            return 1980 if kind == pynvml.NVML_CLOCK_SM else 3201

        patches = {
            "nvmlInit": init,
            "nvmlShutdown": shutdown,
            "nvmlDeviceGetCount": lambda: len(self.gpus),
            "nvmlDeviceGetHandleByIndex": by_index,
            "nvmlDeviceGetHandleByUUID": by_uuid,
            "nvmlDeviceGetUUID": lambda h: self._gpu(h).uuid,
            "nvmlDeviceGetName": lambda h: self._gpu(h).name,
            "nvmlSystemGetDriverVersion": lambda: self.driver,
            "nvmlDeviceGetTotalEnergyConsumption": energy,
            "nvmlDeviceGetPowerUsage": power,
            "nvmlDeviceGetEnforcedPowerLimit": lambda h: self._gpu(h).power_limit_mw,
            "nvmlDeviceGetClockInfo": clock_info,
            "nvmlDeviceGetTemperature": lambda h, sensor: self._gpu(h).temperature_c,
        }
        for name, fn in patches.items():
            monkeypatch.setattr(pynvml, name, fn)
        return self
