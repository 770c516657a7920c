"""A study pins everything that changes its numbers; a differing rerun is refused, unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from gsearch.cli import main
from gsearch.errors import GsearchError
from gsearch.search import ATTR_PREFIX, RunConfig, run_search
from tests.search.conftest import SPACE, MakeConfig


def snapshot(db: Path) -> tuple[str, list[Any], dict[str, Any]]:
    """The file's bytes, and every trial and attribute of study ``t``."""
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{db}")
    trials = [(t.number, t.state, t.values, t.user_attrs) for t in study.trials]
    return digest, trials, study._storage.get_study_system_attrs(study._study_id)


@pytest.mark.parametrize(
    ("first", "second", "setting"),
    [
        ({"recipe_overrides": {"epochs": 1, "batch_size": 32}},
         {"recipe_overrides": {"epochs": 2, "batch_size": 32}}, "recipe.epochs = 1"),
        ({}, {"energy_budget": 1e9}, "energy_budget = none"),
        ({}, {"seeds": (0, 1)}, r"recipe.seeds = \[0\]"),
        ({}, {"seed": 3}, "seed = 0"),
        ({}, {"epf_resolution": 64}, "epf_resolution = 32"),
        ({}, {"precision": "bf16"}, "precision = 'fp32'"),
        ({}, {"pass_": "inference"}, "pass = 'training'"),
        ({}, {"models": ()}, None),  # the same models, spelt as "all of the space's": accepted
    ],
)  # fmt: skip
def test_a_rerun_that_differs_in_a_pinned_setting_is_refused_and_writes_nothing(
    config: MakeConfig, tmp_path: Path, first: dict[str, Any], second: dict[str, Any],
    setting: str | None,
) -> None:  # fmt: skip
    run_search(config(trials=1, **first))
    before = snapshot(tmp_path / "s.db")
    if setting is None:
        run_search(config(trials=1, **first, **second))
        return
    with pytest.raises(GsearchError, match=f"was run with {setting}; this run has"):
        run_search(config(trials=2, **second))
    assert snapshot(tmp_path / "s.db") == before


