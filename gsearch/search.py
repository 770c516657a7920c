"""The Optuna study: objectives, storage, fidelities, constraints and the ladder.

Every trial samples a model and a group policy from a search space, builds the network,
counts it, measures its energy per frame (EPF) and trains it at the run's fidelity.
It reports three objectives, named in the study so optuna-dashboard shows them:

* ``epf_mj`` (minimise): EPF at the space's first batch size, millijoules per frame;
  ``epf_model`` instead when the energy source is the cost model (model units);
* ``top1`` (maximise): validation top-1 in percent (median over the proxy's seeds);
* ``params_m`` (minimise): parameters without BatchNorm, millions.

A study records its energy source, device, fidelity and protocol in its system
attributes; a later run that would mix other numbers into it is refused. An
architecture (model + the g of every grouped layer) is trained once per fidelity and
study: a repeated suggestion reuses the earlier result.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gsearch.count import count_model
from gsearch.data import DatasetBundle, dataset_info
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
from gsearch.models import create_model
from gsearch.models._registry import resolve_groups
from gsearch.pareto import (
    MAXIMISE,
    dominates,
    feasible,
    finished,
    front_hypervolume,
    pareto_front,
    pareto_trials,
    to_minimise,
)
from gsearch.paths import safe_name
from gsearch.policy import Policy
from gsearch.spaces import SAMPLERS, SearchSpace
from gsearch.storage import (
    GRACE_PERIOD_SECONDS,
    HEARTBEAT_INTERVAL_SECONDS,
    open_storage,
    with_storage_retries,
)
from gsearch.train import (
    Recipe,
    get_recipe,
    prepare_data,
    recipe_tag,
    train,
    train_proxy_seeds,
)

DEFAULT_STORAGE = "sqlite:///studies/gsearch.db"
TOP1, PARAMS = "top1", "params_m"
DIRECTIONS = (StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE)
ATTR_PREFIX = "gsearch:"
# Attributes that must agree between a study and a run that adds trials to it.
PINNED = ("energy_source", "device", "fidelity", "dataset", "protocol", "space")


def epf_objective_name(unit: str) -> str:
    """``epf_mj`` for measured energy, ``epf_model`` for the cost model's score."""
    return "epf_model" if unit == "model" else "epf_mj"


