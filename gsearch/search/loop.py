"""Running a study: stages, the trial loop shared by many workers, the ladder, the final EPF.

``run_search`` opens the device and energy source once, opens (or resumes) the study
with its pinned settings, runs trials until the study holds ``trials`` complete ones,
measures the front's EPF again with its members interleaved, and for ``ladder`` trains
the proxy front and its ties at full fidelity in the study ``<study>/full``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from gsearch.data import DatasetBundle, dataset_info
from gsearch.energy.meter_lock import hold_meter
from gsearch.errors import GsearchError
from gsearch.pareto import front_hypervolume, pareto_front, pareto_trials
from gsearch.policies import parse_policy
from gsearch.progress import progress_bar
from gsearch.report.front import JOINT_ATTR, final_front, front_candidates, joint_record
from gsearch.search.calibrated import calibrated_binder
from gsearch.search.config import RunConfig
from gsearch.search.failures import (
    RepeatingFailure,
    failed_for_good,
    is_lost_storage,
    record_failure,
    requeue_lost,
    takes_a_slot,
)
from gsearch.search.ladder import ladder_promotions
from gsearch.search.objective import Architecture, TrialObjective, checkpoint_folder
from gsearch.search.probe import MeasuredEnergy, PredictedEnergy, open_measured_energy
from gsearch.search.study import (
    BOARD_PIN,
    complete,
    make_sampler,
    objective_names,
    open_study,
    sampler_seed,
)
from gsearch.search.trainer import RecipeTrainer
from gsearch.storage import RunStorage, with_storage_retries
from gsearch.training import Recipe, prepare_data, recipe_tag

FRONT_EPF_ATTR = JOINT_ATTR
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    """What a finished run returns: the study and its Pareto front."""

    study: optuna.Study
    front: list[FrozenTrial]
    objective_names: tuple[str, str, str]
    full_study: optuna.Study | None = None


@dataclass
class Stage:
    """One study of a run, opened and ready."""

    study: optuna.Study
    objective: TrialObjective
    names: tuple[str, str, str]
    fidelity: str


# ---------------------------------------------------------------- progress and trials
@contextmanager
def _progress(quiet: bool, total: int, description: str) -> Iterator[Callable[..., None]]:
    fields = "front {task.fields[front]}  HV {task.fields[hv]}"
    with progress_bar(fields, quiet=quiet, console=Console(stderr=True), count=True) as bar:
        task = bar.add_task(description, total=total, front=0, hv="-")
        yield lambda **kw: bar.update(task, **kw)


def _live_ahead(study: optuna.Study, number: int) -> int:
    """Trials that take a slot (complete, running, waiting, failed for good) before ``number``."""
    trials = study.get_trials(deepcopy=False)
    return sum(1 for t in trials if t.number < number and takes_a_slot(t))


class OverBudget(optuna.TrialPruned):
    """Raised in a trial that another worker's trial already made surplus."""


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], tuple[float, float, float]],
    target: int,
    *,
    timeout_s: float | None = None,
    quiet: bool = False,
    description: str = "trials",
    poll_s: float = 2.0,
) -> None:
    """Run trials until the study holds ``target`` complete ones; safe with many workers.

    Each worker runs one trial at a time through ``study.optimize`` (which keeps the
    heartbeat of RDB storages). A trial claims a slot by its number: when ``target``
    live trials (complete, running or waiting) precede it, it is surplus and ends
    PRUNED before any work. When the remaining slots are all held by other workers'
    running trials, this worker waits: if one of them dies, its retry comes back as a
    waiting trial and is picked up, so the study still ends with ``target`` trials.
    A trial that fails for a reason that would repeat keeps the reason, takes its slot
    and the run goes on (:mod:`gsearch.search.failures`).
    """

    def claimed(trial: optuna.Trial) -> tuple[float, float, float]:
        if _live_ahead(trial.study, trial.number) >= target:
            trial.set_user_attr("surplus", True)
            raise OverBudget("the study already has enough trials")
        try:
            return objective(trial)
        except Exception as error:
            if is_lost_storage(error):
                raise  # the storage's fault: the trial is lost and retried, not failed
            raise record_failure(trial, error) from error

    started = time.monotonic()
    with _progress(quiet, target, description) as update:
        while True:
            with_storage_retries(lambda: optuna.storages.fail_stale_trials(study))
            trials = with_storage_retries(lambda: study.get_trials(deepcopy=False))
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            spent = len(done) + len(failed_for_good(trials))  # a failure takes its slot
            shown = pareto_trials(done)  # from the trials just read: no second query
            update(completed=spent, front=len(shown), hv=f"{front_hypervolume(done):.3f}")
            if spent >= target:
                return
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                return
            running = sum(t.state == TrialState.RUNNING for t in trials)
            waiting = sum(t.state == TrialState.WAITING for t in trials)
            if spent + running >= target and not waiting:
                time.sleep(poll_s)  # the last slots are other workers' running trials
                continue
            with_storage_retries(
                lambda: study.optimize(
                    claimed, n_trials=1, catch=(RepeatingFailure,), gc_after_trial=True
                )
            )


