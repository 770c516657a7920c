"""Studies: create or resume, pin what changes their numbers, samplers.

A study records, in its system attributes (``gsearch:<setting>``), every setting that
changes its numbers: the space (name and definition) and models, dataset and data
root, fidelity, the whole training recipe with its seeds, the study's seed, energy
source and device (its identity as the EPF cache keys it; the GPU board per worker
index), EPF batch sizes, resolution, precision and protocol, and the energy budget. A
rerun or a worker that differs in any of them is refused before it writes anything, with
one line naming the setting, the study's value and the new one: a front never mixes
numbers made otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from gsearch.errors import GsearchError
from gsearch.spaces import SearchSpace
from gsearch.storage import RunStorage, is_foreign_study, open_storage, redact

ATTR_PREFIX = "gsearch:"
# ``board_of_worker_<index>``: pinned by the first run of each worker index, not the study's
# first run (workers of one study measure on different boards).
BOARD_PIN = "board_of_worker_"
DIRECTIONS = (StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE)
TOP1, PARAMS = "top1", "params_m"
# The first objective is named for what the source measures; never mixed in one study.
ENERGY_OBJECTIVES = {"mJ": "epf_mj", "ms": "ms_per_frame", "model": "epf_model"}


def energy_objective_name(unit: str) -> str:
    """``epf_mj`` (energy counters), ``ms_per_frame`` (time meter), ``epf_model`` (Eq. 1)."""
    try:
        return ENERGY_OBJECTIVES[unit]
    except KeyError:
        return f"epf_{unit.lower()}"


def objective_names(unit: str, predicted: bool = False) -> tuple[str, str, str]:
    """The study's three metric names for an energy unit (``predicted_...`` when predicted)."""
    energy = energy_objective_name(unit)
    return (f"predicted_{energy}" if predicted else energy, TOP1, PARAMS)


