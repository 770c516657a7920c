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

from gsearch.energy import (
    Candidate,
    EnergySession,
    EpfCache,
    EpfProtocol,
    EpfResult,
    StepConfig,
    measure_candidates,
    open_session,
)
from gsearch.errors import GsearchError
from gsearch.search.objective import Architecture


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
    ) -> None:
        self.session = session
        self.protocol = protocol
        self.batches = tuple(batches)
        self.resolution = resolution
        self.precision = precision
        self.cache = cache

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
        """What of the measurement a study pins."""
        return {
            "energy_source": self.source,
            "device": self.device_name,
            "epf_batch_sizes": list(self.batches),
            "epf_resolution": self.resolution,
            "precision": self.precision,
            "protocol": json.loads(json.dumps(self.protocol.key())),
        }

    def _step(self, num_classes: int) -> StepConfig:
        return StepConfig(
            batch=self.batches[0],
            resolution=self.resolution,
            precision=self.precision,
            num_classes=num_classes,
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
        )
        _check(rows)
        return rows


def _candidate(arch: Architecture) -> Candidate:
    # The label is the architecture key: two policies with the same groups are one row.
    return Candidate(arch.model, arch.key, arch.build)


def _check(rows: Sequence[EpfResult]) -> None:
    for row in rows:
        if row.status != "ok" or row.epf is None:
            raise GsearchError(
                f"EPF of {row.model} at batch {row.batch}: {row.status} {row.message}".strip()
            )


def open_measured_energy(
    energy: str,
    device: str,
    protocol: EpfProtocol,
    batches: Sequence[int],
    resolution: int,
    precision: str,
    cache_dir: Path | None,
) -> MeasuredEnergy:
    """Open the device and energy source once for the whole run."""
    session = open_session(device, energy, log=None)
    # Idle power now, on a cool device, not after the first trial's training.
    session.idle_power_w(protocol.idle_seconds)
    cache = EpfCache(cache_dir) if cache_dir is not None else None
    return MeasuredEnergy(session, protocol, batches, resolution, precision, cache)
