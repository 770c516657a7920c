"""Search spaces: TOML files (data, not code) read into samplers of group policies.

A space file names its models, the batch sizes at which EPF is measured, one policy
family and its range, and the defaults of a run::

    description = "E2GC: constant group size G in every grouped layer"
    models = ["mobilenet_v1"]
    epf_batch_sizes = [16]          # the first is the objective, all are recorded
    epf_resolution = 224            # optional: where EPF is measured (default: the dataset's)
    [policy]
    kind = "group_size"             # group_size | groups | cost_model | per_layer | list
    values = [1, 2, 4, 8, 16, 32, 64]
    [defaults]
    dataset = "digits"
    fidelity = "proxy"
    trials = 7
    sampler = "tpe"

The shipped spaces live in ``search_spaces/``; a user passes the path of their own file.
Values that do not fit a model's layers are dropped for that model (``G=3`` does not
divide MobileNet-V1's channels); a space with nothing left for a model is an error.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from gsearch.errors import GsearchError
from gsearch.models import layer_specs, list_models
from gsearch.policy import (
    ConstantGroups,
    ConstantGroupSize,
    CostModel,
    PerLayer,
    Policy,
    fits,
    parse_policy,
)

def _spaces_dir() -> Path:
    """The shipped spaces: in a wheel under the package, in a checkout at the top."""
    package = Path(__file__).resolve().parent
    for folder in (package / "search_spaces", package.parent / "search_spaces"):
        if folder.is_dir():
            return folder
    return package / "search_spaces"


SPACES_DIR = _spaces_dir()
KINDS = ("group_size", "groups", "cost_model", "per_layer", "list")
FIDELITIES = ("proxy", "full", "ladder")
SAMPLERS = ("nsga2", "tpe", "gp", "random", "grid")
# Above this many points a space is not a grid a user means to walk exhaustively.
MAX_GRID_POINTS = 10_000


@dataclass(frozen=True)
class SpaceDefaults:
    """What a run uses when the command line does not say."""

    dataset: str = "digits"
    fidelity: str = "proxy"
    trials: int = 20
    sampler: str = "tpe"


@dataclass(frozen=True)
class SearchSpace:
    """One search space file, validated.

    Attributes:
        name: File stem, e.g. ``e2gc``.
        description: One line for humans.
        models: Models the space searches (a ``model`` parameter when more than one).
        epf_batch_sizes: Batch sizes for EPF; the first is the ``epf`` objective.
        kind: The policy family, one of :data:`KINDS`.
        values: G values (group_size, per_layer), g values (groups) or policy strings (list).
        beta: (low, high) of beta for ``cost_model``, uniform.
        gamma: (low, high) of gamma for ``cost_model``, log-uniform.
        defaults: Run defaults.
        path: The file it was read from.
        epf_resolution: Input side at which EPF is measured (None: the dataset's
            evaluation resolution).
    """

    name: str
    description: str
    models: tuple[str, ...]
    epf_batch_sizes: tuple[int, ...]
    kind: str
    values: tuple[Any, ...] = ()
    beta: tuple[float, float] = (0.05, 1.0)
    gamma: tuple[float, float] = (1e2, 1e10)
    defaults: SpaceDefaults = field(default_factory=SpaceDefaults)
    path: Path | None = None
    epf_resolution: int | None = None

    @property
    def label(self) -> str:
        """How errors name the space: its file name where it came from a file."""
        return f"search space {self.path.name if self.path else self.name}"

    # ------------------------------------------------------------ choices per model
    def choices(self, model: str, resolution: int) -> list[Any]:
        """The values of this space that fit ``model`` (per layer: a list per layer)."""
        specs = layer_specs(model, resolution)
        if self.kind == "group_size":
            fitting = [v for v in self.values if fits(ConstantGroupSize(v), specs)]
        elif self.kind == "groups":
            fitting = [v for v in self.values if fits(ConstantGroups(v), specs)]
        elif self.kind == "list":
            fitting = [v for v in self.values if fits(parse_policy(v), specs)]
        elif self.kind == "per_layer":
            per_layer = [[v for v in self.values if fits(PerLayer((v,)), [s])] for s in specs]
            if any(not layer for layer in per_layer):
                raise GsearchError(
                    f"search space {self.name}: no value fits every layer of {model}"
                )
            return per_layer
        else:
            return []
        if not fitting:
            raise GsearchError(f"{self.label}: none of {list(self.values)} fits {model}")
        return fitting

    def _prefix(self, model: str) -> str:
        # Different models have different valid choices; Optuna needs one distribution per name.
        return f"{model}/" if len(self.models) > 1 and self.kind != "list" else ""

    def suggest(self, trial: optuna.Trial, resolution: int) -> tuple[str, Policy]:
        """Sample a model and a policy for ``trial``."""
        model = (
            self.models[0]
            if len(self.models) == 1
            else str(trial.suggest_categorical("model", list(self.models)))
        )
        prefix = self._prefix(model)
        if self.kind == "cost_model":
            beta = trial.suggest_float(prefix + "beta", *self.beta)
            gamma = trial.suggest_float(prefix + "gamma", *self.gamma, log=True)
            return model, CostModel(beta, gamma)
        choices = self.choices(model, resolution)
        if self.kind == "list":
            # One distribution for the shared "policy" parameter, whichever model is drawn.
            choices = self.grid(resolution)["policy"]
        if self.kind == "per_layer":
            sizes = tuple(
                int(trial.suggest_categorical(f"{prefix}G_{index:02d}", layer))
                for index, layer in enumerate(choices)
            )
            return model, PerLayer(sizes)
        name = {"group_size": "G", "groups": "g", "list": "policy"}[self.kind]
        value = trial.suggest_categorical(prefix + name, choices)
        if self.kind == "group_size":
            return model, ConstantGroupSize(int(value))
        if self.kind == "groups":
            return model, ConstantGroups(int(value))
        return model, parse_policy(str(value))

    def grid(self, resolution: int) -> dict[str, list[Any]]:
        """The search space as a GridSampler wants it; an error where it is not a finite grid."""
        if self.kind == "cost_model":
            raise GsearchError(
                f"sampler grid needs a finite space; space {self.name} searches continuous "
                "beta and gamma: use nsga2, tpe, gp or random"
            )
        grid: dict[str, list[Any]] = {}
        if len(self.models) > 1:
            grid["model"] = list(self.models)
        for model in self.models:
            prefix = self._prefix(model)
            choices = self.choices(model, resolution)
            if self.kind == "per_layer":
                points = math.prod(len(layer) for layer in choices)
                if points > MAX_GRID_POINTS:
                    raise GsearchError(
                        f"sampler grid: space {self.name} has {points:,} settings of {model} "
                        f"(more than {MAX_GRID_POINTS:,}): use nsga2, tpe, gp or random"
                    )
                for index, layer in enumerate(choices):
                    grid[f"{prefix}G_{index:02d}"] = layer
            else:
                key = prefix + {"group_size": "G", "groups": "g", "list": "policy"}[self.kind]
                # A shared "policy" parameter keeps only the values that fit every model.
                grid[key] = [v for v in grid.get(key, choices) if v in choices]
        return grid


def list_spaces() -> list[str]:
    """Names of the shipped spaces."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.toml"))


