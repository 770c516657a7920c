from __future__ import annotations

import ast
from pathlib import Path

import optuna
import pytest

from gsearch.errors import GsearchError
from gsearch.models import layer_specs
from gsearch.policies import KINDS, CostModel, PerLayer, parse_policy
from gsearch.spaces import KINDS as SPACE_KINDS

MOBILENET = layer_specs("mobilenet_v1", 32)


class _Space:
    """What a kind reads of a search space."""

    def __init__(self, values: tuple[object, ...] = (), name: str = "s") -> None:
        self.values, self.name, self.label = values, name, f"search space {name}.toml"
        self.beta, self.gamma = (0.1, 0.9), (1e3, 1e6)


def test_every_space_kind_is_a_module_of_the_registry() -> None:
    assert SPACE_KINDS == ("group_size", "groups", "cost_model", "per_layer", "list", "calibrated")
    assert [kind.name for kind in KINDS.values()] == list(SPACE_KINDS)
    for kind in KINDS.values():
        if kind.key is not None:
            assert kind.form.startswith(kind.key + "=")


@pytest.mark.parametrize(
    ("name", "values", "fitting"),
    [("group_size", (1, 3, 8), [1, 8]), ("groups", (2, 3, 32), [2, 32]),
     ("list", ("G=8", "g=3", "g=2"), ["G=8", "g=2"])],
)  # fmt: skip
def test_values_that_fit_suggest_and_grid(name: str, values: tuple, fitting: list) -> None:
    kind = KINDS[name]
    space = _Space(values)
    assert kind.choices(space, MOBILENET, "mobilenet_v1") == fitting
    assert kind.grid("m/", fitting, space, "mobilenet_v1") == {"m/" + kind.parameter: fitting}
    trial = optuna.trial.FixedTrial({"m/" + kind.parameter: fitting[-1]})
    policy = kind.suggest(trial, "m/", space, fitting)  # type: ignore[arg-type]
    assert str(policy) == (fitting[-1] if name == "list" else f"{kind.key}={fitting[-1]}")
    misfit = ("g=3",) if name == "list" else (3,)
    with pytest.raises(
        GsearchError, match=r"search space s.toml: none of \[.*3.*\] fits mobilenet"
    ):
        kind.choices(_Space(misfit), MOBILENET, "mobilenet_v1")


def test_per_layer_lists_values_per_layer_and_names_one_parameter_each() -> None:
    kind = KINDS["per_layer"]
    choices = kind.choices(_Space((1, 3, 2048)), MOBILENET, "mobilenet_v1")
    assert len(choices) == len(MOBILENET) and all(1 in layer for layer in choices)
    grid = kind.grid("", choices, _Space(), "mobilenet_v1")
    assert list(grid)[:2] == ["G_00", "G_01"]
    trial = optuna.trial.FixedTrial({key: values[0] for key, values in grid.items()})
    assert kind.suggest(trial, "", _Space(), choices) == PerLayer((1,) * len(MOBILENET))  # type: ignore[arg-type]


def test_cost_model_reads_its_toml_ranges_and_has_no_grid() -> None:
    kind = KINDS["cost_model"]
    assert kind.read_toml({"kind": "cost_model", "beta": [0.2, 0.4]}, "w") == {
        "beta": (0.2, 0.4), "gamma": (1e2, 1e10),
    }  # fmt: skip
    with pytest.raises(
        GsearchError, match=r"w: \[policy\]: unknown key .values.; allowed: beta, gamma, kind"
    ):
        kind.read_toml({"kind": "cost_model", "values": [1]}, "w")
    trial = optuna.trial.FixedTrial({"beta": 0.5, "gamma": 1e4})
    assert kind.suggest(trial, "", _Space(), []) == CostModel(0.5, 1e4)  # type: ignore[arg-type]
    with pytest.raises(GsearchError, match="sampler grid needs a finite space"):
        kind.grid("", [], _Space(), "mobilenet_v1")


def test_string_forms_are_read_by_their_kind() -> None:
    for text in ("G=8", "g=32", "beta=0.5,gamma=1e4", "layers=1,2,4"):
        assert str(parse_policy(text)) == text
    with pytest.raises(GsearchError, match="malformed policy 'policy=G=8'"):
        parse_policy("policy=G=8")  # the list kind has no string form of its own


def test_the_cost_model_and_the_policies_do_not_import_each_other_at_run_time() -> None:
    source = Path(__file__).parents[1] / "gsearch" / "costmodel.py"
    runtime_imports = [
        node.module
        for node in ast.parse(source.read_text()).body
        if isinstance(node, ast.ImportFrom) and node.module
    ]
    assert not any(module.startswith("gsearch.polic") for module in runtime_imports)


def test_whole_policy_choices_print_as_policies() -> None:
    assert KINDS["group_size"].policy_strings([1, 8]) == ["G=1", "G=8"]
    assert KINDS["groups"].policy_strings([2]) == ["g=2"]
    assert KINDS["list"].policy_strings(["G=8", "g=2"]) == ["G=8", "g=2"]
    assert KINDS["per_layer"].policy_strings([[1, 2], [1]]) is None
    assert KINDS["cost_model"].policy_strings([]) is None
