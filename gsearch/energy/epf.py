"""The EPF protocol: energy per frame of training steps, measured so that it can be trusted.

For every (candidate, batch) row:

1. **Idle power** is measured once per session, before any work, on the same meter
   (for the dynamic EPF: total minus idle power times time).
2. **Prepare**: build the model on the device, wrap one training step in a runner (a
   CUDA graph by default on a GPU, see :mod:`gsearch.energy.steps`), then warm up for
   ``warmup_s`` *and* at least ``warmup_steps`` steps so clocks and power settle.
   The warm-up also times the step, which sizes the launch queue (``queue_s`` of
   work in flight keeps the GPU busy without the host running far ahead).
3. **Windows**: ``repeats`` rounds; each round measures every candidate of the batch
   once, in an order rotated every round, so slow drifts (heating, clocks) spread over
   all candidates instead of biasing one. Each window starts with a pre-roll and is
   tick-aligned where the meter has a tick counter and the device runs asynchronously
   (NVML on CUDA), else plain (RAPL, power polling, the model meter, the CPU); see
   :mod:`gsearch.energy.window` for why and for the measured error of both.
4. **Result**: median EPF over the windows with a distribution-free interval, ms per
   frame, average power, total and dynamic EPF, device facts, temperatures.

Candidates of one batch are prepared together while they fit in device memory; when one
does not fit, those already prepared are measured (interleaved) and released, and
preparation resumes on an empty device. A candidate that does not fit alone is marked
out-of-memory and the other rows still run. ``reference`` mode replaces the windows by
one 20 s plain window: the yardstick that reveals a bias repeats cannot.

Measured rows are cached (:mod:`gsearch.energy.cache`) by architecture, device,
software, step and protocol, so repeating a measurement asks the device nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gsearch.energy.cache import EpfCache
from gsearch.energy.facts import device_facts, identity
from gsearch.energy.meter import JOULES, Clock, EnergyChoice, Meter, SystemClock
from gsearch.energy.model import ModelMeter
from gsearch.energy.rapl import POWERCAP_ROOT, RAPL_SOURCE
from gsearch.energy.select import open_meter, resolve_device
from gsearch.energy.stats import MedianInterval, median_interval, spread
from gsearch.energy.steps import (
    StepConfig,
    cudnn_benchmark,
    describe,
    free_memory,
    is_out_of_memory,
    make_runner,
    torch_threads,
)
from gsearch.energy.walltime import TIME_SOURCE
from gsearch.energy.window import (
    ALIGNED,
    PLAIN,
    IdlePower,
    StepRunner,
    Window,
    measure_aligned_retrying,
    measure_idle,
    measure_plain,
    run_for,
)
from gsearch.errors import GsearchError

# Bump on every change of what the protocol measures, so cached rows of an older
# protocol are measured again (2: windows aligned with the queue kept full, 6bbc01d;
# 3: CPU rows from the fastest window on one thread, with a baseline network beside them).
PROTOCOL_VERSION = 3
REFERENCE_S = 20.0
# Launched-but-unfinished steps at most; a step too short to fill ``queue_s`` with this
# many is replayed several times per launch (a CUDA graph of k steps) instead.
MAX_QUEUE_DEPTH = 64
# A row whose windows were busy less than this share of their time is flagged: its EPF
# includes idle energy (the GPU waited on the host between steps).
MIN_BUSY_FRACTION = 0.9
METHODS = ("auto", ALIGNED, PLAIN)
ESTIMATORS = ("median", "min")
# The narrowest band a ``min`` row's interval may have: +/- 2%.
MIN_BAND = 0.02
# How many of the baseline's bands a row read against it adds to its own (see below).
BASELINE_BANDS = 3

Log = Callable[[str], None]
RunnerFactory = Callable[[nn.Module, StepConfig, torch.device, Clock], StepRunner]


@dataclass(frozen=True)
class EpfProtocol:
    """How windows are taken.

    Attributes:
        repeats: Windows per row (interleaved across the candidates of a batch).
        window_s: Minimum length of one window.
        warmup_s: Warm-up per candidate after preparing it, seconds...
        warmup_steps: ...and at least this many steps.
        preroll_s: Steps run right before each window (power steady at its start).
        idle_s: Length of the idle-power window (once per session).
        method: ``auto`` (aligned where the meter ticks and the device is asynchronous,
            else plain), ``aligned`` or ``plain``.
        queue_s: Work kept in flight on an asynchronous device.
        reference: This is the 20 s reference protocol.
        estimator: How a row's windows become its EPF: ``median`` (energy counters on
            a GPU, which nothing else on the host disturbs), or ``min`` (CPU meters: other
            work can only slow a window down, so the fastest is the network's own cost;
            the interval is then a band as wide as the gap to the third-fastest window,
            at least ``MIN_BAND``, which covered the next run's value in >= 90% of cases,
            BENCHMARKS.md "EPF that repeats").
        cpu_threads: Intra-op threads of measured CPU steps (0: torch's default). Keyed:
            a network's speed depends on it.
    """

    repeats: int = 5
    window_s: float = 1.0
    warmup_s: float = 1.0
    warmup_steps: int = 5
    preroll_s: float = 0.2
    idle_s: float = 1.0
    method: str = "auto"
    queue_s: float = 0.02
    reference: bool = False
    estimator: str = "median"
    cpu_threads: int = 0

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise GsearchError(f"repeats must be >= 1, got {self.repeats}")
        if self.window_s <= 0:
            raise GsearchError(f"window must be > 0 s, got {self.window_s}")
        if self.warmup_s < 0 or self.warmup_steps < 1:
            raise GsearchError("warm-up needs seconds >= 0 and steps >= 1")
        if self.method not in METHODS:
            raise GsearchError(f"unknown window method {self.method!r}: choose {METHODS}")
        if self.estimator not in ESTIMATORS:
            raise GsearchError(f"unknown estimator {self.estimator!r}: choose {ESTIMATORS}")
        if self.cpu_threads < 0:
            raise GsearchError(
                f"cpu_threads must be >= 0 (0: torch's default), got {self.cpu_threads}"
            )

    @classmethod
    def reference_protocol(cls, **overrides: Any) -> EpfProtocol:
        """One plain 20 s window per row: the yardstick for bias."""
        settings: dict[str, Any] = {
            "repeats": 1,
            "window_s": REFERENCE_S,
            "method": PLAIN,
            "reference": True,
        }
        settings.update(overrides)
        return cls(**settings)

    def key(self) -> dict[str, Any]:
        """The protocol part of a cache key."""
        return {"version": PROTOCOL_VERSION, **asdict(self)}


# The defaults above are for energy counters: NVML's ticks every 100 ms and needs windows
# of a second. The time meter reads a nanosecond clock with no tick to wait for; what
# limits it is how much the steps themselves vary. With protocol 3 (the fastest of 5
# windows, beside the baseline) 0.2 s windows repeat within 5% from process to process on
# a quiet cpu-2c (BENCHMARKS.md, "EPF that repeats"), and they win back the time the
# baseline and the joint measurement of the front cost the main job.
# CPU meters (time, RAPL) take the fastest window on one thread (see EpfProtocol).
_SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    TIME_SOURCE: {
        "window_s": 0.2,
        "warmup_s": 0.2,
        "preroll_s": 0.05,
        "estimator": "min",
        "cpu_threads": 1,
    },
    RAPL_SOURCE: {"estimator": "min", "cpu_threads": 1},
}


def default_protocol(source: str, **overrides: Any) -> EpfProtocol:
    """The protocol for ``source`` when the user sets none, with ``overrides`` applied."""
    return EpfProtocol(**{**_SOURCE_DEFAULTS.get(source, {}), **overrides})


@dataclass(frozen=True)
class Candidate:
    """One architecture to measure.

    Attributes:
        model: Model name (registry name, or any label).
        policy: Group policy string (or any label).
        build: Makes a fresh model (called once on the meta device to fingerprint and
            count it, then once per batch on the real device).
    """

    model: str
    policy: str
    build: Callable[[], nn.Module] = field(compare=False, repr=False)
    score: Callable[[int], float] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class EpfResult:
    """EPF of one candidate at one batch size, with everything needed to judge it.

    Energies are in ``unit``: ``mJ`` per frame for measured sources, ``model`` units per
    frame for the model meter (never comparable to millijoules).

    Attributes:
        model: Model name.
        policy: Policy label.
        batch: Frames per step.
        status: ``ok``, or ``oom`` when the batch does not fit in memory.
        unit: ``mJ`` or ``model``.
        source: Energy source (``nvml``, ``nvml-power``, ``rapl``, ``model``).
        method: Window method (``aligned`` or ``plain``).
        mode: ``graph`` or ``eager``.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        channels_last: Memory format of model and input.
        resolution: Input size, pixels.
        epf: Median EPF over the windows, per frame.
        epf_low: Lower end of the interval around the median.
        epf_high: Upper end.
        confidence: Coverage of that interval (0.9375 for 5 windows, >= 0.95 from 6).
        epf_windows: EPF of every window.
        spread: max/min - 1 over the windows.
        ms_per_frame: Median wall time per frame, milliseconds.
        ms_windows: Wall time per frame of every window, milliseconds.
        power_w: Median average power in the windows (None for model units).
        idle_power_w: Idle power measured in the same session (None for model units).
        dynamic_epf: Median of EPF minus idle power times time per frame (None without
            idle power).
        device_s: Device time this row took: preparing, warm-up and windows.
        temperature_before_c: Device temperature before the first window.
        temperature_after_c: After the last window.
        window_starts_s: Host clock time each window opened (orders the windows of a
            session across rows).
        window_temperatures_c: Device temperature after each window.
        window_ticks: Aligned windows: each window's counter ticks, (seconds, joules,
            steps) since its first (see :mod:`benchmarks.ticks`).
        epf_ratio: EPF over the baseline network's, both measured in the same rounds
            (None without a baseline); ``epf`` is then this ratio times ``baseline_epf``.
        baseline_policy: The baseline network's policy.
        baseline_epf: The baseline's first EPF in this session: the scale of ``epf``.
        epf_alone: The row's own estimate, before it was read against the baseline.
        facts: Device and software facts (GPU, driver, power limit, clocks, versions...).
        energy_reason: Why this energy source was chosen.
        message: Why the row failed, for ``oom``; for an ``ok`` row, what to doubt.
        cached: Read from the cache rather than measured now.
    """

    model: str
    policy: str
    batch: int
    status: str
    unit: str
    source: str
    method: str
    mode: str
    precision: str
    channels_last: bool
    resolution: int
    epf: float | None = None
    epf_low: float | None = None
    epf_high: float | None = None
    confidence: float | None = None
    epf_windows: tuple[float, ...] = ()
    spread: float | None = None
    ms_per_frame: float | None = None
    ms_windows: tuple[float, ...] = ()
    power_w: float | None = None
    idle_power_w: float | None = None
    dynamic_epf: float | None = None
    device_s: float = 0.0
    temperature_before_c: float | None = None
    temperature_after_c: float | None = None
    window_starts_s: tuple[float, ...] = ()
    window_temperatures_c: tuple[float | None, ...] = ()
    window_ticks: tuple[tuple[tuple[float, float, float], ...], ...] = ()
    epf_ratio: float | None = None
    baseline_policy: str | None = None
    baseline_epf: float | None = None
    epf_alone: float | None = None
    busy_fraction: float | None = None
    steps_per_launch: int = 1
    idle_settle_s: float | None = None
    idle_settled: bool | None = None
    counter_stalls: int = 0
    facts: dict[str, Any] = field(default_factory=dict)
    energy_reason: str = ""
    message: str = ""
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the per-window tuples as lists)."""
        data = asdict(self)
        for name in _PER_WINDOW:
            data[name] = list(getattr(self, name))
        data["window_ticks"] = [[list(tick) for tick in ticks] for ticks in self.window_ticks]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpfResult:
        """The inverse of :meth:`to_dict` (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in _PER_WINDOW:
            values[name] = tuple(values.get(name, ()))
        values["window_ticks"] = tuple(
            tuple(tuple(tick) for tick in ticks) for ticks in values.get("window_ticks", ())
        )
        return cls(**values)


_PER_WINDOW = ("epf_windows", "ms_windows", "window_starts_s", "window_temperatures_c")


def architecture_fingerprint(model: nn.Module) -> str:
    """Short hash of a model's structure: module tree and parameter shapes."""
    shapes = [(name, tuple(p.shape)) for name, p in model.named_parameters()]
    text = repr(model) + repr(shapes)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def candidate_fingerprint(candidate: Candidate) -> str:
    """Fingerprint of a candidate's network, built on the meta device (free)."""
    with torch.device("meta"):
        return architecture_fingerprint(candidate.build())


