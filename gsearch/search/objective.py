"""The trial: policy -> network -> counts, EPF and training -> the three objective values.

:class:`TrialObjective` works against two small interfaces, an :class:`EnergyProbe`
(EPF of an architecture) and a :class:`Trainer` (top-1 of an architecture over seeds),
so it is unit-tested with fakes; :mod:`gsearch.search.probe` and
:mod:`gsearch.search.trainer` are the real ones.

A trial's values are ``(epf, top1, params_m)``:

* ``epf`` at the space's first batch size, in the study's unit (``epf_mj``,
  ``ms_per_frame`` or ``epf_model``);
* ``top1``: the median validation top-1 over the architecture's seeds, percent;
* ``params_m``: parameters without BatchNorm, millions.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from gsearch.count import count_model
from gsearch.energy import EpfResult
from gsearch.models import create_model
from gsearch.models._registry import resolve_groups
from gsearch.paths import safe_name
from gsearch.policies import Policy
from gsearch.spaces import SearchSpace

# The only constraint of a study: EPF minus the budget (feasible when <= 0).
BUDGET_CONSTRAINT = "epf_over_budget"


@dataclass(frozen=True)
class Architecture:
    """One network: a model with the g of every grouped layer.

    Two policies that give the same groups are the same architecture: it is trained
    once per study and its EPF is measured once (the cache is keyed by the built
    network, not by the policy's spelling).
    """

    model: str
    policy: Policy
    groups: tuple[int, ...]
    num_classes: int
    resolution: int

    @property
    def key(self) -> str:
        """What makes two trials the same network: model, g per grouped layer, classes."""
        return f"{self.model}|g={','.join(map(str, self.groups))}|classes={self.num_classes}"

    @property
    def digest(self) -> str:
        """Short stable name of :attr:`key` (checkpoint folders)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]

    def build(self) -> torch.nn.Module:
        """A fresh instance of the network."""
        return create_model(
            self.model, self.policy, num_classes=self.num_classes, resolution=self.resolution
        )


def trial_seeds(study_seed: int, arch: Architecture, replicates: Sequence[int]) -> tuple[int, ...]:
    """Training seeds of an architecture: from the study's seed and the network alone.

    Not from the worker: a trial retried on another worker continues from its
    checkpoint and ends with the same top-1.
    """
    return tuple(
        int.from_bytes(
            hashlib.sha256(f"{study_seed}|{arch.key}|{replicate}".encode()).digest()[:4], "big"
        )
        % 2**31
        for replicate in replicates
    )


@dataclass(frozen=True)
class TrainOutcome:
    """Top-1 of one architecture over its seeds."""

    top1_seeds: tuple[float, ...]
    top5: float
    seconds: float
    resumed_from_epochs: tuple[int, ...] = ()  # per seed: epochs a checkpoint already held

    @property
    def top1(self) -> float:
        """Median over the seeds, percent."""
        return float(statistics.median(self.top1_seeds))

    @property
    def top1_spread(self) -> float:
        """Max minus min over the seeds, points."""
        return max(self.top1_seeds) - min(self.top1_seeds)


class EnergyProbe(Protocol):
    """EPF of architectures on the run's device and energy source."""

    @property
    def unit(self) -> str: ...

    def measure(self, arch: Architecture) -> list[EpfResult]:
        """One row per EPF batch size (the first is the objective)."""
        ...


class Trainer(Protocol):
    """Top-1 of an architecture at one fidelity."""

    def train(self, arch: Architecture, seeds: Sequence[int], folder: Path) -> TrainOutcome:
        """Train once per seed, checkpointing under ``folder`` (resumable)."""
        ...