@dataclass(frozen=True)
class RunConfig:
    """Everything a search run needs; the CLI fills it from its flags and the space.

    Attributes:
        space: The validated search space.
        study: Study name in the storage.
        storage: Optuna storage URL.
        models: Models to search (a subset of the space's).
        dataset: Dataset registry name.
        data_root: Root of a dataset on disk.
        fidelity: ``proxy``, ``full`` or ``ladder``.
        trials: Finished trials the study should hold (a rerun completes the rest).
        timeout_seconds: Stop starting trials after this many seconds.
        sampler: One of :data:`gsearch.spaces.SAMPLERS`.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        energy: ``auto``, ``nvml``, ``rapl`` or ``model``.
        energy_budget: Largest acceptable EPF (in the objective's unit), or None.
        seed: Seed of the sampler and of training.
        checkpoint_root: Folder for per-architecture training checkpoints.
        recipe_overrides: Fields of the training recipe to change (tests, smoke runs).
        skip_corrupt: Leave out unreadable images of a dataset on disk (counted) instead
            of failing on the first one.
        heartbeat_seconds: Interval of a running trial's heartbeat in the storage.
        grace_seconds: Silence after which a trial's worker counts as dead (trial retried).
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
    timeout_seconds: float | None = None
    sampler: str = "tpe"
    device: str = "cpu"
    energy: str = "auto"
    energy_budget: float | None = None
    seed: int = 0
    checkpoint_root: Path = Path("studies/checkpoints")
    recipe_overrides: dict[str, Any] = field(default_factory=dict)
    skip_corrupt: bool = False
    heartbeat_seconds: int = HEARTBEAT_INTERVAL_SECONDS
    grace_seconds: int = GRACE_PERIOD_SECONDS
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise GsearchError(f"--trials must be a positive integer, got {self.trials}")
        if self.sampler not in SAMPLERS:
            raise GsearchError(f"unknown sampler {self.sampler!r}; allowed: {', '.join(SAMPLERS)}")
        if self.fidelity not in ("proxy", "full", "ladder"):
            raise GsearchError(f"unknown fidelity {self.fidelity!r}; allowed: proxy, full, ladder")
        unknown = [m for m in self.models if m not in self.space.models]
        if unknown:
            raise GsearchError(
                f"model {unknown[0]!r} is not in search space {self.space.name} "
                f"(it searches {', '.join(self.space.models)})"
            )
        if self.energy_budget is not None and not self.energy_budget > 0:
            raise GsearchError(f"--energy-budget must be > 0, got {self.energy_budget}")
        if not 0 < self.heartbeat_seconds < self.grace_seconds:
            raise GsearchError(
                f"need 0 < heartbeat ({self.heartbeat_seconds} s) < grace period "
                f"({self.grace_seconds} s)"
            )
        if self.timeout_seconds is not None and not self.timeout_seconds > 0:
            raise GsearchError(f"--timeout must be > 0 seconds, got {self.timeout_seconds}")

    @property
    def search_models(self) -> tuple[str, ...]:
        return self.models or self.space.models


@dataclass(frozen=True)
class SearchResult:
    """What a finished run returns: the study and its Pareto front."""

    study: optuna.Study
    front: list[FrozenTrial]
    objective_names: tuple[str, str, str]
    full_study: optuna.Study | None = None


# ---------------------------------------------------------------- energy of a trial
# The model meter's score is exact and identical in every window: one short window gives
# ms per frame; measured sources get the full protocol (5 interleaved 1 s windows).
MODEL_PROTOCOL = EpfProtocol(repeats=1, window_seconds=0.3, warmup_seconds=0.2, warmup_steps=2)
MEASURED_PROTOCOL = EpfProtocol()


@dataclass
class TrialEnergy:
    """The run's energy session and how a trial's EPF is measured with it."""

    session: EnergySession
    protocol: EpfProtocol
    cache: EpfCache | None

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

    @property
    def protocol_text(self) -> str:
        return json.dumps(self.protocol.key(), sort_keys=True)

    def measure(
        self,
        model: str,
        policy: str,
        build: Callable[[], torch.nn.Module],
        batches: Sequence[int],
        resolution: int,
        num_classes: int,
    ) -> list[EpfResult]:
        """EPF rows of one network at every batch size; an OOM row is an error."""
        step = StepConfig(batch=batches[0], resolution=resolution, num_classes=num_classes)
        rows = measure_candidates(
            self.session,
            [Candidate(model, policy, build)],
            batches,
            step,
            self.protocol,
            cache=self.cache,
        )
        for row in rows:
            if row.status != "ok" or row.epf is None:
                raise GsearchError(
                    f"EPF of {model} {policy} at batch {row.batch}: {row.status} {row.message}"
                )
        return rows


def open_trial_energy(energy: str, device: str, cache_dir: Path | None = None) -> TrialEnergy:
    """Open the device and energy source once for the whole run."""
    session = open_session(device, energy, log=None)
    protocol = MODEL_PROTOCOL if session.unit == "model" else MEASURED_PROTOCOL
    # Idle power now, on a cool device, not after the first trial's training.
    session.idle_power_w(protocol.idle_seconds)
    cache = EpfCache(cache_dir) if cache_dir is not None else EpfCache()
    return TrialEnergy(session, protocol, cache)


def energy_attrs(rows: Sequence[EpfResult]) -> dict[str, Any]:
    """User attributes of a trial from its EPF rows (the first batch is the objective)."""
    first = rows[0]
    attrs: dict[str, Any] = {
        "epf": first.epf,
        "epf_low": first.epf_low,
        "epf_high": first.epf_high,
        "epf_unit": first.unit,
        "epf_batch": first.batch,
        "epf_spread": first.spread,
        "dynamic_epf": first.dynamic_epf,
        "ms_per_frame": first.ms_per_frame,
        "power_w": first.power_w,
        "energy_source": first.source,
        "energy_reason": first.energy_reason,
        "execution_mode": first.mode,
        "precision": first.precision,
        "device_facts": {k: v for k, v in first.facts.items() if _plain(v)},
    }
    for row in rows:
        attrs[f"epf_b{row.batch}"] = row.epf
        attrs[f"ms_per_frame_b{row.batch}"] = row.ms_per_frame
    return attrs


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


# ---------------------------------------------------------------- the trial
class TrialRunner:
    """Evaluates one trial: policy -> model -> counts, EPF, training -> objective values."""

    def __init__(
        self,
        config: RunConfig,
        fidelity: str,
        data: DatasetBundle,
        recipe: Recipe,
        energy: TrialEnergy,
    ) -> None:
        self.config = config
        self.fidelity = fidelity
        self.data = data
        self.recipe = recipe
        self.energy = energy
        # EPF is measured on the network as deployed: the dataset's own resolution.
        self.resolution = dataset_info(config.dataset).default_resolution
        self.space = replace(config.space, models=config.search_models)

    def __call__(self, trial: optuna.Trial) -> tuple[float, float, float]:
        model_name, policy = self.space.suggest(trial, self.resolution)
        _, _, groups = resolve_groups(model_name, policy, self.resolution)
        arch = architecture_key(model_name, groups, self.data.num_classes)
        trial.set_user_attr("model", model_name)
        trial.set_user_attr("policy", str(policy))
        trial.set_user_attr("groups", groups)
        trial.set_user_attr("arch", arch)
        trial.set_user_attr("fidelity", self.fidelity)
        trial.set_user_attr("dataset", self.data.name)

        with torch.device("meta"):  # shapes only
            counts = count_model(self._build(model_name, policy), self.resolution)
        params_m = counts.params / 1e6
        trial.set_user_attr("macs", counts.macs)
        trial.set_user_attr("params", counts.params)

        rows = self.energy.measure(
            model_name,
            str(policy),
            lambda: self._build(model_name, policy),
            self.space.epf_batch_sizes,
            self.resolution,
            self.data.num_classes,
        )
        epf = float(rows[0].epf or 0.0)
        for key, value in energy_attrs(rows).items():
            trial.set_user_attr(key, value)

        if self.config.energy_budget is not None:
            excess = epf - self.config.energy_budget
            trial.set_user_attr("constraint", [excess])
            if excess > 0:
                # Infeasible: recorded with its EPF, never trained (top1 0 marks "untrained").
                trial.set_user_attr("trained", False)
                return epf, 0.0, params_m

        earlier = self._earlier_result(trial.study, arch)
        if earlier is not None:
            trial.set_user_attr("reused_from", earlier.number)
            for key in ("top1_spread", "top1_seeds", "train_seconds", "top5"):
                if key in earlier.user_attrs:
                    trial.set_user_attr(key, earlier.user_attrs[key])
            trial.set_user_attr("trained", True)
            return epf, float(earlier.values[1]), params_m

        top1 = self._train(trial, model_name, policy, arch)
        trial.set_user_attr("trained", True)
        return epf, top1, params_m

    def _build(self, model_name: str, policy: Policy) -> torch.nn.Module:
        return create_model(
            model_name, policy, num_classes=self.data.num_classes, resolution=self.resolution
        )

    def _earlier_result(self, study: optuna.Study, arch: str) -> FrozenTrial | None:
        for done in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            attrs = done.user_attrs
            if attrs.get("arch") == arch and attrs.get("trained") and "reused_from" not in attrs:
                return done
        return None

    def _train(self, trial: optuna.Trial, model_name: str, policy: Policy, arch: str) -> float:
        # Checkpoints are per architecture, so a retried trial continues where it stopped,
        # and per recipe, so a study resumed with another recipe trains afresh.
        folder = self.config.checkpoint_root / safe_name(trial.study.study_name) / arch_digest(arch)
        folder = folder / f"{self.fidelity}-{recipe_tag(self.recipe)}"

        def build() -> torch.nn.Module:
            return self._build(model_name, policy)

        if self.fidelity == "proxy":
            summary = train_proxy_seeds(
                build, self.data, self.recipe, device=self.config.device, checkpoint_dir=folder
            )
            trial.set_user_attr("top1_spread", summary.spread_top1)
            trial.set_user_attr("top1_seeds", list(summary.top1s))
            trial.set_user_attr("train_seconds", summary.seconds)
            trial.set_user_attr("top5", statistics.median(r.top5 for r in summary.runs))
            return float(summary.median_top1)
        torch.manual_seed(self.recipe.seed)
        metrics = train(
            build(),
            self.data,
            self.recipe,
            device=self.config.device,
            checkpoint_dir=folder,
            quiet=self.config.quiet,
        )
        trial.set_user_attr("top1_spread", 0.0)
        trial.set_user_attr("train_seconds", metrics.seconds)
        trial.set_user_attr("top5", metrics.top5)
        return float(metrics.top1)


def architecture_key(model: str, groups: Sequence[int], num_classes: int) -> str:
    """What makes two trials the same network: model, g per grouped layer, classes."""
    return f"{model}|g={','.join(map(str, groups))}|classes={num_classes}"


def arch_digest(arch: str) -> str:
    return hashlib.sha256(arch.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- study
def _constraints(trial: FrozenTrial) -> Sequence[float]:
    return trial.user_attrs.get("constraint", [0.0])


def make_sampler(config: RunConfig, resolution: int) -> optuna.samplers.BaseSampler:
    """The sampler the run asked for, with the energy budget as its constraint."""
    constraints = _constraints if config.energy_budget is not None else None
    seed = config.seed
    space = replace(config.space, models=config.search_models)
    if config.sampler == "nsga2":
        population = max(4, min(50, config.trials // 4))
        return optuna.samplers.NSGAIISampler(
            population_size=population, seed=seed, constraints_func=constraints
        )
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, constraints_func=constraints
        )
    if config.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, constraints_func=constraints)
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler(space.grid(resolution), seed=seed)


def open_study(
    config: RunConfig,
    name: str,
    fidelity: str,
    objective_names: tuple[str, str, str],
    facts: dict[str, str],
    sampler: optuna.samplers.BaseSampler,
) -> optuna.Study:
    """Create or resume ``name``; refuse to mix energy sources, devices or fidelities."""
    storage = open_storage(
        config.storage,
        heartbeat_interval=config.heartbeat_seconds,
        grace_period=config.grace_seconds,
    )
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        directions=list(DIRECTIONS),
        sampler=sampler,
        load_if_exists=True,
    )
    study_id = storage.get_study_id_from_name(name)
    recorded = storage.get_study_system_attrs(study_id)
    wanted = {**facts, "fidelity": fidelity}
    for key in PINNED:
        before = recorded.get(ATTR_PREFIX + key)
        if before is not None and before != wanted.get(key):
            raise GsearchError(
                f"study {name!r} holds trials with {key} {before!r}; this run's {key} is "
                f"{wanted.get(key)!r}: such numbers are not comparable, use another --study"
            )
    for key, value in wanted.items():
        if recorded.get(ATTR_PREFIX + key) is None:
            storage.set_study_system_attr(study_id, ATTR_PREFIX + key, value)
    if study.metric_names is None:
        study.set_metric_names(list(objective_names))
    return study


def ladder_promotions(
    proxy_front: Sequence[FrozenTrial], trials: Sequence[FrozenTrial]
) -> list[FrozenTrial]:
    """Proxy trials to train at full fidelity: the front plus its ties.

    A trial whose top-1 lies within the front's seed spread of being non-dominated is a
    tie the proxy cannot separate from the front, so it is promoted too.
    """
    margin = max((t.user_attrs.get("top1_spread", 0.0) for t in proxy_front), default=0.0)
    front_ids = {t.number for t in proxy_front}
    promoted = list(proxy_front)
    front_points = [to_minimise(t.values, MAXIMISE) for t in proxy_front]
    for trial in trials:
        if trial.number in front_ids or not feasible(trial) or trial.values is None:
            continue
        epf, top1, params = trial.values
        lifted = to_minimise((epf, top1 + margin, params), MAXIMISE)
        if not any(dominates(front, lifted) for front in front_points):
            promoted.append(trial)
    return promoted


# ---------------------------------------------------------------- running
@contextmanager
def _progress(quiet: bool, total: int, description: str) -> Iterator[Callable[..., None]]:
    if quiet:
        yield lambda **_: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("front {task.fields[front]}  HV {task.fields[hv]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task(description, total=total, front=0, hv="-")
        yield lambda **kw: progress.update(task, **kw)


def _live_ahead(study: optuna.Study, number: int) -> int:
    """Live trials (complete, running or waiting) numbered before ``number``."""
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    return sum(1 for t in study.get_trials(deepcopy=False, states=live) if t.number < number)


class OverBudget(optuna.TrialPruned):
    """Raised in a trial that another worker's trial already made surplus."""