# ---------------------------------------------------------------- pinning
def _flatten(pins: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in pins.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _show(value: Any) -> str:
    return "none" if value is None else repr(value) if isinstance(value, str) else str(value)


def check_pins(name: str, recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """Refuse a run whose settings differ from those the study recorded.

    Raises:
        GsearchError: One line naming the first differing setting and both values.
    """
    for key, value in wanted.items():
        before = recorded.get(ATTR_PREFIX + key)
        if before is None and ATTR_PREFIX + key not in recorded:
            raise GsearchError(
                f"study {name!r} was made by an earlier gsearch that did not record its {key}: "
                "its numbers cannot be checked against this run's; use another study name"
            )
        old_flat = _flatten({key: before}) if isinstance(before, Mapping) else {key: before}
        new_flat = _flatten({key: value}) if isinstance(value, Mapping) else {key: value}
        for setting in sorted(set(old_flat) | set(new_flat)):
            old, new = old_flat.get(setting), new_flat.get(setting)
            if _normal(old) != _normal(new):
                raise GsearchError(
                    f"study {name!r} was run with {setting} = {_show(old)}; this run has "
                    f"{setting} = {_show(new)}: the numbers would not be comparable, so the "
                    "study is left unchanged; use another study name"
                )


def _normal(value: Any) -> Any:
    # Storages return JSON: tuples come back as lists, ints may come back as floats.
    if isinstance(value, tuple | list):
        return [_normal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _claim_boards(
    storage: optuna.storages.BaseStorage,
    study_id: int,
    recorded: Mapping[str, Any],
    pins: Mapping[str, Any],
) -> Mapping[str, Any]:
    """Record the board of a worker index the study has not seen yet; the attributes after."""
    new = [key for key in pins if key.startswith(BOARD_PIN) and ATTR_PREFIX + key not in recorded]
    for key in new:
        storage.set_study_system_attr(study_id, ATTR_PREFIX + key, pins[key])
    return storage.get_study_system_attrs(study_id) if new else recorded


def is_gsearch_study(system_attrs: Mapping[str, Any]) -> bool:
    """True when gsearch made the study (it recorded its space)."""
    return ATTR_PREFIX + "space" in system_attrs


def open_study(
    run_storage: RunStorage,
    name: str,
    pins: Mapping[str, Any],
    names: tuple[str, str, str],
    sampler: optuna.samplers.BaseSampler,
) -> optuna.Study:
    """Create or resume study ``name`` in the run's storage, refusing one whose pinned
    settings differ.

    Nothing is written into an existing study before its settings are checked: a
    refused run leaves it as it was.
    """
    storage = run_storage.get()
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        directions=list(DIRECTIONS),
        sampler=sampler,
        load_if_exists=True,
    )
    study_id = storage.get_study_id_from_name(name)
    recorded = storage.get_study_system_attrs(study_id)
    if not is_gsearch_study(recorded):
        if is_foreign_study(storage, study_id):
            trials = storage.get_all_trials(study_id, deepcopy=False)
            raise GsearchError(
                f"study {name!r} was not made by gsearch (it holds {len(trials)} trials and no "
                "gsearch settings); it is left unchanged; use another study name"
            )
        if list(study.directions) != list(DIRECTIONS):
            raise GsearchError(f"study {name!r} has other objectives than gsearch's three")
        # The space is the mark of a gsearch study: written last, so a worker that
        # opens the study meanwhile sees either no mark (and writes the same pins) or
        # every pin, never a part of them.
        for key, value in sorted(pins.items(), key=lambda item: item[0] == "space"):
            storage.set_study_system_attr(study_id, ATTR_PREFIX + key, value)
        # Two first runs at once with other settings: whoever wrote last wins, the
        # other finds out here instead of adding trials under settings not its own.
        check_pins(name, storage.get_study_system_attrs(study_id), pins)
    else:
        check_pins(name, _claim_boards(storage, study_id, recorded, pins), pins)
    if study.metric_names is None:
        study.set_metric_names(list(names))
    elif tuple(study.metric_names) != names:
        raise GsearchError(
            f"study {name!r} records objectives {', '.join(study.metric_names)}; this run "
            f"measures {', '.join(names)}; use another study name"
        )
    return study


# numpy's generators (every sampler's) take seeds below 2**32.
_SAMPLER_SEEDS = 2**32


def sampler_seed(study_seed: int, worker_index: int = 0) -> int:
    """The sampler's seed of a worker: workers of one study draw different points.

    ``seed * 1000 + worker`` as before, wrapped below 2**32 so that every ``--seed`` the
    CLI accepts (up to 2**32 - 1) gives samplers a seed they take.
    """
    return (study_seed * 1_000 + worker_index) % _SAMPLER_SEEDS


def make_sampler(
    kind: str, seed: int, space: SearchSpace, resolution: int, trials: int
) -> optuna.samplers.BaseSampler:
    """The sampler a run asked for; the energy budget reaches every sampler as a
    constraint the objective records (``trial.set_constraint``)."""
    if kind == "nsga2":
        population = max(4, min(50, trials // 4))
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler(space.grid(resolution), seed=seed)


# ---------------------------------------------------------------- reading
def complete(study: optuna.Study) -> list[FrozenTrial]:
    """The study's complete trials."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def load_study(storage_url: str, name: str | None) -> tuple[optuna.Study, dict[str, Any]]:
    """An existing study and its recorded settings; without a name, the storage's only study."""
    storage = open_storage(storage_url, heartbeat_interval=None, create=False)
    names = [
        s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    ]
    shown = redact(storage_url)
    if name is None:
        if len(names) != 1:
            if not names:
                raise GsearchError(f"storage {shown} holds no study yet")
            raise GsearchError(f"storage {shown} holds studies {', '.join(names)}: name one")
        name = names[0]
    if name not in names:
        raise GsearchError(f"no study {name!r} in {shown}; it holds {', '.join(names) or 'none'}")
    study = optuna.load_study(study_name=name, storage=storage)
    attrs = storage.get_study_system_attrs(storage.get_study_id_from_name(name))
    facts = {k.removeprefix(ATTR_PREFIX): v for k, v in attrs.items() if k.startswith(ATTR_PREFIX)}
    return study, facts
