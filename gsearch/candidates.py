"""Networks to measure, as the energy protocol takes them: registry models with their Eq. 1 score.

:mod:`gsearch.energy` is a leaf: it measures a :class:`~gsearch.energy.Candidate` (a
label and a module factory) and never imports models, policies or the cost model. This
module builds candidates from the model registry, and gives each one the paper's Eq. 1
score per frame that the ``model`` meter charges (counted once, on the meta device).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache

import torch
from torch import nn

from gsearch.costmodel import score_per_frame
from gsearch.count import layer_rows
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
from gsearch.energy.meter_lock import hold_meter
from gsearch.models import create_model, get_family
from gsearch.policies import Policy, as_policy


def eq1_score(build: Callable[[], nn.Module], resolution: int) -> Callable[[int], float]:
    """The Eq. 1 score per frame at a batch size of the network ``build`` makes."""

    @cache
    def rows() -> list:
        with torch.device("meta"):  # shapes only: counting costs no memory
            return layer_rows(build(), resolution)

    return lambda batch: score_per_frame(rows(), batch)


def scored_candidate(
    model: str, label: str, build: Callable[[], nn.Module], resolution: int
) -> Candidate:
    """A candidate that the model meter can also score."""
    return Candidate(model, label, build, score=eq1_score(build, resolution))


def registry_candidate(
    model: str,
    policy: Policy | str | None = None,
    *,
    num_classes: int = 1000,
    width: float = 1.0,
    resolution: int = 224,
) -> Candidate:
    """A candidate from the model registry (``gsearch.models.create_model``)."""
    label = str(as_policy(policy, get_family(model).default_policy))

    def build() -> nn.Module:
        return create_model(
            model, policy, num_classes=num_classes, width=width, resolution=resolution
        )

    return scored_candidate(model, label, build, resolution)


def measure_epf(
    model: str,
    policy: str | None,
    batch: int,
    *,
    session: EnergySession | None = None,
    device: str = "auto",
    energy: str = "auto",
    step: StepConfig | None = None,
    protocol: EpfProtocol | None = None,
    cache: EpfCache | None = None,
    num_classes: int = 1000,
    width: float = 1.0,
) -> EpfResult:
    """EPF of one registered model under one policy at one batch size.

    The result carries the EPF (``epf`` with ``epf_low``/``epf_high``, in ``unit``),
    ``source``, ``ms_per_frame`` and ``facts``. Pass a ``session`` to reuse one device
    and meter (and one idle-power reading) across many calls; otherwise one is opened
    with ``device``/``energy`` and closed again.
    """
    step = replace(step or StepConfig(batch=batch), batch=batch, num_classes=num_classes)
    candidate = registry_candidate(
        model, policy, num_classes=num_classes, width=width, resolution=step.resolution
    )
    if session is not None:
        return measure_candidates(session, [candidate], [batch], step, protocol, cache=cache)[0]
    with open_session(device, energy) as active, hold_meter(active):  # held before reading
        return measure_candidates(active, [candidate], [batch], step, protocol, cache=cache)[0]
