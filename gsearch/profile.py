"""What ``gsearch profile`` does: measure EPF of model variants and render the rows.

The CLI parses arguments and calls :func:`profile`, then prints :func:`render_table`,
:func:`to_json` or :func:`to_csv` of the report. ``energy="predicted"`` measures nothing:
it predicts every row from this device's calibration (:mod:`gsearch.energy.predict`),
and the rows say so (source ``predicted-<meter>``, method ``predicted``). With
``paper`` and no pass named, the training and the inference pass are side by side.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.table import Table

from gsearch.candidates import registry_candidate
from gsearch.energy.cache import DEFAULT_CACHE_DIR, EpfCache
from gsearch.energy.calibrate import Calibration, load_calibration
from gsearch.energy.epf import (
    EpfProtocol,
    EpfResult,
    Log,
    default_protocol,
    measure_candidates,
    open_session,
)
from gsearch.energy.meter import EnergyChoice
from gsearch.energy.meter_lock import hold_meter
from gsearch.energy.predict import DEFAULT_FORMULATION, PREDICTED, Prediction, predict_epf
from gsearch.energy.rapl import POWERCAP_ROOT
from gsearch.energy.steps import INFERENCE, PASSES, TRAINING, StepConfig
from gsearch.errors import GsearchError
from gsearch.limits import MAX_BATCH
from gsearch.paper import paper_epf_mj

PROFILE_SOURCES = ("auto", "nvml", "rapl", "time", "model", PREDICTED)


@dataclass(frozen=True)
class ProfileRow:
    """One measured (or predicted) row, with the paper's EPF beside it where it has one.

    Attributes:
        result: The measurement (method ``predicted`` for a prediction).
        paper_p100_mj: The paper's EPF on a P100 (Tables III/IV, training), mJ per frame.
        paper_p4000_mj: The paper's EPF on a P4000, mJ per frame.
        pass_: ``training`` or ``inference``.
    """

    result: EpfResult
    paper_p100_mj: float | None = None
    paper_p4000_mj: float | None = None
    pass_: str = TRAINING

    def to_dict(self) -> dict[str, Any]:
        """The result's fields plus the pass and the paper columns (the raw counter ticks
        stay in the cache: they are for diagnosing the meter, not for reading)."""
        data = self.result.to_dict()
        data.pop("window_ticks", None)
        data["pass"] = self.pass_
        data["paper_p100_mj"] = self.paper_p100_mj
        data["paper_p4000_mj"] = self.paper_p4000_mj
        return data


@dataclass(frozen=True)
class ProfileReport:
    """Everything ``gsearch profile`` prints.

    Attributes:
        rows: One per (policy, batch), policies first.
        choice: The energy source and why.
        facts: Device and software facts of the session.
        paper: Whether the paper's columns were asked for.
    """

    rows: tuple[ProfileRow, ...]
    choice: EnergyChoice
    facts: dict[str, Any]
    paper: bool = False


def parse_batches(text: str) -> list[int]:
    """``1,4,16`` -> [1, 4, 16]; each must be a positive integer."""
    try:
        batches = [int(part) for part in text.split(",")]  # an empty part is a typo, not a gap
    except ValueError:
        raise GsearchError(f"malformed batch list {text!r}: expected e.g. 1,4,16") from None
    if not batches or min(batches) < 1:
        raise GsearchError(f"batch sizes must be positive integers, got {text!r}")
    if max(batches) > MAX_BATCH:
        raise GsearchError(
            f"batch sizes must be at most {MAX_BATCH} frames (a larger step exceeds the "
            f"device's memory), got {max(batches)}"
        )
    return list(dict.fromkeys(batches))


def profile(
    model: str,
    policies: Sequence[str] | None = None,
    batches: Sequence[int] = (1,),
    *,
    paper: bool = False,
    device: str = "auto",
    energy: str = "auto",
    repeats: int = 5,
    resolution: int = 224,
    eager: bool = False,
    reference: bool = False,
    precision: str = "fp32",
    channels_last: bool = False,
    optimizer_step: bool = False,
    window_s: float | None = None,
    warmup_s: float | None = None,
    num_classes: int = 1000,
    width: float = 1.0,
    cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE_DIR,
    rapl_root: Path = POWERCAP_ROOT,
    log: Log | None = None,
    passes: Sequence[str] | None = None,
    formulation: str | None = None,
    calibration_dir: str | os.PathLike[str] | None = None,
) -> ProfileReport:
    """Measure EPF of ``model`` under each policy at each batch size.

    Args:
        model: Registered model name.
        policies: Policy strings; None with ``paper`` False means the model's default.
        batches: Batch sizes.
        paper: Measure the paper's 11 variants (plus ``policies``) and add the paper's
            P100/P4000 EPF columns.
        device: ``auto``, ``cuda:N`` or ``cpu``.
        energy: ``auto``, ``nvml``, ``rapl``, ``time``, ``model`` or ``predicted`` (from
            this device's calibration; nothing is measured).
        repeats: Windows per row (ignored with ``reference``: one 20 s window).
        resolution: Input size, pixels.
        eager: Measure eager steps instead of CUDA-graph replays.
        reference: One 20 s plain window per row (the yardstick for bias).
        precision: ``fp32``, ``bf16`` or ``fp16`` (autocast).
        channels_last: Channels-last memory format.
        optimizer_step: Include an SGD step in the measured step.
        window_s: Length of a window (default: the meter's, 1 s for an energy counter
            and 0.3 s for the time meter; 20 s with ``reference``).
        warmup_s: Warm-up per candidate (default: the meter's, 1 s or 0.3 s).
        num_classes: Classifier size.
        width: Channel multiplier.
        cache_dir: Cache directory; None disables the cache.
        rapl_root: The powercap tree (tests pass a fake one).
        log: Progress lines (choice of energy source, one line per row).
        passes: ``training`` and/or ``inference``; None means training, or both with
            ``paper``.
        formulation: The predictor's formulation (``predicted`` only; default the
            predictor's).
        calibration_dir: Where calibrations are (default: ``cache_dir``, else
            ``studies/cache``).
    """
    from gsearch.table import PAPER_POLICIES

    chosen: list[str | None] = list(PAPER_POLICIES) if paper else []
    chosen += [p for p in policies or () if p not in chosen]
    if not chosen:
        chosen = [None]
    candidates = []
    for policy in chosen:
        candidate = registry_candidate(
            model, policy, num_classes=num_classes, width=width, resolution=resolution
        )
        if candidate not in candidates:
            candidates.append(candidate)
    overrides: dict[str, Any] = {}
    if window_s is not None:
        overrides["window_s"] = window_s
    if warmup_s is not None:
        overrides["warmup_s"] = warmup_s
    if reference:
        protocol: EpfProtocol | None = EpfProtocol.reference_protocol(**overrides)
    else:
        protocol = None  # the meter's default (known once the session is open)
    step = StepConfig(
        batch=1,
        resolution=resolution,
        precision=precision,
        channels_last=channels_last,
        mode="eager" if eager else "graph",
        optimizer_step=optimizer_step,
        num_classes=num_classes,
    )
    chosen_passes = list(passes or ((TRAINING, INFERENCE) if paper else (TRAINING,)))
    for name in chosen_passes:
        if name not in PASSES:
            raise GsearchError(f"unknown pass {name!r}: choose {', '.join(PASSES)}")
    results: list[tuple[str, EpfResult]] = []
    if energy == PREDICTED:
        from gsearch.calibration_plan import policy_layers

        with open_session(device, "auto", rapl_root=rapl_root, log=log) as session:
            facts, meter_source = session.facts, session.source
        directory = calibration_dir or cache_dir or DEFAULT_CACHE_DIR
        choice = EnergyChoice(PREDICTED, f"predicted from the calibration in {directory}")
        for name in chosen_passes:
            config = replace(step, pass_=name)
            for candidate in candidates:
                layers = policy_layers(model, candidate.policy, resolution, width)
                for batch in batches:
                    calibration = load_calibration(
                        directory,
                        model,
                        facts,
                        batch=batch,
                        resolution=resolution,
                        precision=precision,
                        pass_=name,
                        num_classes=num_classes,
                        width=width,
                        source=meter_source,  # a prediction keeps its calibration's unit
                        mode=step.mode,
                        channels_last=step.channels_last,
                    )
                    choice = EnergyChoice(PREDICTED, f"predicted from {calibration.path}")
                    prediction = predict_epf(
                        calibration, layers, formulation or DEFAULT_FORMULATION
                    )
                    results.append(
                        (
                            name,
                            _predicted_row(
                                candidate.policy, model, config, batch, prediction, calibration
                            ),
                        )
                    )
    else:
        cache = EpfCache(cache_dir) if cache_dir is not None else None
        with (
            open_session(device, energy, rapl_root=rapl_root, log=log) as session,
            hold_meter(session),  # before the first reading: idle power is one
        ):
            if protocol is None:
                protocol = default_protocol(session.source, repeats=repeats, **overrides)
            for name in chosen_passes:
                measured = measure_candidates(
                    session,
                    candidates,
                    list(batches),
                    replace(step, pass_=name),
                    protocol,
                    cache=cache,
                    baseline=registry_candidate(
                        model, None, num_classes=num_classes, width=width, resolution=resolution
                    ),
                )
                results += [(name, result) for result in measured]
            choice, facts = session.choice, session.facts
    rows = []
    for name, result in results:
        p100 = p4000 = None
        if paper and name == TRAINING:  # the paper measured training steps
            p100 = paper_epf_mj(model, result.policy, result.batch, "P100")
            p4000 = paper_epf_mj(model, result.policy, result.batch, "P4000")
        rows.append(ProfileRow(result, p100, p4000, name))
    return ProfileReport(tuple(rows), choice, facts, paper)


def _predicted_row(
    policy: str,
    model: str,
    step: StepConfig,
    batch: int,
    prediction: Prediction,
    calibration: Calibration,
) -> EpfResult:
    return EpfResult(
        model=model,
        policy=policy,
        batch=batch,
        status="ok",
        unit=prediction.unit,
        source=prediction.source,
        method=PREDICTED,
        mode=str(calibration.key["step"]["mode"]),
        precision=step.precision,
        channels_last=step.channels_last,
        resolution=step.resolution,
        epf=prediction.epf,
        facts=dict(calibration.facts),
        energy_reason=f"{prediction.formulation} formulation of {calibration.path}",
    )


def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.3e}"


def describe_device(facts: dict[str, Any]) -> str:
    """One line naming the device and software."""
    if facts.get("gpu_name"):
        parts = [
            str(facts["gpu_name"]),
            f"driver {facts.get('driver') or '?'}",
            f"limit {_number(facts.get('power_limit_w'))} W",
        ]
    else:
        parts = [str(facts.get("cpu_model", "CPU")), f"{facts.get('threads', '?')} threads"]
    parts += [f"torch {facts.get('torch')}", f"cuDNN {facts.get('cudnn')}"]
    return ", ".join(parts)


def render_table(report: ProfileReport) -> Table:
    """A rich table of the report (one model per report; its name goes in the title)."""
    first = report.rows[0].result if report.rows else None
    unit = first.unit if first else "mJ"
    models = sorted({row.result.model for row in report.rows})
    how = f"{first.mode}, {first.precision}, {first.method} windows" if first else ""
    quantity = "time" if unit == "ms" else "EPF"  # the time meter measures no energy
    if first is not None and first.method == PREDICTED:
        quantity, how = f"predicted {quantity}", f"{first.source}, {first.energy_reason}"
    confidences = {r.result.confidence for r in report.rows if r.result.confidence is not None}
    coverage = ", ".join(f"{100 * c:.1f}%" for c in sorted(confidences))
    table = Table(
        title=f"{', '.join(models)}: {quantity} per frame ({unit}), {how}",
        caption=f"{describe_device(report.facts)}\nenergy: {report.choice.source} "
        f"({report.choice.reason})\ninterval: median's order-statistic interval, "
        f"coverage {coverage or '-'}",
    )
    passes = len({row.pass_ for row in report.rows}) > 1
    columns = [
        "policy",
        "B",
        f"{quantity} {unit}",
        "interval",
        "spread",
        "ms/frame",
        "W",
        "dynamic",
    ]
    if passes:
        columns.insert(1, "pass")
    if report.paper:
        columns += ["P100 mJ", "P4000 mJ"]
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for row in report.rows:
        r = row.result
        paper = [_number(row.paper_p100_mj), _number(row.paper_p4000_mj)] if report.paper else []
        which = [row.pass_] if passes else []
        if r.status != "ok":
            cells = [r.policy, *which, str(r.batch), r.status.upper(), r.message[:30], "", "", ""]
            table.add_row(*cells, "", *paper)
            continue
        table.add_row(
            r.policy + (" (cached)" if r.cached else ""),
            *which,
            str(r.batch),
            _number(r.epf),
            f"{_number(r.epf_low)}-{_number(r.epf_high)}",
            f"{100 * (r.spread or 0):.1f}%",
            _number(r.ms_per_frame),
            _number(r.power_w),
            _number(r.dynamic_epf),
            *paper,
        )
    return table


def to_json(report: ProfileReport) -> str:
    """A JSON list of row objects (``model``, ``policy``, ``batch``, ``epf``, ``epf_low``,
    ``epf_high``, ``unit``, ``source``, ``ms_per_frame``, ... and the device facts)."""
    return json.dumps([row.to_dict() for row in report.rows], indent=2, default=str)


CSV_COLUMNS = (
    "model",
    "policy",
    "pass",
    "batch",
    "status",
    "epf",
    "epf_low",
    "epf_high",
    "confidence",
    "unit",
    "source",
    "method",
    "mode",
    "precision",
    "spread",
    "ms_per_frame",
    "power_w",
    "idle_power_w",
    "idle_settle_s",
    "dynamic_epf",
    "busy_fraction",
    "steps_per_launch",
    "counter_stalls",
    "device_s",
    "temperature_before_c",
    "temperature_after_c",
    "paper_p100_mj",
    "paper_p4000_mj",
    "cached",
    "message",
)
CSV_FACTS = ("gpu_name", "driver", "power_limit_w", "cpu_model", "torch", "cudnn")


def to_csv(report: ProfileReport) -> str:
    """CSV of the rows: the main columns plus the identifying device facts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *CSV_FACTS])
    for row in report.rows:
        data = row.to_dict()
        facts = data.get("facts", {})
        writer.writerow(
            [_csv(data.get(c)) for c in CSV_COLUMNS] + [_csv(facts.get(c)) for c in CSV_FACTS]
        )
    return buffer.getvalue()


def _csv(value: object) -> object:
    return "" if value is None else value