class EnergySession:
    """A device and its energy meter, opened once for many measurements.

    Args:
        device: The torch device steps run on.
        meter: The hardware meter, or None for the model meter (made per row).
        choice: Which source and why.
        clock: Time source (a simulated one in tests).
        facts: Device facts; gathered from torch and the meter when omitted.
        log: Where progress lines go (None: nowhere).
    """

    def __init__(
        self,
        device: torch.device,
        meter: Meter | None,
        choice: EnergyChoice,
        clock: Clock | None = None,
        facts: dict[str, Any] | None = None,
        log: Log | None = None,
    ) -> None:
        self.device = device
        self.meter = meter
        self.choice = choice
        self.clock = clock or SystemClock()
        self.log = log or (lambda _line: None)
        if facts is None:
            meter_facts = getattr(meter, "facts", None)
            facts = device_facts(device, meter_facts() if callable(meter_facts) else None)
        self.facts = facts
        self.idle: IdlePower | None = None
        self._idle_measured = False
        # The baseline network's first EPF in this process, per step: the scale every
        # later row's ratio to the baseline is read in (drift within the process cancels).
        self.baseline_epf: dict[str, float] = {}

    @property
    def source(self) -> str:
        """The energy source name."""
        return self.choice.source

    @property
    def unit(self) -> str:
        """``mJ`` for energy counters, ``ms`` for the time meter, ``model`` for Eq. 1."""
        if self.meter is None:
            return "model"
        return "mJ" if self.meter.unit == JOULES else self.meter.unit

    def idle_power_w(self, seconds: float) -> float | None:
        """Idle power, measured once (on first call) on this session's meter, watts."""
        if not self._idle_measured:
            self._idle_measured = True
            if self.meter is not None and self.meter.unit == JOULES:  # time has no idle power
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                self.idle = measure_idle(self.meter, self.clock, seconds)
                if self.idle is not None:
                    state = "settled" if self.idle.settled else "still moving"
                    self.log(
                        f"idle power {self.idle.power_w:.1f} W ({self.source}; {state} "
                        f"after {self.idle.settle_s:.1f} s)"
                    )
        return None if self.idle is None else self.idle.power_w

    def temperature_c(self) -> float | None:
        """Device temperature where the meter can tell."""
        return None if self.meter is None else self.meter.temperature_c()

    def close(self) -> None:
        """Release the meter."""
        if self.meter is not None:
            self.meter.close()

    def __enter__(self) -> EnergySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(
    device: str | torch.device = "auto",
    energy: str = "auto",
    *,
    clock: Clock | None = None,
    rapl_root: Path = POWERCAP_ROOT,
    log: Log | None = None,
) -> EnergySession:
    """Resolve the device, choose the energy source (``auto``: nvml / rapl / model).

    The choice and its reason are logged and recorded with every result.
    """
    resolved = resolve_device(device)
    clock = clock or SystemClock()
    meter, choice = open_meter(resolved, energy, clock=clock, rapl_root=rapl_root)
    session = EnergySession(resolved, meter, choice, clock, log=log)
    session.log(f"energy source: {choice.source} ({choice.reason})")
    return session


