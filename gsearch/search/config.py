"""What a search run is: :class:`RunConfig`, validated once, serialised for workers.

The CLI fills a RunConfig from its flags and the space's defaults; local workers receive
it as JSON (:meth:`RunConfig.to_json`), so a worker runs exactly what its parent
validated instead of a command line rebuilt from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gsearch.data import dataset_info
from gsearch.energy import EpfProtocol
from gsearch.errors import GsearchError
from gsearch.paths import CACHE_DIR, CHECKPOINTS_DIR, DEFAULT_STORAGE_URL
from gsearch.spaces import SAMPLERS, SearchSpace, load_space
from gsearch.storage import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S
from gsearch.training import Recipe, get_recipe

DEFAULT_STORAGE = DEFAULT_STORAGE_URL
FIDELITIES = ("proxy", "full", "ladder")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class RunConfig:
    """Everything a search run needs.

    Attributes:
        space: The validated search space.
        study: Study name in the storage.
        storage: Optuna storage URL.
        models: Models to search (a subset of the space's; empty: all of them).
        dataset: Dataset registry name.
        data_root: Root of a dataset on disk.
        fidelity: ``proxy``, ``full`` or ``ladder``.
        trials: Complete trials the study should hold (a rerun completes the rest).
        timeout_s: Stop starting trials after this many seconds.
        sampler: One of :data:`gsearch.spaces.SAMPLERS`.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        energy: ``auto`` or a source name (``nvml``, ``rapl``, ``time``, ``model``, ...).
        energy_budget: Largest acceptable EPF (in the objective's unit), or None.
        seed: The study's seed: training seeds of every trial derive from it and the
            architecture, so any worker reproduces any trial.
        worker_index: This worker's number; only the sampler's seed depends on it.
        seeds: Replicate seeds of each architecture's training (top-1 is their median);
            empty: the recipe's.
        epf_resolution: Input side at which EPF is measured (None: the dataset's
            evaluation resolution, 224 for ImageNet and Food-101), whatever the
            resolution the proxy trains at.
        precision: Precision of the measured step (``fp32``, ``bf16``, ``fp16``).
        pass_: ``training`` (forward and backward, the paper's EPF) or ``inference``
            (forward in eval mode: what a deployed network costs); None: the space's,
            else training.
        epf_protocol: Windows and repeats of EPF; None: the meter's default, the same as
            `gsearch profile` uses (:func:`gsearch.energy.default_protocol`).
        checkpoint_root: Folder for per-architecture training checkpoints.
        cache_dir: Folder of the EPF cache (None: no cache).
        recipe_overrides: Typed fields of the training recipe to change.
        skip_corrupt: Leave out unreadable images (counted) instead of failing.
        heartbeat_s: Interval of a running trial's heartbeat in the storage.
        grace_s: Silence after which a trial's worker counts as dead (trial retried).
        quiet: No progress display.
    """

    space: SearchSpace
    study: str
    storage: str = DEFAULT_STORAGE
    models: tuple[str, ...] = ()
    dataset: str = "digits"
    data_root: str | None = None
    fidelity: str = "proxy"
    trials: int = 20
    timeout_s: float | None = None
    sampler: str = "tpe"
    device: str = "cpu"
    energy: str = "auto"
    energy_budget: float | None = None
    seed: int = 0
    worker_index: int = 0
    seeds: tuple[int, ...] = ()
    epf_resolution: int | None = None
    precision: str = "fp32"
    pass_: str | None = None
    epf_protocol: EpfProtocol | None = None
    checkpoint_root: Path = CHECKPOINTS_DIR
    cache_dir: Path | None = CACHE_DIR
    recipe_overrides: dict[str, Any] = field(default_factory=dict)
    skip_corrupt: bool = False
    heartbeat_s: int = HEARTBEAT_INTERVAL_S
    grace_s: int = GRACE_PERIOD_S
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise GsearchError(f"trials must be a positive integer, got {self.trials}")
        if not self.study.strip():
            raise GsearchError("the study name is empty")
        if self.sampler not in SAMPLERS:
            raise GsearchError(f"unknown sampler {self.sampler!r}; allowed: {', '.join(SAMPLERS)}")
        if self.fidelity not in FIDELITIES:
            raise GsearchError(
                f"unknown fidelity {self.fidelity!r}; allowed: {', '.join(FIDELITIES)}"
            )
        unknown = [m for m in self.models if m not in self.space.models]
        if unknown:
            raise GsearchError(
                f"model {unknown[0]!r} is not in search space {self.space.name} "
                f"(it searches {', '.join(self.space.models)})"
            )
        budget = self.energy_budget
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise GsearchError(f"the energy budget must be a finite number > 0, got {budget}")
        if not 0 < self.heartbeat_s < self.grace_s:
            raise GsearchError(
                f"need 0 < heartbeat ({self.heartbeat_s} s) < grace period ({self.grace_s} s)"
            )
        timeout = self.timeout_s
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise GsearchError(f"the timeout must be a finite number of seconds > 0, got {timeout}")
        if self.epf_resolution is not None and self.epf_resolution < 8:
            raise GsearchError(f"the EPF resolution must be >= 8 pixels, got {self.epf_resolution}")
        if self.precision not in PRECISIONS:
            raise GsearchError(
                f"unknown precision {self.precision!r}; allowed: {', '.join(PRECISIONS)}"
            )
        if self.pass_ not in (None, "training", "inference"):
            raise GsearchError(f"unknown pass {self.pass_!r}; allowed: training, inference")
        if len(set(self.seeds)) != len(self.seeds):
            raise GsearchError(f"the training seeds must differ, got {list(self.seeds)}")
        self.recipe("full" if self.fidelity == "full" else "proxy")  # validates the overrides

    @property
    def search_models(self) -> tuple[str, ...]:
        """The models this run searches."""
        return self.models or self.space.models

    @property
    def searched_space(self) -> SearchSpace:
        """The space restricted to :attr:`search_models`."""
        return replace(self.space, models=self.search_models)

    @property
    def measured_resolution(self) -> int:
        """Where EPF is measured: the run's, the space's, else the dataset's evaluation side."""
        if self.epf_resolution is not None:
            return self.epf_resolution
        if self.space.epf_resolution is not None:
            return self.space.epf_resolution
        return dataset_info(self.dataset).default_resolution

    @property
    def epf_pass(self) -> str:
        """What the EPF step runs: the run's pass, the space's, else training."""
        return self.pass_ or self.space.epf_pass or "training"

    def recipe(self, fidelity: str) -> Recipe:
        """The training recipe of ``fidelity`` with the run's overrides and seeds."""
        overrides = dict(self.recipe_overrides)
        if self.seeds:
            overrides["seeds"] = tuple(self.seeds)
        if self.device == "cpu":
            # oneDNN's channels-last kernels train narrow groups (G <= 8) 1.3-2.2x faster
            # than NCHW, wide ones 1.15-1.26x slower: the E2GC space's seven in 22% less
            # time in all (BENCHMARKS.md, "Channels-last training on the CPU"). On CUDA
            # the recipe's layout stays until measured there.
            overrides.setdefault("channels_last", True)
        return get_recipe(fidelity, **overrides)

    # ------------------------------------------------------------ serialised for workers
    def to_json(self) -> str:
        """The config as JSON; the space travels as its file path."""
        if self.space.path is None:
            raise GsearchError("workers need a search space read from a file")
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["space"] = str(self.space.path.resolve())
        data["epf_protocol"] = None if self.epf_protocol is None else asdict(self.epf_protocol)
        for key in ("checkpoint_root", "cache_dir"):
            data[key] = None if data[key] is None else str(Path(data[key]).resolve())
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, **changes: Any) -> RunConfig:
        """A config from :meth:`to_json`, with ``changes`` applied (e.g. the worker index)."""
        data = json.loads(text)
        data["space"] = load_space(data["space"])
        if data["epf_protocol"] is not None:
            data["epf_protocol"] = EpfProtocol(**data["epf_protocol"])
        for key in ("models", "seeds"):
            data[key] = tuple(data[key])
        data["checkpoint_root"] = Path(data["checkpoint_root"])
        if data["cache_dir"] is not None:
            data["cache_dir"] = Path(data["cache_dir"])
        overrides = data["recipe_overrides"]
        if "seeds" in overrides:
            overrides["seeds"] = tuple(overrides["seeds"])
        data.update(changes)
        return cls(**data)