def run_trials(
    study: optuna.Study,
    runner: Callable[[optuna.Trial], tuple[float, float, float]],
    target: int,
    *,
    timeout_seconds: float | None = None,
    quiet: bool = False,
    description: str = "trials",
    poll_seconds: float = 2.0,
) -> None:
    """Run trials until the study holds ``target`` complete ones; safe with many workers.

    Each worker runs one trial at a time through ``study.optimize`` (which keeps the
    heartbeat of RDB storages). A trial claims a slot by its number: when ``target``
    live trials (complete, running or waiting) precede it, it is surplus and ends
    PRUNED before any work. When the remaining slots are all held by other workers'
    running trials, this worker waits: if one of them dies, its retry comes back as a
    waiting trial and is picked up, so the study still ends with ``target`` trials.
    """

    def claimed(trial: optuna.Trial) -> tuple[float, float, float]:
        if _live_ahead(trial.study, trial.number) >= target:
            trial.set_user_attr("surplus", True)
            raise OverBudget("the study already has enough trials")
        return runner(trial)

    started = time.monotonic()
    with _progress(quiet, target, description) as update:
        while True:
            with_storage_retries(lambda: optuna.storages.fail_stale_trials(study))
            trials = with_storage_retries(lambda: study.get_trials(deepcopy=False))
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            front = pareto_trials(complete)  # from the trials just read: no second query
            update(
                completed=len(complete), front=len(front), hv=f"{front_hypervolume(complete):.3f}"
            )
            if len(complete) >= target:
                return
            if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
                return
            running = sum(t.state == TrialState.RUNNING for t in trials)
            waiting = sum(t.state == TrialState.WAITING for t in trials)
            if len(complete) + running >= target and not waiting:
                time.sleep(poll_seconds)  # the last slots are other workers' running trials
                continue
            with_storage_retries(
                lambda: study.optimize(claimed, n_trials=1, catch=(), gc_after_trial=True)
            )


