"""Search spaces: TOML files (data, not code) read into samplers of group policies.

A space file names its models, the batch sizes at which EPF is measured, one policy
family and its range, and the defaults of a run::

    description = "E2GC: constant group size G in every grouped layer"
    models = ["mobilenet_v1"]
    epf_batch_sizes = [16]          # the first is the objective, all are recorded
    epf_resolution = 224            # optional: where EPF is measured (default: the dataset's)
    pass = "inference"              # optional: training (default, the paper's EPF) or inference
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

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from gsearch.errors import GsearchError
from gsearch.limits import MAX_BATCH, MAX_LIST_VALUES, MAX_RESOLUTION_PX, MAX_SPACE_FILE_BYTES
from gsearch.models import layer_specs, list_models
from gsearch.paths import check_path
from gsearch.policies import KINDS as POLICY_KINDS
from gsearch.policies import Policy, PolicyKind
from gsearch.policies._kind import int_list as _int_list
from gsearch.policies._kind import no_unknown_keys as _no_unknown_keys
from gsearch.policies._kind import str_list as _str_list


def _spaces_dir() -> Path:
    """The shipped spaces: in a wheel under the package, in a checkout at the top."""
    package = Path(__file__).resolve().parent
    for folder in (package / "search_spaces", package.parent / "search_spaces"):
        if folder.is_dir():
            return folder
    return package / "search_spaces"


SPACES_DIR = _spaces_dir()
KINDS = tuple(POLICY_KINDS)  # group_size, groups, cost_model, per_layer, list
FIDELITIES = ("proxy", "full", "ladder")
SAMPLERS = ("nsga2", "tpe", "gp", "random", "grid")


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
        tradeoff: (low, high) of the energy/params weight for ``calibrated``, log-uniform.
        defaults: Run defaults.
        path: The file it was read from.
        epf_resolution: Input side at which EPF is measured (None: the dataset's
            evaluation resolution).
        epf_pass: ``training`` or ``inference`` (None: training).
    """

    name: str
    description: str
    models: tuple[str, ...]
    epf_batch_sizes: tuple[int, ...]
    kind: str
    values: tuple[Any, ...] = ()
    beta: tuple[float, float] = (0.05, 1.0)
    gamma: tuple[float, float] = (1e2, 1e10)
    tradeoff: tuple[float, float] = (1e-2, 1e2)
    defaults: SpaceDefaults = field(default_factory=SpaceDefaults)
    path: Path | None = None
    epf_resolution: int | None = None
    epf_pass: str | None = None

    @property
    def label(self) -> str:
        """How errors name the space: its file name where it came from a file."""
        return f"search space {self.path.name if self.path else self.name}"

    # ------------------------------------------------------------ choices per model
    @property
    def policy_kind(self) -> PolicyKind:
        """The module of this space's kind (gsearch.policies): it does the kind's part."""
        return POLICY_KINDS[self.kind]

    def choices(self, model: str, resolution: int) -> list[Any]:
        """The values of this space that fit ``model`` (per layer: a list per layer)."""
        return self.policy_kind.choices(self, layer_specs(model, resolution), model)

    def _prefix(self, model: str) -> str:
        # Different models have different valid choices; Optuna needs one distribution per name.
        return f"{model}/" if len(self.models) > 1 and not self.policy_kind.shared else ""

    def suggest(self, trial: optuna.Trial, resolution: int) -> tuple[str, Policy]:
        """Sample a model and a policy for ``trial``."""
        model = (
            self.models[0]
            if len(self.models) == 1
            else str(trial.suggest_categorical("model", list(self.models)))
        )
        kind = self.policy_kind
        choices = self.choices(model, resolution)
        if kind.shared:
            # One distribution for the shared parameter, whichever model is drawn.
            choices = self.grid(resolution)[kind.parameter]
        return model, kind.suggest(trial, self._prefix(model), self, choices)

    def grid(self, resolution: int) -> dict[str, list[Any]]:
        """The search space as a GridSampler wants it; an error where it is not a finite grid."""
        grid: dict[str, list[Any]] = {}
        for model in self.models:
            choices = self.choices(model, resolution)
            params = self.policy_kind.grid(self._prefix(model), choices, self, model)
            for key, values in params.items():
                # A shared parameter keeps only the values that fit every model.
                grid[key] = [v for v in grid.get(key, values) if v in values]
        if len(self.models) > 1:
            grid = {"model": list(self.models), **grid}
        return grid


