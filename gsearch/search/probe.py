"""The real :class:`~gsearch.search.objective.EnergyProbe`: EPF with `gsearch profile`'s protocol.

A trial's EPF is measured exactly as ``gsearch profile`` measures it (the same
:class:`~gsearch.energy.EpfProtocol`, the same step, at the run's EPF resolution and
precision), so the two agree. At the end of a run the front's members are measured
again together, their windows interleaved (:meth:`MeasuredEnergy.remeasure`): the EPF
shown for the front is never a lone window taken between two trainings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gsearch.calibration_plan import check_coverage, policy_layers
from gsearch.candidates import registry_candidate, scored_candidate
from gsearch.energy import (
    DEFAULT_CACHE_DIR,
    Candidate,
    EnergySession,
    EpfCache,
    EpfProtocol,
    EpfResult,
    StepConfig,
    default_protocol,
    measure_candidates,
    open_session,
)
from gsearch.energy.calibrate import Calibration, load_calibration
from gsearch.energy.facts import identity
from gsearch.energy.predict import DEFAULT_FORMULATION, PREDICTED, predict_epf
from gsearch.energy.steps import TRAINING
from gsearch.errors import GsearchError, OutOfMemory
from gsearch.search.objective import Architecture

# Facts that differ between the workers of one study: each its own device and board.
_PER_WORKER = ("device", "gpu_uuid")


class MeasuredEnergy:
    """EPF of architectures on one opened device and energy source.

    Args:
        session: The device and its meter, opened once for the run.
        protocol: Windows and repeats.
        batches: EPF batch sizes; the first is the objective.
        resolution: Input side of the measured step.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        cache: Cache of measured rows (None: always measure).
    """

    def __init__(
        self,
        session: EnergySession,
        protocol: EpfProtocol,
        batches: Sequence[int],
        resolution: int,
        precision: str = "fp32",
        cache: EpfCache | None = None,
        pass_: str = TRAINING,
    ) -> None:
        self.session = session
        self.protocol = protocol
        self.batches = tuple(batches)
        self.resolution = resolution
        self.precision = precision
        self.cache = cache
        self.pass_ = pass_

    @property
    def unit(self) -> str:
        return self.session.unit

    @property
    def source(self) -> str:
        return self.session.source

    @property
    def device_name(self) -> str:
        facts = self.session.facts
        return str(facts.get("gpu_name") or facts.get("cpu_model") or facts.get("device"))

    def pins(self) -> dict[str, Any]:
        """What of the measurement a study pins (the board is pinned per worker: see
        :attr:`board`)."""
        facts = identity(self.session.facts)
        return {
            "energy_source": self.source,
            "device": self.device_name,
            # The software and the device's settings, as the EPF cache keys them.
            "device_identity": {k: v for k, v in facts.items() if k not in _PER_WORKER},
            "epf_batch_sizes": list(self.batches),
            "epf_resolution": self.resolution,
            "precision": self.precision,
            "pass": self.pass_,
            "protocol": json.loads(json.dumps(self.protocol.key())),
        }

    @property
    def board(self) -> str | None:
        """The GPU board's UUID (None on the CPU): two boards of one model differ."""
        return self.session.facts.get("gpu_uuid")

    def _step(self, num_classes: int) -> StepConfig:
        return StepConfig(
            batch=self.batches[0],
            resolution=self.resolution,
            precision=self.precision,
            num_classes=num_classes,
            pass_=self.pass_,
        )

    def measure(self, arch: Architecture) -> list[EpfResult]:
        """EPF rows of one network at every batch size; a failed row is an error."""
        rows = measure_candidates(
            self.session,
            [_candidate(arch)],
            self.batches,
            self._step(arch.num_classes),
            self.protocol,
            cache=self.cache,
            baseline=_baseline(arch),
        )
        _check(rows)
        return rows

    def remeasure(self, archs: Sequence[Architecture]) -> list[EpfResult]:
        """EPF of several networks measured together, windows interleaved, uncached.

        Returns one row per architecture at the objective's batch size.
        """
        if not archs:
            return []
        rows = measure_candidates(
            self.session,
            [_candidate(arch) for arch in archs],
            self.batches[:1],
            self._step(archs[0].num_classes),
            self.protocol,
            cache=None,
            baseline=_baseline(archs[0]),
        )
        _check(rows)
        return rows