def energy_attrs(rows: Sequence[EpfResult]) -> dict[str, Any]:
    """User attributes of a trial from its EPF rows (the first batch is the objective)."""
    first = rows[0]
    attrs: dict[str, Any] = {
        "epf": first.epf,
        "epf_low": first.epf_low,
        "epf_high": first.epf_high,
        "epf_unit": first.unit,
        "epf_batch": first.batch,
        "epf_resolution": first.resolution,
        "epf_spread": first.spread,
        "dynamic_epf": first.dynamic_epf,
        "ms_per_frame": first.ms_per_frame,
        "power_w": first.power_w,
        # what to doubt in the EPF: steps that left the GPU idle, an unsettled idle
        "epf_busy_fraction": first.busy_fraction,
        "epf_steps_per_launch": first.steps_per_launch,
        "idle_power_w": first.idle_power_w,
        "idle_settle_s": first.idle_settle_s,
        "epf_counter_stalls": first.counter_stalls,
        "epf_message": first.message,
        "energy_source": first.source,
        "energy_reason": first.energy_reason,
        "execution_mode": first.mode,
        "precision": first.precision,
        "epf_cached": first.cached,
        "device_facts": {k: v for k, v in first.facts.items() if _plain(v)},
    }
    for row in rows:
        attrs[f"epf_b{row.batch}"] = row.epf
        attrs[f"ms_per_frame_b{row.batch}"] = row.ms_per_frame
    return attrs


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class TrialObjective:
    """Evaluates one trial of a study stage (proxy or full).

    Args:
        space: The searched space.
        fidelity: ``proxy`` or ``full`` (recorded with each trial).
        dataset: Dataset name (recorded).
        num_classes: Classifier size of the networks.
        resolution: Input side at which policies are resolved and EPF measured.
        probe: EPF of an architecture.
        trainer: Top-1 of an architecture.
        study_seed: The study's seed (training seeds derive from it).
        replicates: Replicate seeds of each architecture.
        checkpoint_root: Folder of the stage's checkpoints.
        energy_budget: Largest acceptable EPF, or None.
        bind: Turns a drawn policy that needs this device's calibration (the calibrated
            space's trade-off) into the network it picks; None where the space has none.
    """

    def __init__(
        self,
        space: SearchSpace,
        fidelity: str,
        dataset: str,
        num_classes: int,
        resolution: int,
        probe: EnergyProbe,
        trainer: Trainer,
        *,
        study_seed: int,
        replicates: Sequence[int],
        checkpoint_root: Path,
        energy_budget: float | None = None,
        bind: Callable[[str, Policy], Policy] | None = None,
    ) -> None:
        self.space = space
        self.fidelity = fidelity
        self.dataset = dataset
        self.num_classes = num_classes
        self.resolution = resolution
        self.probe = probe
        self.trainer = trainer
        self.study_seed = study_seed
        self.replicates = tuple(replicates)
        self.checkpoint_root = checkpoint_root
        self.energy_budget = energy_budget
        self.bind = bind

    def architecture(self, trial: optuna.Trial) -> Architecture:
        """The network a trial's parameters describe."""
        model, policy = self.space.suggest(trial, self.resolution)
        if self.bind is not None:
            trial.set_user_attr("drawn_policy", str(policy))
            policy = self.bind(model, policy)
        _, _, groups = resolve_groups(model, policy, self.resolution)
        return Architecture(model, policy, tuple(groups), self.num_classes, self.resolution)

    def __call__(self, trial: optuna.Trial) -> tuple[float, float, float]:
        arch = self.architecture(trial)
        for key, value in {
            "model": arch.model,
            "policy": str(arch.policy),
            "groups": list(arch.groups),
            "arch": arch.key,
            "fidelity": self.fidelity,
            "dataset": self.dataset,
        }.items():
            trial.set_user_attr(key, value)

        with torch.device("meta"):  # shapes only
            counts = count_model(arch.build(), self.resolution)
        params_m = counts.params / 1e6
        trial.set_user_attr("macs", counts.macs)
        trial.set_user_attr("params", counts.params)

        rows = self.probe.measure(arch)
        epf = float(rows[0].epf or 0.0)
        for key, value in energy_attrs(rows).items():
            trial.set_user_attr(key, value)

        if self.energy_budget is not None:
            excess = epf - self.energy_budget
            trial.set_constraint(BUDGET_CONSTRAINT, excess)
            if excess > 0:
                # Infeasible: recorded with its EPF, never trained (top1 0 marks "untrained").
                trial.set_user_attr("trained", False)
                return epf, 0.0, params_m

        earlier = earlier_result(trial.study, arch.key)
        if earlier is not None:
            trial.set_user_attr("reused_from", earlier.number)
            for key in ("top1_spread", "top1_seeds", "train_seeds", "train_s", "top5"):
                if key in earlier.user_attrs:
                    trial.set_user_attr(key, earlier.user_attrs[key])
            trial.set_user_attr("trained", True)
            return epf, float(earlier.values[1]), params_m

        seeds = trial_seeds(self.study_seed, arch, self.replicates)
        folder = self.checkpoint_root / arch.digest
        outcome = self.trainer.train(arch, seeds, folder)
        trial.set_user_attr("train_seeds", list(seeds))
        trial.set_user_attr("top1_seeds", list(outcome.top1_seeds))
        trial.set_user_attr("top1_spread", outcome.top1_spread)
        trial.set_user_attr("train_s", outcome.seconds)
        trial.set_user_attr("resumed_from_epochs", list(outcome.resumed_from_epochs))
        trial.set_user_attr("top5", outcome.top5)
        trial.set_user_attr("trained", True)
        return epf, outcome.top1, params_m


def earlier_result(study: optuna.Study, arch_key: str) -> FrozenTrial | None:
    """The complete trial that trained ``arch_key`` in this study, if any."""
    for done in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        attrs = done.user_attrs
        if attrs.get("arch") == arch_key and attrs.get("trained") and "reused_from" not in attrs:
            return done
    return None


def checkpoint_folder(root: Path, study_name: str, fidelity: str, recipe_tag: str) -> Path:
    """Where a stage keeps its checkpoints: per study, fidelity and recipe."""
    return root / safe_name(study_name) / f"{fidelity}-{recipe_tag}"