def list_spaces() -> list[str]:
    """Names of the shipped spaces."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.toml"))


def space_path(name_or_path: str) -> Path:
    """The file of a shipped space name, or the given path to a user's file."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        check_path(name_or_path, "search space")  # a name too long fails the look-ups
        path = Path(name_or_path)
        if path.is_dir():
            raise GsearchError(f"search space {name_or_path} is a folder, not a .toml file")
        if not path.is_file():
            raise GsearchError(f"search space file {name_or_path} does not exist")
        return path
    path = SPACES_DIR / f"{name_or_path}.toml"
    if name_or_path not in list_spaces():  # not is_file(): a 300-byte name would raise
        raise GsearchError(
            f"unknown search space {name_or_path!r}: known spaces are "
            f"{', '.join(list_spaces())}, or pass the path of a .toml file"
        )
    return path


def load_space(name_or_path: str) -> SearchSpace:
    """Read and validate a search space; every mistake is one line naming file and key."""
    path = space_path(name_or_path)
    where = f"search space {path.name}"
    size = path.stat().st_size
    if size > MAX_SPACE_FILE_BYTES:
        raise GsearchError(
            f"{where} is {size:,} bytes: at most {MAX_SPACE_FILE_BYTES:,} (a space lists "
            f"at most {MAX_LIST_VALUES:,} values under a key)"
        )
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise GsearchError(f"{where} is not valid TOML: {error}") from None
    known = {"description", "models", "epf_batch_sizes", "epf_resolution", "pass", "policy"}
    known.add("defaults")
    _no_unknown_keys(raw, known, where)
    models = _str_list(raw.get("models"), f"{where}: models")
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        raise GsearchError(
            f"{where}: unknown model {unknown[0]!r} in models; known models are "
            f"{', '.join(list_models())}"
        )
    batches = _int_list(raw.get("epf_batch_sizes", [16]), f"{where}: epf_batch_sizes")
    for index, batch in enumerate(batches):
        if batch > MAX_BATCH:
            raise GsearchError(
                f"{where}: epf_batch_sizes[{index}] must be at most {MAX_BATCH} frames "
                f"(a larger step exceeds the device's memory), got {batch}"
            )
    epf_resolution = raw.get("epf_resolution")
    whole = isinstance(epf_resolution, int) and not isinstance(epf_resolution, bool)
    if epf_resolution is not None and not (whole and 8 <= epf_resolution <= MAX_RESOLUTION_PX):
        raise GsearchError(
            f"{where}: epf_resolution must be an integer from 8 to {MAX_RESOLUTION_PX} "
            f"pixels, got {epf_resolution!r}"
        )
    epf_pass = raw.get("pass")
    if epf_pass not in (None, "training", "inference"):
        raise GsearchError(f"{where}: pass must be training or inference, got {epf_pass!r}")
    policy = raw.get("policy")
    if not isinstance(policy, dict):
        raise GsearchError(f"{where}: a [policy] table with kind = one of {', '.join(KINDS)}")
    kind = policy.get("kind")
    if kind not in KINDS:
        raise GsearchError(f"{where}: policy.kind is {kind!r}; allowed: {', '.join(KINDS)}")
    settings = POLICY_KINDS[kind].read_toml(policy, where)  # values, or beta and gamma
    defaults = _defaults(raw.get("defaults", {}), where)
    space = SearchSpace(
        name=path.stem,
        description=str(raw.get("description", "")),
        models=tuple(models),
        epf_batch_sizes=tuple(batches),
        kind=kind,
        **settings,
        defaults=defaults,
        path=path,
        epf_resolution=epf_resolution,
        epf_pass=epf_pass,
    )
    for model in models:  # fail now, not in the middle of a study
        space.choices(model, 224)
    return space


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