# ---------------------------------------------------------------- stages
def stage_pins(
    config: RunConfig, fidelity: str, recipe: Recipe, data: DatasetBundle, probe: MeasuredEnergy
) -> dict[str, Any]:
    """Every setting of a stage that changes its numbers (see :mod:`gsearch.search.study`)."""
    info = dataset_info(config.dataset)
    subset = recipe.subset or (info.proxy_subset if recipe.fidelity == "proxy" else None)
    recipe_fields = asdict(recipe)
    recipe_fields.pop("seed")  # per trial, derived from the study's seed
    recipe_fields["subset"] = None if subset is None else asdict(subset)
    recipe_fields["train_resolution"] = data.resolution
    space = config.space
    pins = {
        "space": space.name,
        # What the file says beyond its name: an edited file is another space.
        "space_definition": {
            "kind": space.kind,
            "values": list(space.values),
            "beta": list(space.beta),
            "gamma": list(space.gamma),
            "tradeoff": list(space.tradeoff),
            "models": list(space.models),
            "epf_batch_sizes": list(space.epf_batch_sizes),
            "epf_resolution": space.epf_resolution,
            "pass": space.epf_pass,
        },
        "models": list(config.search_models),
        "dataset": config.dataset,
        "data_root": None if config.data_root is None else str(Path(config.data_root).resolve()),
        "fidelity": fidelity,
        "recipe": recipe_fields,
        "seed": config.seed,
        **probe.pins(),
        # Per worker index: the workers of one study measure on boards of their own,
        # and each keeps its board across reruns.
        f"{BOARD_PIN}{config.worker_index}": probe.board,
        "energy_budget": config.energy_budget,
    }
    return json.loads(json.dumps(pins, default=str))  # as the storage returns it