class PredictedEnergy(MeasuredEnergy):
    """EPF predicted from the per-layer table `gsearch calibrate` measured on this device.

    Its rows are labelled ``predicted-<meter>`` and its objective ``predicted_...``: a
    study of predictions never holds a measured value, nor the other way round. No
    window is taken, so nothing is measured again at the end of a run.
    """

    def __init__(
        self,
        session: EnergySession,
        batches: Sequence[int],
        resolution: int,
        precision: str,
        pass_: str,
        calibration_dir: Path,
        formulation: str = DEFAULT_FORMULATION,
        calibration_protocol: EpfProtocol | None = None,
    ) -> None:
        super().__init__(session, EpfProtocol(), batches, resolution, precision, None, pass_)
        self.calibration_dir = calibration_dir
        self.formulation = formulation
        # The run's own protocol, where it names one, must be the calibration's too.
        self.calibration_protocol = calibration_protocol
        self._calibrations: dict[tuple[str, int, int], Calibration] = {}

    @property
    def source(self) -> str:
        return f"predicted-{self.session.source}"

    def pins(self) -> dict[str, Any]:
        pins = super().pins()
        pins["protocol"] = {"predicted": self.formulation}
        return pins

    def calibration(self, model: str, batch: int, num_classes: int) -> Calibration:
        """The calibration of ``model`` at ``batch`` measured with this session's source.

        A calibration of another source, classes, step or protocol is refused in one line.
        """
        if (model, batch, num_classes) not in self._calibrations:
            self._calibrations[model, batch, num_classes] = load_calibration(
                self.calibration_dir,
                model,
                self.session.facts,
                batch=batch,
                resolution=self.resolution,
                precision=self.precision,
                pass_=self.pass_,
                source=self.session.source,
                num_classes=num_classes,
                protocol=self.calibration_protocol,
            )
        return self._calibrations[model, batch, num_classes]

    def check(self, models: Sequence[str], space: Any, num_classes: int) -> None:
        """Fail before the study is touched when a calibration is missing, refused, or
        lacks a layer ``space`` can produce (one line naming the command that adds it)."""
        for model in models:
            for batch in self.batches:
                calibration = self.calibration(model, batch, num_classes)
                check_coverage(calibration, model, space, resolution=self.resolution)

    def measure(self, arch: Architecture) -> list[EpfResult]:
        layers = policy_layers(arch.model, arch.policy, self.resolution)
        rows = []
        for batch in self.batches:
            calibration = self.calibration(arch.model, batch, arch.num_classes)
            prediction = predict_epf(calibration, layers, self.formulation)
            rows.append(
                EpfResult(
                    arch.model,
                    arch.key,
                    batch,
                    "ok",
                    prediction.unit,
                    prediction.source,
                    "predicted",
                    "predicted",
                    self.precision,
                    False,
                    self.resolution,
                    epf=prediction.epf,
                    epf_low=prediction.epf,
                    epf_high=prediction.epf,
                    spread=0.0,
                    facts=self.session.facts,
                    energy_reason=f"{self.formulation} prediction from the calibration",
                )
            )
        return rows

    def remeasure(self, archs: Sequence[Architecture]) -> list[EpfResult]:
        return [self.measure(arch)[0] for arch in archs]


def _candidate(arch: Architecture) -> Candidate:
    # The label is the architecture key: two policies with the same groups are one row.
    return scored_candidate(arch.model, arch.key, arch.build, arch.resolution)


def _baseline(arch: Architecture) -> Candidate:
    """The model at its family's default policy (the paper's baseline), measured beside
    every network so that the machine's drift cancels (``measure_candidates``)."""
    return registry_candidate(
        arch.model, None, num_classes=arch.num_classes, resolution=arch.resolution
    )


def _check(rows: Sequence[EpfResult]) -> None:
    for row in rows:
        if row.status == "oom":
            raise OutOfMemory(
                f"EPF of {row.model} at batch {row.batch}, {row.resolution} px ran out of "
                f"memory ({row.message}): lower the space's epf_batch_sizes or --epf-resolution"
            )
        if row.status != "ok" or row.epf is None:
            raise GsearchError(
                f"EPF of {row.model} at batch {row.batch}: {row.status} {row.message}".strip()
            )


def open_measured_energy(
    energy: str,
    device: str,
    protocol: EpfProtocol | None,
    batches: Sequence[int],
    resolution: int,
    precision: str,
    cache_dir: Path | None,
    pass_: str = TRAINING,
) -> MeasuredEnergy:
    """Open the device and energy source once for the whole run, reading nothing yet.

    ``energy="predicted"`` opens the meter ``auto`` would pick (its facts identify the
    device the calibration must come from) and predicts instead of measuring. A
    ``protocol`` of None is the meter's default, as `gsearch profile` has it.
    """
    if energy == PREDICTED:
        session = open_session(device, "auto", log=None)
        directory = cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR
        return PredictedEnergy(
            session,
            batches,
            resolution,
            precision,
            pass_,
            directory,
            calibration_protocol=protocol,
        )
    session = open_session(device, energy, log=None)
    protocol = protocol or default_protocol(session.source)
    # Nothing is read here: the caller holds the meter first, then reads idle power.
    cache = EpfCache(cache_dir) if cache_dir is not None else None
    return MeasuredEnergy(session, protocol, batches, resolution, precision, cache, pass_)
