from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from gsearch.errors import GsearchError
from gsearch.policies import Calibrated, ConstantGroupSize, CostModel, PerLayer
from gsearch.spaces import list_spaces, load_space


def test_shipped_spaces_load() -> None:
    assert list_spaces() == ["e2gc", "fggc", "paper", "paper_eq2", "per_layer", "predicted"]
    for name in list_spaces():
        space = load_space(name)
        assert space.models and space.epf_batch_sizes


def test_e2gc_grid_keeps_the_values_that_fit() -> None:
    space = load_space("e2gc")
    assert space.grid(32) == {"G": [1, 2, 4, 8, 16, 32, 64]}
    assert space.choices("tiny_convnet", 32) == [1, 2, 4, 8, 16, 32, 64]


def test_paper_grid_spans_models_and_the_11_policies() -> None:
    grid = load_space("paper").grid(224)
    assert grid["model"] == ["mobilenet_v1", "resnext50"]
    assert len(grid["policy"]) == 11


def _suggest(name: str) -> list[object]:
    space = load_space(name)
    study = optuna.create_study(
        directions=["minimize"], sampler=optuna.samplers.RandomSampler(seed=1)
    )
    policies = []
    for _ in range(5):
        trial = study.ask()
        policies.append(space.suggest(trial, 32)[1])
        study.tell(trial, 0.0)
    return policies


def test_suggestions_are_policies_of_the_spaces_kind() -> None:
    assert all(isinstance(p, ConstantGroupSize) for p in _suggest("e2gc"))
    assert all(isinstance(p, CostModel) and 0.05 <= p.beta <= 1 for p in _suggest("paper_eq2"))
    assert all(isinstance(p, Calibrated) and 0.01 <= p.weight <= 100 for p in _suggest("predicted"))
    per_layer = _suggest("per_layer")
    assert all(isinstance(p, PerLayer) and len(p.group_sizes) == 13 for p in per_layer)


def test_grid_refuses_continuous_and_huge_spaces() -> None:
    for name in ("paper_eq2", "predicted"):
        with pytest.raises(GsearchError, match="finite space"):
            load_space(name).grid(32)
    with pytest.raises(GsearchError, match="96,889,010,407 settings"):
        load_space("per_layer").grid(32)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


GOOD = """
models = ["tiny_convnet"]
epf_batch_sizes = [4]
[policy]
kind = "group_size"
values = [1, 2, 4]
"""


def test_a_user_space_file_by_path(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, GOOD))
    assert space.name == "mine" and space.values == (1, 2, 4)
    assert space.defaults.dataset == "digits"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("[1, 2, 4]", "[1, 'x', 4]"), r"policy\.values\[1\] must be a positive integer, got 'x'"),
        (GOOD.replace("[1, 2, 4]", "[1, -2]"), r"policy\.values\[1\] must be a positive integer, got -2"),
        (GOOD.replace("[1, 2, 4]", "[3, 5]"), "none of \\[3, 5\\] fits tiny_convnet"),
        (GOOD.replace("group_size", "bogus"), "policy.kind is 'bogus'; allowed: group_size"),
        (GOOD.replace("tiny_convnet", "vgg"), "unknown model 'vgg' in models"),
        (GOOD.replace("[4]", "[0]"), r"epf_batch_sizes\[0\] must be a positive integer"),
        (GOOD + "\n[defaults]\nsampler = 'cmaes'\n", "defaults.sampler is 'cmaes'; allowed: nsga2"),
        (GOOD + "\n[defaults]\ntrials = -1\n", "defaults.trials must be a positive integer"),
        (GOOD + "\ncolour = 1\n", "unknown key 'colour'"),
        ("models = [", "is not valid TOML"),
        (GOOD.replace('kind = "group_size"\nvalues = [1, 2, 4]', 'kind = "cost_model"\nbeta = [0, 1]'),
         r"policy\.beta must lie in \(0, 1\]"),
        (GOOD.replace('kind = "group_size"\nvalues = [1, 2, 4]', 'kind = "list"\nvalues = ["G=1", "h=2"]'),
         r"policy\.values\[1\]: malformed policy 'h=2'"),
    ],
)  # fmt: skip
def test_invalid_space_files_name_file_key_and_allowed(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(GsearchError, match=message) as info:
        load_space(write(tmp_path, text))
    assert "mine.toml" in str(info.value)


def test_unknown_space_name_lists_the_known_ones() -> None:
    with pytest.raises(
        GsearchError, match="unknown search space 'e3gc': known spaces are e2gc, fggc"
    ):
        load_space("e3gc")
    with pytest.raises(GsearchError, match="does not exist"):
        load_space("nowhere/space.toml")