@dataclass
class _Active:
    """A prepared candidate and what was measured for it so far."""

    candidate: Candidate
    runner: StepRunner
    meter: Meter
    depth: int
    seconds: float
    windows: list[Window] = field(default_factory=list)
    temperatures_c: list[float | None] = field(default_factory=list)  # after each window
    temperature_before_c: float | None = None
    failure: str = ""
    steps_per_launch: int = 1


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


class _Measurement:
    """One call of :func:`measure_candidates`: the state shared by its rows."""

    def __init__(
        self,
        session: EnergySession,
        step: StepConfig,
        protocol: EpfProtocol,
        runner_factory: RunnerFactory,
    ) -> None:
        self.session = session
        self.step = step
        self.protocol = protocol
        self.runner_factory = runner_factory
        self.clock = session.clock

    def method(self, active: _Active) -> str:
        if self.protocol.method != "auto":
            return self.protocol.method
        if active.meter.tick_s is not None and active.runner.asynchronous:
            return ALIGNED
        return PLAIN

    def row(self, candidate: Candidate, config: StepConfig, **values: Any) -> EpfResult:
        settings: dict[str, Any] = {
            "model": candidate.model,
            "policy": candidate.policy,
            "batch": config.batch,
            "unit": self.session.unit,
            "source": self.session.source,
            "mode": config.effective_mode(self.session.device),
            "precision": config.precision,
            "channels_last": config.channels_last,
            "resolution": config.resolution,
            "facts": dict(self.session.facts),
            "energy_reason": self.session.choice.reason,
        }
        settings.update(values)
        return EpfResult(**settings)

    def prepare(self, candidate: Candidate, config: StepConfig, score: float) -> _Active:
        start = self.clock.now()
        model = candidate.build()
        runner = self.runner_factory(model, config, self.session.device, self.clock)
        meter = self.session.meter or ModelMeter(score, self.clock)
        runner.start_record()
        run_for(runner, self.clock, self.protocol.warmup_s, self.protocol.warmup_steps, 2)
        runner.synchronize()
        spans = runner.spans()
        tail = spans[len(spans) // 2 :]
        step_s = _median([end - begin for begin, end in tail]) if tail else 0.0
        steps_per_launch = 1
        resize = getattr(runner, "set_steps_per_launch", None)
        if step_s > 0 and runner.asynchronous and callable(resize):
            # Too short to keep `queue_s` in flight: the GPU would idle during slow counter
            # reads (2.8 ms median, 15 ms p99 on an H200), so replay k steps per launch.
            steps_per_launch = math.ceil(self.protocol.queue_s / (MAX_QUEUE_DEPTH * step_s))
            if steps_per_launch > 1:
                resize(steps_per_launch)
                step_s *= steps_per_launch
                run_for(runner, self.clock, 0.0, self.protocol.warmup_steps, 2)
                runner.synchronize()
        depth = 2 if step_s <= 0 else math.ceil(self.protocol.queue_s / step_s)
        depth = min(MAX_QUEUE_DEPTH, max(2, depth))
        active = _Active(candidate, runner, meter, depth, self.clock.now() - start)
        active.steps_per_launch = steps_per_launch
        return active

    def window(self, active: _Active) -> Window:
        protocol = self.protocol
        if self.method(active) == ALIGNED:
            candidate = active.candidate
            return measure_aligned_retrying(
                active.runner,
                active.meter,
                self.clock,
                window_s=protocol.window_s,
                preroll_s=protocol.preroll_s,
                max_in_flight=active.depth,
                log=lambda line: self.session.log(f"{candidate.model} {candidate.policy}: {line}"),
            )
        return measure_plain(
            active.runner,
            active.meter,
            self.clock,
            window_s=protocol.window_s,
            preroll_s=protocol.preroll_s,
            max_in_flight=active.depth,
        )

    def interleave(self, chunk: list[_Active]) -> None:
        for round_index in range(self.protocol.repeats):
            shift = round_index % len(chunk)
            for active in chunk[shift:] + chunk[:shift]:
                if active.failure:
                    continue
                start = self.clock.now()
                if active.temperature_before_c is None:
                    active.temperature_before_c = self.session.temperature_c()
                try:
                    active.windows.append(self.window(active))
                except Exception as error:  # only out-of-memory is a row's own failure
                    if not is_out_of_memory(error):
                        raise
                    active.failure = describe(error)
                    self.release(active)
                active.seconds += self.clock.now() - start
                if not active.failure:
                    active.temperatures_c.append(self.session.temperature_c())

    def release(self, active: _Active) -> None:
        release = getattr(active.runner, "release", None)
        if callable(release):
            release()
        free_memory(self.session.device)

    def result(self, active: _Active, config: StepConfig, idle_w: float | None) -> EpfResult:
        if active.failure:
            return self.row(
                active.candidate,
                config,
                status="oom",
                method=self.method(active),
                message=active.failure,
                device_s=active.seconds,
            )
        scale = 1000.0 if active.meter.unit == JOULES else 1.0
        epfs = [w.energy_per_frame * scale for w in active.windows]
        ms = [w.seconds_per_frame * 1e3 for w in active.windows]
        interval = estimate(epfs, self.protocol.estimator)
        powers = [w.power_w for w in active.windows if w.power_w is not None]
        dynamic = None
        if idle_w is not None:
            dynamic = _median(
                [(w.energy - idle_w * w.seconds) / w.frames * scale for w in active.windows]
            )
        busy = min(w.busy_fraction for w in active.windows)
        idle = self.session.idle
        return self.row(
            active.candidate,
            config,
            status="ok",
            method="/".join(dict.fromkeys(w.method for w in active.windows)),
            busy_fraction=busy,
            steps_per_launch=active.steps_per_launch,
            idle_settle_s=None if idle is None else idle.settle_s,
            idle_settled=None if idle is None else idle.settled,
            counter_stalls=sum(w.stalls for w in active.windows),
            message=(
                f"busy {100 * busy:.0f}% of a window (under {100 * MIN_BUSY_FRACTION:.0f}%): "
                "its EPF includes idle energy"
                if busy < MIN_BUSY_FRACTION
                else ""
            ),
            epf=interval.median,
            epf_low=interval.low,
            epf_high=interval.high,
            confidence=interval.confidence,
            epf_windows=tuple(epfs),
            spread=spread(epfs),
            ms_per_frame=estimate(ms, self.protocol.estimator).median,
            ms_windows=tuple(ms),
            power_w=_median(powers) if powers else None,
            idle_power_w=idle_w,
            dynamic_epf=dynamic,
            device_s=active.seconds,
            temperature_before_c=active.temperature_before_c,
            temperature_after_c=active.temperatures_c[-1] if active.temperatures_c else None,
            window_starts_s=tuple(w.start_s for w in active.windows),
            window_temperatures_c=tuple(active.temperatures_c),
            window_ticks=(
                tuple(w.ticks for w in active.windows)
                if any(w.ticks for w in active.windows)
                else ()
            ),
        )

    def group(
        self, todo: list[tuple[Candidate, float]], config: StepConfig, idle_w: float | None
    ) -> dict[Candidate, EpfResult]:
        """Measure the candidates of one batch, interleaved in chunks that fit in memory."""
        results: dict[Candidate, EpfResult] = {}
        queue = deque(todo)
        while queue:
            chunk: list[_Active] = []
            while queue:
                candidate, score = queue[0]
                start = self.clock.now()
                try:
                    active = self.prepare(candidate, config, score)
                except GsearchError:
                    raise
                except Exception as error:
                    if not is_out_of_memory(error):
                        raise GsearchError(
                            f"{candidate.model} {candidate.policy} at batch {config.batch}, "
                            f"{config.resolution} px: the training step failed: {describe(error)}"
                        ) from error
                    free_memory(self.session.device)
                    if chunk:
                        break  # measure what fits, then retry this one on an empty device
                    queue.popleft()
                    results[candidate] = self.row(
                        candidate,
                        config,
                        status="oom",
                        method=self.protocol.method,
                        message=describe(error),
                        device_s=self.clock.now() - start,
                    )
                    self.session.log(
                        f"{candidate.model} {candidate.policy} B={config.batch}: out of memory"
                    )
                    continue
                queue.popleft()
                chunk.append(active)
            if not chunk:
                continue
            try:
                self.interleave(chunk)
            finally:
                for active in chunk:
                    if not active.failure:
                        self.release(active)
            for active in chunk:
                results[active.candidate] = self.result(active, config, idle_w)
                row = results[active.candidate]
                self.session.log(_progress_line(row))
        return results


def estimate(values: Sequence[float], estimator: str) -> MedianInterval:
    """A row's value and interval from its windows (see ``EpfProtocol.estimator``).

    ``min``: the fastest window, with a band of +/- the gap to the third-fastest (at
    least ``MIN_BAND``): a row whose fast windows agree is sure of its value, one whose
    fastest window stands alone is not. Its ``confidence`` is 0: the band's coverage is
    measured (benchmarks/epf_repeatability.py), not derived.
    """
    if estimator != "min" or len(values) < 2:
        return median_interval(values)
    ordered = sorted(values)
    fastest = ordered[0]
    band = max((ordered[min(2, len(ordered) - 1)] - fastest) / fastest, MIN_BAND)
    return MedianInterval(fastest, fastest / (1 + band), fastest * (1 + band), 0.0)


def _progress_line(row: EpfResult) -> str:
    if row.status != "ok" or row.epf is None:
        return f"{row.model} {row.policy} B={row.batch}: {row.status} {row.message}"
    return (
        f"{row.model} {row.policy} B={row.batch}: {row.epf:.4g} {row.unit}/frame "
        f"[{row.epf_low:.4g}, {row.epf_high:.4g}] spread {100 * (row.spread or 0):.2f}% "
        f"{row.ms_per_frame:.3f} ms/frame ({row.method}, {row.device_s:.1f} s)"
    )


def cache_key(
    candidate: Candidate,
    fingerprint: str,
    config: StepConfig,
    protocol: EpfProtocol,
    session: EnergySession,
) -> dict[str, Any]:
    """What a cached row is valid for: the built network, not the policy's spelling."""
    return {
        "architecture": fingerprint,
        "device": identity(session.facts),
        "step": asdict(replace(config, mode=config.effective_mode(session.device))),
        "protocol": protocol.key(),
        "source": session.source,
    }


def _against_baseline(
    session: EnergySession,
    rows: dict[Candidate, EpfResult],
    base: EpfResult,
    scale_key: str,
) -> dict[Candidate, EpfResult]:
    """Rows read against the baseline measured in the same rounds (``baseline`` above)."""
    if base.status != "ok" or base.epf is None:
        raise GsearchError(
            f"the baseline network {base.model} {base.policy} could not be measured at "
            f"batch {base.batch}: {base.message or base.status}"
        )
    scale_epf = session.baseline_epf.setdefault(scale_key, base.epf)
    base_band = _band(base)
    out: dict[Candidate, EpfResult] = {}
    for candidate, row in rows.items():
        if row.status != "ok" or row.epf is None:
            out[candidate] = row
            continue
        ratio = row.epf / base.epf
        epf = ratio * scale_epf
        # The baseline's uncertainty enters in the ratio's denominator and in the scale (its
        # first EPF in this process, which another process measures anew): twice at least.
        # Three times is what covered the next process's value in >= 90% of cases on the
        # 2-core machine under a load of 4-5 (BENCHMARKS.md, "EPF that repeats").
        band = _band(row) + BASELINE_BANDS * base_band
        out[candidate] = replace(
            row,
            epf=epf,
            epf_low=epf / (1 + band),
            epf_high=epf * (1 + band),
            epf_ratio=ratio,
            baseline_policy=base.policy.removesuffix(" (baseline)"),
            baseline_epf=scale_epf,
            epf_alone=row.epf,
        )
    return out


def _band(row: EpfResult) -> float:
    """Relative half-width of a row's interval (its wider side)."""
    assert row.epf is not None and row.epf_low is not None and row.epf_high is not None
    if row.epf <= 0 or row.epf_low <= 0:
        return 0.0
    return max(row.epf_high / row.epf - 1, row.epf / row.epf_low - 1)


def _model_score(session: EnergySession, candidate: Candidate, batch: int) -> float:
    """What the model meter charges a frame of ``candidate`` (0 for measured sources)."""
    if session.meter is not None:
        return 0.0
    if candidate.score is None:
        raise GsearchError(
            f"the model meter scores {candidate.model} {candidate.policy} with the paper's "
            "Eq. 1, but the candidate carries no score (build it with gsearch.candidates)"
        )
    return candidate.score(batch)


def measure_candidates(
    session: EnergySession,
    candidates: Sequence[Candidate],
    batches: Sequence[int],
    step: StepConfig | None = None,
    protocol: EpfProtocol | None = None,
    *,
    cache: EpfCache | None = None,
    runner_factory: RunnerFactory = make_runner,
    baseline: Candidate | None = None,
) -> list[EpfResult]:
    """EPF of every candidate at every batch size (rows in candidate, then batch order).

    Args:
        session: Device and meter (see :func:`open_session`).
        candidates: Architectures to compare; measured interleaved, batch by batch.
        batches: Batch sizes.
        step: What a step does; its ``batch`` is replaced by each of ``batches``.
        protocol: Windows and repeats (default :class:`EpfProtocol`).
        cache: Where measured rows are kept; a cached row is returned without measuring.
        runner_factory: Makes the step runner (tests pass a simulated device).
        baseline: A network measured in the same rounds as the candidates (never cached).
            Each row then records its ratio to it (``epf_ratio``), and its EPF is that
            ratio times the baseline's first EPF in this session: a machine that slows
            down between two measurements slows the baseline too, and the ratio cancels
            it. The interval widens by ``BASELINE_BANDS`` times the baseline's own band.

    Returns:
        One :class:`EpfResult` per (candidate, batch); out-of-memory rows have
        ``status == "oom"``.
    """
    if not candidates or not batches:
        return []
    if len({(c.model, c.policy) for c in candidates}) != len(candidates):
        raise GsearchError("the same model and policy is listed twice")
    step = step or StepConfig(batch=1)
    protocol = protocol or default_protocol(session.source)
    fingerprints = {c: candidate_fingerprint(c) for c in candidates}
    results: dict[tuple[Candidate, int], EpfResult] = {}
    work = _Measurement(session, step, protocol, runner_factory)
    if session.meter is None:  # the Eq. 1 score does not drift: nothing to cancel
        baseline = None
    if baseline is not None:  # its own label: a candidate may be the same network
        baseline = replace(baseline, policy=f"{baseline.policy} (baseline)")
    with (
        cudnn_benchmark(step.cudnn_benchmark),
        torch_threads(protocol.cpu_threads, session.device),
    ):
        for batch in batches:
            config = replace(step, batch=batch)
            todo: list[tuple[Candidate, float]] = []
            keys: dict[Candidate, dict[str, Any]] = {}
            for candidate in candidates:
                keys[candidate] = cache_key(
                    candidate, fingerprints[candidate], config, protocol, session
                )
                hit = cache.get(keys[candidate]) if cache is not None else None
                if hit is not None:
                    cached = EpfResult.from_dict(hit)
                    results[candidate, batch] = replace(
                        cached, model=candidate.model, policy=candidate.policy, cached=True
                    )
                    session.log(f"{candidate.model} {candidate.policy} B={batch}: cached")
                    continue
                todo.append((candidate, _model_score(session, candidate, batch)))
            if not todo:
                continue
            idle_w = session.idle_power_w(protocol.idle_s)
            if baseline is not None:
                todo.append((baseline, _model_score(session, baseline, batch)))
            rows = work.group(todo, config, idle_w)
            if baseline is not None:
                scale_key = json.dumps(
                    cache_key(baseline, candidate_fingerprint(baseline), config, protocol, session),
                    sort_keys=True,
                    default=str,
                )
                rows = _against_baseline(session, rows, rows.pop(baseline), scale_key)
            for candidate, row in rows.items():
                results[candidate, batch] = row
                if cache is not None and row.status == "ok":
                    cache.put(keys[candidate], row.to_dict())
    return [results[c, b] for c in candidates for b in batches]