def test_the_cli_refusal_is_one_line_exit_2(
    config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "tiny.toml"
    common = ["run", "--space", str(space), "--dataset", "synthetic", "--study", "t",
              "--storage", f"sqlite:///{tmp_path}/s.db", "--energy", "model", "--trials", "1",
              "--quiet", "--recipe", "batch_size=32"]  # fmt: skip
    config()  # writes the space file
    assert main([*common, "--recipe", "epochs=1"]) == 0
    before = snapshot(tmp_path / "s.db")
    capsys.readouterr()
    assert main([*common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "recipe.epochs = 1; this run has recipe.epochs = 9" in err[0]
    assert snapshot(tmp_path / "s.db") == before


def test_a_study_made_by_another_program_is_refused_untouched(
    config: MakeConfig, tmp_path: Path
) -> None:
    other = optuna.create_study(study_name="t", storage=f"sqlite:///{tmp_path}/s.db")
    other.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    before = snapshot(tmp_path / "s.db")
    with pytest.raises(GsearchError, match="not made by gsearch.*2 trials"):
        run_search(config(trials=1))
    assert snapshot(tmp_path / "s.db") == before


def test_seeds_reach_the_training_and_top1_is_their_median(
    config: MakeConfig, tmp_path: Path
) -> None:
    space = tmp_path / "tiny.toml"
    config()
    assert main(["run", "--space", str(space), "--dataset", "synthetic", "--study", "t",
                 "--storage", f"sqlite:///{tmp_path}/s.db", "--energy", "model", "--trials", "1",
                 "--quiet", "--seeds", "0,1,2", "--recipe", "epochs=1",
                 "--recipe", "batch_size=32"]) == 0  # fmt: skip
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path}/s.db")
    (trial,) = study.get_trials(states=(TrialState.COMPLETE,))
    tops = trial.user_attrs["top1_seeds"]
    assert len(tops) == 3 and len(set(trial.user_attrs["train_seeds"])) == 3
    assert trial.values[1] == sorted(tops)[1]
    assert trial.user_attrs["top1_spread"] == max(tops) - min(tops)


def test_a_worker_elsewhere_trains_an_architecture_to_the_same_top1(
    config: MakeConfig, tmp_path: Path
) -> None:
    space = SPACE.replace("[1, 2, 4, 8]", "[1]")
    one = run_search(config(tmp_path / "a", trials=1, worker_index=0, space_text=space))
    other = run_search(config(tmp_path / "b", trials=1, worker_index=5, sampler="random",
                              space_text=space))  # fmt: skip
    (a,), (b,) = one.study.trials, other.study.trials
    assert a.user_attrs["train_seeds"] == b.user_attrs["train_seeds"]
    assert a.values == b.values


def test_run_config_travels_to_workers_as_json(config: MakeConfig) -> None:
    made = config(seeds=(0, 1), recipe_overrides={"epochs": 1, "seeds": (3, 4)})
    again = RunConfig.from_json(made.to_json(), worker_index=2)
    assert again.worker_index == 2
    assert again.recipe("proxy") == made.recipe("proxy")
    assert again.space.name == made.space.name and again.epf_protocol == made.epf_protocol


def test_pins_are_recorded(config: MakeConfig, tmp_path: Path) -> None:
    result = run_search(config(trials=1, energy_budget=1e12))
    attrs = result.study._storage.get_study_system_attrs(result.study._study_id)
    for key in ("space", "models", "dataset", "fidelity", "recipe", "seed", "energy_source",
                "device", "epf_batch_sizes", "epf_resolution", "precision", "protocol",
                "energy_budget"):  # fmt: skip
        assert ATTR_PREFIX + key in attrs, key
    assert attrs[ATTR_PREFIX + "protocol"]["version"] >= 2
    assert attrs[ATTR_PREFIX + "recipe"]["epochs"] == 1
    assert attrs[ATTR_PREFIX + "recipe"]["channels_last"] is True  # the CPU's layout, pinned


def test_the_cpu_trains_channels_last_unless_told_otherwise(config: MakeConfig) -> None:
    assert config().recipe("proxy").channels_last and config().recipe("full").channels_last
    told = config(recipe_overrides={"channels_last": False})
    assert not told.recipe("proxy").channels_last
    assert not config(device="cuda").recipe("proxy").channels_last  # unmeasured there


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random", "grid"])
def test_the_largest_seed_the_cli_accepts_reaches_every_sampler(
    config: MakeConfig, sampler: str
) -> None:
    # seed * 1000 once overflowed numpy's 2**32 from --seed 4294968 on, after the meter opened.
    result = run_search(config(trials=1, seed=2**32 - 1, sampler=sampler, worker_index=3))
    assert [t.state for t in result.study.trials] == [TrialState.COMPLETE]


def _facts_with(monkeypatch: pytest.MonkeyPatch, **changed: Any) -> None:
    """The device facts every session reports from now on, with ``changed`` on top."""
    import gsearch.energy.epf as epf

    real = epf.device_facts
    monkeypatch.setattr(epf, "device_facts", lambda *a, **k: {**real(*a, **k), **changed})


@pytest.mark.parametrize(
    ("changed", "setting", "shown"),
    [
        ({"fact": ("torch", "9.9.9")}, "device_identity.torch", "'9.9.9'"),
        ({"fact": ("cuda", "99.9")}, "device_identity.cuda", "'99.9'"),
        ({"fact": ("cudnn", 99999)}, "device_identity.cudnn", "99999"),
        ({"fact": ("driver", "999.1")}, "device_identity.driver", "'999.1'"),
        ({"fact": ("power_limit_w", 250.0)}, "device_identity.power_limit_w", "250"),
        ({"fact": ("threads", 7)}, "device_identity.threads", "7"),
        ({"fact": ("gpu_uuid", "GPU-other")}, "board_of_worker_0", "'GPU-other'"),
        ({"data_root": "elsewhere"}, "data_root", "'/"),
        ({"space_text": SPACE.replace("[1, 2, 4, 8]", "[1, 2, 4]")}, "space_definition.values",
         r"\[1, 2, 4\]"),
    ],
)  # fmt: skip
def test_a_rerun_on_other_hardware_software_data_or_space_file_is_refused(
    config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    changed: dict[str, Any], setting: str, shown: str,
) -> None:  # fmt: skip
    run_search(config(trials=1))
    before = snapshot(tmp_path / "s.db")
    if "fact" in changed:
        key, value = changed.pop("fact")
        _facts_with(monkeypatch, **{key: value})
    pattern = f"was run with {setting} = .*; this run has {setting} = {shown}"
    with pytest.raises(GsearchError, match=pattern):
        run_search(config(trials=2, **changed))
    assert snapshot(tmp_path / "s.db") == before


def test_each_worker_keeps_its_own_board(
    config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _facts_with(monkeypatch, gpu_uuid="GPU-a")
    run_search(config(trials=1))
    _facts_with(monkeypatch, gpu_uuid="GPU-b")
    run_search(config(trials=2, worker_index=1))  # another worker on another board: fine
    with pytest.raises(GsearchError, match="board_of_worker_0 = 'GPU-a'; this run has"):
        run_search(config(trials=3))  # worker 0 moved to worker 1's board