def space_path(name_or_path: str) -> Path:
    """The file of a shipped space name, or the given path to a user's file."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if path.is_dir():
            raise GsearchError(f"search space {name_or_path} is a folder, not a .toml file")
        if not path.is_file():
            raise GsearchError(f"search space file {name_or_path} does not exist")
        return path
    path = SPACES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise GsearchError(
            f"unknown search space {name_or_path!r}: known spaces are "
            f"{', '.join(list_spaces())}, or pass the path of a .toml file"
        )
    return path


def load_space(name_or_path: str) -> SearchSpace:
    """Read and validate a search space; every mistake is one line naming file and key."""
    path = space_path(name_or_path)
    where = f"search space {path.name}"
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise GsearchError(f"{where} is not valid TOML: {error}") from None
    known = {"description", "models", "epf_batch_sizes", "epf_resolution", "policy", "defaults"}
    _no_unknown_keys(raw, known, where)
    models = _str_list(raw.get("models"), f"{where}: models")
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        raise GsearchError(
            f"{where}: unknown model {unknown[0]!r} in models; known models are "
            f"{', '.join(list_models())}"
        )
    batches = _int_list(raw.get("epf_batch_sizes", [16]), f"{where}: epf_batch_sizes")
    epf_resolution = raw.get("epf_resolution")
    if epf_resolution is not None and (
        not isinstance(epf_resolution, int) or isinstance(epf_resolution, bool) or epf_resolution < 8
    ):
        raise GsearchError(
            f"{where}: epf_resolution must be an integer >= 8 pixels, got {epf_resolution!r}"
        )
    policy = raw.get("policy")
    if not isinstance(policy, dict):
        raise GsearchError(f"{where}: a [policy] table with kind = one of {', '.join(KINDS)}")
    kind = policy.get("kind")
    if kind not in KINDS:
        raise GsearchError(f"{where}: policy.kind is {kind!r}; allowed: {', '.join(KINDS)}")
    values: tuple[Any, ...] = ()
    beta, gamma = (0.05, 1.0), (1e2, 1e10)
    if kind == "cost_model":
        _no_unknown_keys(policy, {"kind", "beta", "gamma"}, f"{where}: [policy]")
        beta = _range(policy.get("beta", list(beta)), f"{where}: policy.beta", 0.0, 1.0)
        if beta[0] <= 0:
            raise GsearchError(f"{where}: policy.beta must lie in (0, 1], got low={beta[0]}")
        gamma = _range(policy.get("gamma", list(gamma)), f"{where}: policy.gamma", 0.0, math.inf)
        if gamma[0] <= 0:
            raise GsearchError(f"{where}: policy.gamma must be > 0, got low={gamma[0]}")
    else:
        _no_unknown_keys(policy, {"kind", "values"}, f"{where}: [policy]")
        if kind == "list":
            values = tuple(_str_list(policy.get("values"), f"{where}: policy.values"))
            for index, text in enumerate(values):
                try:
                    parse_policy(text)
                except GsearchError as error:
                    raise GsearchError(f"{where}: policy.values[{index}]: {error}") from None
        else:
            values = tuple(_int_list(policy.get("values"), f"{where}: policy.values"))
    defaults = _defaults(raw.get("defaults", {}), where)
    space = SearchSpace(
        name=path.stem,
        description=str(raw.get("description", "")),
        models=tuple(models),
        epf_batch_sizes=tuple(batches),
        kind=kind,
        values=values,
        beta=beta,
        gamma=gamma,
        defaults=defaults,
        path=path,
        epf_resolution=epf_resolution,
    )
    for model in models:  # fail now, not in the middle of a study
        space.choices(model, 224)
    return space


def _no_unknown_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise GsearchError(
            f"{where}: unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise GsearchError(f"{where} must be a non-empty list of strings, got {value!r}")
    return value


def _int_list(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise GsearchError(f"{where} must be a non-empty list of positive integers, got {value!r}")
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise GsearchError(f"{where}[{index}] must be a positive integer, got {item!r}")
    return value


def _range(value: Any, where: str, low: float, high: float) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise GsearchError(f"{where} must be [low, high], got {value!r}")
    a, b = float(value[0]), float(value[1])
    if not (math.isfinite(a) and math.isfinite(b)):
        raise GsearchError(f"{where} must be finite numbers, got [{a}, {b}]")
    if not low <= a < b <= high:
        raise GsearchError(f"{where} must satisfy {low} <= low < high <= {high}, got [{a}, {b}]")
    return a, b


def _defaults(value: Any, where: str) -> SpaceDefaults:
    if not isinstance(value, dict):
        raise GsearchError(f"{where}: [defaults] must be a table")
    _no_unknown_keys(value, {"dataset", "fidelity", "trials", "sampler"}, f"{where}: [defaults]")
    defaults = SpaceDefaults(**value)
    if defaults.fidelity not in FIDELITIES:
        raise GsearchError(
            f"{where}: defaults.fidelity is {defaults.fidelity!r}; allowed: {', '.join(FIDELITIES)}"
        )
    if defaults.sampler not in SAMPLERS:
        raise GsearchError(
            f"{where}: defaults.sampler is {defaults.sampler!r}; allowed: {', '.join(SAMPLERS)}"
        )
    if (
        isinstance(defaults.trials, bool)
        or not isinstance(defaults.trials, int)
        or defaults.trials < 1
    ):
        raise GsearchError(
            f"{where}: defaults.trials must be a positive integer, got {defaults.trials!r}"
        )
    return defaults