def open_stage(
    config: RunConfig,
    fidelity: str,
    study_name: str,
    probe: MeasuredEnergy,
    storage: RunStorage,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> Stage:
    """Load the data, open (or create) the study with its pins in the run's storage,
    build the objective."""
    recipe = config.recipe(fidelity)
    data = prepare_data(config.dataset, recipe, config.data_root, skip_corrupt=config.skip_corrupt)
    if data.skipped_files:
        _log.warning(
            "skipped %d unreadable images of %s, e.g. %s",
            len(data.skipped_files),
            config.dataset,
            data.skipped_files[0],
        )
    names = objective_names(probe.unit, predicted=probe.source.startswith("predicted"))
    resolution = config.measured_resolution
    space = config.searched_space
    if sampler is None:
        seed = sampler_seed(config.seed, config.worker_index)
        sampler = make_sampler(config.sampler, seed, space, resolution, config.trials)
    # A missing, refused or narrower calibration is one line before the study is touched.
    if isinstance(probe, PredictedEnergy):
        probe.check(config.search_models, space, data.num_classes)
    bind = (
        calibrated_binder(config, probe, data.num_classes) if space.kind == "calibrated" else None
    )
    study = open_study(
        storage, study_name, stage_pins(config, fidelity, recipe, data, probe), names, sampler
    )
    requeue_lost(study)
    objective = TrialObjective(
        space,
        fidelity,
        config.dataset,
        data.num_classes,
        resolution,
        probe,
        RecipeTrainer(data, recipe, config.device, quiet=True),
        study_seed=config.seed,
        replicates=recipe.seeds,
        checkpoint_root=checkpoint_folder(
            config.checkpoint_root, study_name, fidelity, recipe_tag(recipe)
        ),
        energy_budget=config.energy_budget,
        bind=bind,
    )
    choice = probe.session.choice
    _log.info("energy source: %s (%s)", choice.source, choice.reason)
    return Stage(study, objective, names, fidelity)


def _run_stage(stage: Stage, config: RunConfig, target: int) -> None:
    run_trials(
        stage.study,
        stage.objective,
        target,
        timeout_s=config.timeout_s,
        quiet=config.quiet,
        description=f"{stage.study.study_name} ({stage.fidelity})",
    )


# ---------------------------------------------------------------- the front's EPF
def remeasure_front(study: optuna.Study, probe: MeasuredEnergy) -> dict[str, Any]:
    """Measure the front's candidates again together and record it in the study.

    The candidates are the front by the trials' own values and every trial tied with it
    (:func:`gsearch.report.front.front_candidates`); each distinct network is measured
    once, all interleaved beside the baseline network, uncached. The record (the study's
    user attribute ``front_epf``) decides the front every output shows
    (:func:`gsearch.report.front.final_front`).
    """
    every = study.get_trials(deepcopy=False)
    members = front_candidates(every, study.directions)
    archs = []
    for trial in members:
        attrs = trial.user_attrs
        classes = int(attrs["arch"].rsplit("classes=", 1)[1])
        archs.append(
            Architecture(
                attrs["model"],
                parse_policy(attrs["policy"]),
                tuple(attrs["groups"]),
                classes,
                probe.resolution,
            )
        )
    unique = list(dict.fromkeys(archs))
    measured = {arch: row for arch, row in zip(unique, probe.remeasure(unique), strict=True)}
    rows: dict[int, dict[str, Any]] = {}
    for trial, arch in zip(members, archs, strict=True):
        row = measured[arch]
        rows[trial.number] = {
            "epf": row.epf,
            "epf_low": row.epf_low,
            "epf_high": row.epf_high,
            "ms_per_frame": row.ms_per_frame,
            "epf_ratio": row.epf_ratio,
            "baseline_policy": row.baseline_policy,
            "unit": row.unit,
            "batch": row.batch,
            "interleaved_with": len(unique),
        }
    complete_count = sum(1 for t in every if t.state == TrialState.COMPLETE)
    record = joint_record(members, rows, complete_count)
    study.set_user_attr(FRONT_EPF_ATTR, record)
    return record


def measure_front_again(config: RunConfig, study: optuna.Study) -> dict[str, Any]:
    """:func:`remeasure_front` for a study that other processes ran (``--workers``)."""
    with ExitStack() as stack:
        return remeasure_front(study, _open_probe(config, stack))


# ---------------------------------------------------------------- entry points
def _run_storage(config: RunConfig, given: RunStorage | None) -> RunStorage:
    """The storage the command opened, else one for ``config.storage`` (API callers)."""
    if given is not None:
        return given
    return RunStorage(config.storage, heartbeat_s=config.heartbeat_s, grace_s=config.grace_s)


def _open_probe(config: RunConfig, stack: ExitStack) -> MeasuredEnergy:
    probe = open_measured_energy(
        config.energy,
        config.device,
        config.epf_protocol,
        config.space.epf_batch_sizes,
        config.measured_resolution,
        config.precision,
        config.cache_dir,
        config.epf_pass,
    )
    stack.callback(probe.session.close)
    # A prediction's calibrations are checked with the data's classes (open_stage).
    measures = not isinstance(probe, PredictedEnergy) and probe.unit != "model"
    if measures:  # a score shares nothing; a measured meter is never shared
        stack.enter_context(hold_meter(probe.session))  # before its first reading
        # Idle power now, on a cool device, not after the first trial's training.
        probe.session.idle_power_w(probe.protocol.idle_s)
    return probe


def run_worker(config: RunConfig, storage: RunStorage | None = None) -> int:
    """One worker on a shared study: run trials until it holds ``config.trials`` complete.

    Args:
        config: The run.
        storage: The storage the command checked (gsearch.preflight.check_run); without
            it, ``config.storage`` is opened here.

    Returns:
        Complete trials in the study when this worker stopped.
    """
    if config.fidelity == "ladder":
        raise GsearchError("workers run proxy or full studies; the ladder runs in one process")
    with ExitStack() as stack:
        storage = _run_storage(config, storage)
        probe = _open_probe(config, stack)
        stage = open_stage(config, config.fidelity, config.study, probe, storage)
        _run_stage(stage, config, config.trials)
        return len(complete(stage.study))


def run_search(config: RunConfig, storage: RunStorage | None = None) -> SearchResult:
    """Run (or resume) the study of ``config``; for ``ladder``, then its full-fidelity study.

    Args:
        config: The run.
        storage: The storage the command checked (gsearch.preflight.check_run), which
            both of a ladder's studies use; without it, ``config.storage`` is opened here.
    """
    first = "proxy" if config.fidelity == "ladder" else config.fidelity
    with ExitStack() as stack:
        storage = _run_storage(config, storage)
        probe = _open_probe(config, stack)
        stage = open_stage(config, first, config.study, probe, storage)
        _run_stage(stage, config, config.trials)
        remeasure_front(stage.study, probe)
        if config.fidelity != "ladder":
            return SearchResult(stage.study, final_front(stage.study).front, stage.names)

        promoted = ladder_promotions(pareto_front(stage.study), complete(stage.study))
        full = open_stage(
            config,
            "full",
            f"{config.study}/full",
            probe,
            storage,
            optuna.samplers.RandomSampler(sampler_seed(config.seed)),
        )
        queued = {
            json.dumps(t.params, sort_keys=True) for t in full.study.get_trials(deepcopy=False)
        }
        for trial in promoted:
            key = json.dumps(trial.params, sort_keys=True)
            if key not in queued:
                full.study.enqueue_trial(trial.params, user_attrs={"promoted_from": trial.number})
                queued.add(key)
        _run_stage(full, config, len(queued))
        remeasure_front(full.study, probe)
        return SearchResult(stage.study, final_front(full.study).front, stage.names, full.study)