def prepare_run(config: RunConfig, fidelity: str) -> tuple[DatasetBundle, Recipe]:
    recipe = get_recipe(fidelity, seed=config.seed, **config.recipe_overrides)
    data = prepare_data(config.dataset, recipe, config.data_root, skip_corrupt=config.skip_corrupt)
    if data.skipped_files and not config.quiet:
        Console(stderr=True).print(
            f"skipped {len(data.skipped_files)} unreadable images of {config.dataset}, "
            f"e.g. {data.skipped_files[0]}",
            highlight=False,
        )
    return data, recipe


@dataclass
class Stage:
    """One study of a run, opened and ready: its runner, objective names and facts."""

    study: optuna.Study
    runner: TrialRunner
    objective_names: tuple[str, str, str]
    facts: dict[str, str]


def open_stage(
    config: RunConfig,
    fidelity: str,
    study_name: str,
    energy: TrialEnergy,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> Stage:
    """Load the data, open (or create) the study and build the trial runner."""
    objective_names = (epf_objective_name(energy.unit), TOP1, PARAMS)
    facts = {
        "energy_source": energy.source,
        "device": energy.device_name,
        "dataset": config.dataset,
        "protocol": energy.protocol_text,
        "space": config.space.name,
    }
    resolution = dataset_info(config.dataset).default_resolution
    data, recipe = prepare_run(config, fidelity)
    study = open_study(
        config,
        study_name,
        fidelity,
        objective_names,
        facts,
        sampler or make_sampler(config, resolution),
    )
    requeue_failed(study)
    runner = TrialRunner(config, fidelity, data, recipe, energy)
    if not config.quiet:
        choice = energy.session.choice
        Console(stderr=True).print(
            f"energy source: {choice.source} ({choice.reason})", highlight=False
        )
    return Stage(study, runner, objective_names, facts)


def requeue_failed(study: optuna.Study) -> int:
    """Enqueue again the settings of failed trials (Ctrl-C, a crash) that nothing covers.

    A grid sampler counts a failed point as visited, and any sampler may never suggest
    it again; a resumed run should finish what the interrupted one started (training
    continues from the architecture's checkpoint). Returns how many were enqueued.
    """
    trials = study.get_trials(deepcopy=False)
    covered = {
        json.dumps(t.params, sort_keys=True)
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    }
    count = 0
    for trial in trials:
        key = json.dumps(trial.params, sort_keys=True)
        if trial.state == TrialState.FAIL and trial.params and key not in covered:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            covered.add(key)
            count += 1
    return count


def _run_stage(stage: Stage, config: RunConfig, target: int) -> None:
    run_trials(
        stage.study,
        stage.runner,
        target,
        timeout_seconds=config.timeout_seconds,
        quiet=config.quiet,
        description=f"{stage.study.study_name} ({stage.runner.fidelity})",
    )


def run_worker(config: RunConfig) -> int:
    """One worker on a shared study: run trials until it holds ``config.trials`` complete.

    Returns:
        Complete trials in the study when this worker stopped.
    """
    if config.fidelity == "ladder":
        raise GsearchError("workers run proxy or full studies; run the ladder with `gsearch run`")
    energy = open_trial_energy(config.energy, config.device)
    stage = open_stage(config, config.fidelity, config.study, energy)
    _run_stage(stage, config, config.trials)
    return len(finished(stage.study))


def run_search(config: RunConfig) -> SearchResult:
    """Run (or resume) the study of ``config``; for ``ladder``, then its full-fidelity study."""
    first = "proxy" if config.fidelity == "ladder" else config.fidelity
    energy = open_trial_energy(config.energy, config.device)
    stage = open_stage(config, first, config.study, energy)
    _run_stage(stage, config, config.trials)
    front = pareto_front(stage.study)
    if config.fidelity != "ladder":
        return SearchResult(stage.study, front, stage.objective_names)

    trained = [t for t in finished(stage.study) if t.user_attrs.get("trained")]
    promoted = ladder_promotions(front, trained)
    full = open_stage(
        config,
        "full",
        f"{config.study}/full",
        energy,
        optuna.samplers.RandomSampler(config.seed),
    )
    queued = {json.dumps(t.params, sort_keys=True) for t in full.study.get_trials(deepcopy=False)}
    for trial in promoted:
        key = json.dumps(trial.params, sort_keys=True)
        if key not in queued:
            full.study.enqueue_trial(trial.params, user_attrs={"promoted_from": trial.number})
            queued.add(key)
    _run_stage(full, config, len(queued))
    return SearchResult(stage.study, pareto_front(full.study), stage.objective_names, full.study)


def load_study(storage_url: str, name: str | None) -> tuple[optuna.Study, dict[str, Any]]:
    """An existing study and its recorded facts; without a name, the storage's only study."""
    storage = open_storage(storage_url, heartbeat_interval=None, create=False)
    names = [
        s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    ]
    if name is None:
        if len(names) != 1:
            if not names:
                raise GsearchError(f"storage {storage_url} holds no study yet")
            raise GsearchError(
                f"storage {storage_url} holds studies {', '.join(names)}: pass --study NAME"
            )
        name = names[0]
    if name not in names:
        raise GsearchError(
            f"no study {name!r} in {storage_url}; it holds {', '.join(names) or 'no study'}"
        )
    study = optuna.load_study(study_name=name, storage=storage)
    attrs = storage.get_study_system_attrs(storage.get_study_id_from_name(name))
    facts = {k.removeprefix(ATTR_PREFIX): v for k, v in attrs.items() if k.startswith(ATTR_PREFIX)}
    return study, facts
