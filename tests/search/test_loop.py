from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from gsearch.cli import main
from gsearch.errors import GsearchError
from gsearch.pareto import MAXIMISE, non_dominated, pareto_front, to_minimise
from gsearch.search import ATTR_PREFIX, load_study, run_search
from gsearch.search.trainer import RecipeTrainer
from tests.search.conftest import SPACE
from tests.search.conftest import make_config as config


def test_end_to_end_on_synthetic_data(tmp_path: Path) -> None:
    result = run_search(config(tmp_path))
    study = result.study
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 4
    assert sorted(t.user_attrs["policy"] for t in trials) == ["G=1", "G=2", "G=4", "G=8"]
    assert study.metric_names == ["epf_model", "top1", "params_m"]
    for trial in trials:
        attrs = trial.user_attrs
        for key in ("model", "policy", "macs", "ms_per_frame", "epf_low", "epf_high",
                    "energy_source", "fidelity", "dataset", "device_facts", "epf_b4", "epf_b8"):  # fmt: skip
            assert attrs.get(key) is not None, key
        assert attrs["energy_source"] == "model" and attrs["epf_unit"] == "model"
        assert trial.values[0] == attrs["epf_b4"]  # the first batch size is the objective
        assert attrs["epf_b8"] < attrs["epf_b4"]  # weights are reused across a bigger batch
    # Bigger groups, more params and MACs: the params objective follows the policy.
    by_policy = {t.user_attrs["policy"]: t for t in trials}
    assert by_policy["G=8"].values[2] > by_policy["G=1"].values[2]
    points = [to_minimise(t.values, MAXIMISE) for t in trials]
    assert {trials[i].number for i in non_dominated(points)} == {t.number for t in result.front}
    _, facts = load_study(f"sqlite:///{tmp_path}/s.db", "t")
    assert facts["energy_source"] == "model" and facts["fidelity"] == "proxy"
    assert facts["dataset"] == "synthetic" and facts["space"] == "tiny"
    # The report of a real study holds exactly its front.
    assert main(["report", "--study", "t", "--storage", f"sqlite:///{tmp_path}/s.db",
                 "--out", str(tmp_path / "report")]) == 0  # fmt: skip
    front = pd.read_csv(tmp_path / "report" / "pareto.csv")
    assert set(front["number"]) == {t.number for t in result.front}
    assert set(front["unit"]) == {"model"}


def test_end_to_end_on_digits(tmp_path: Path) -> None:
    result = run_search(config(tmp_path, dataset="digits", trials=2, sampler="random"))
    trials = result.study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 2
    assert all(t.user_attrs["dataset"] == "digits" and 0 <= t.values[1] <= 100 for t in trials)


def test_repeated_suggestion_reuses_the_earlier_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = RecipeTrainer.train

    def counting(self: RecipeTrainer, *args: Any) -> Any:
        calls.append(args[0])
        return original(self, *args)

    monkeypatch.setattr(RecipeTrainer, "train", counting)
    space = SPACE.replace("[1, 2, 4, 8]", "[2]")
    result = run_search(config(tmp_path, space_text=space, trials=3, sampler="random"))
    trials = result.study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 3 and len(calls) == 1
    assert [t.user_attrs.get("reused_from") for t in trials] == [None, 0, 0]
    assert len({tuple(t.values) for t in trials}) == 1
    assert [t.number for t in result.front] == [0]  # a reused copy is not a second point


def test_a_run_with_another_energy_source_or_fidelity_is_refused(tmp_path: Path) -> None:
    run_search(config(tmp_path, trials=1))
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/s.db")
    study_id = storage.get_study_id_from_name("t")
    storage.set_study_system_attr(study_id, ATTR_PREFIX + "energy_source", "nvml")
    with pytest.raises(
        GsearchError, match="run with energy_source = 'nvml'; this run has energy_source = 'model'"
    ):
        run_search(config(tmp_path, trials=2))
    with pytest.raises(GsearchError, match="fidelity = 'proxy'.*'full'.*not be comparable"):
        storage.set_study_system_attr(study_id, ATTR_PREFIX + "energy_source", "model")
        run_search(config(tmp_path, trials=2, fidelity="full"))


def test_interrupted_run_resumes_without_losing_a_finished_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = RecipeTrainer.train
    calls = []

    def interrupt_second(self: RecipeTrainer, *args: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(RecipeTrainer, "train", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        run_search(config(tmp_path))
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path}/s.db")
    first = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(first) == 1
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    monkeypatch.setattr(RecipeTrainer, "train", original)
    result = run_search(config(tmp_path))
    done = result.study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 4
    assert done[0].number == first[0].number and done[0].values == first[0].values
    assert sorted(t.user_attrs["policy"] for t in done) == ["G=1", "G=2", "G=4", "G=8"]


def test_energy_budget_records_but_never_trains_infeasible_trials(tmp_path: Path) -> None:
    probe = run_search(config(tmp_path / "probe", trials=4))
    epfs = sorted(t.values[0] for t in probe.study.get_trials(states=(TrialState.COMPLETE,)))
    budget = (epfs[1] + epfs[2]) / 2  # two policies fit, two do not
    result = run_search(config(tmp_path, energy_budget=budget))
    trials = result.study.get_trials(states=(TrialState.COMPLETE,))
    infeasible = [t for t in trials if t.constraints["epf_over_budget"] > 0]
    assert len(infeasible) == 2
    assert all(t.user_attrs["trained"] is False and t.values[1] == 0.0 for t in infeasible)
    assert all("train_s" not in t.user_attrs for t in infeasible)
    assert not {t.number for t in infeasible} & {t.number for t in pareto_front(result.study)}


def test_ladder_promotes_the_proxy_front_to_full_fidelity(tmp_path: Path) -> None:
    result = run_search(config(tmp_path, fidelity="ladder"))
    assert result.full_study is not None
    assert result.full_study.study_name == "t/full"
    proxy_front = {t.user_attrs["policy"] for t in pareto_front(result.study)}
    full_trials = result.full_study.get_trials(states=(TrialState.COMPLETE,))
    promoted = {t.user_attrs["policy"] for t in full_trials}
    assert proxy_front <= promoted
    assert all(t.user_attrs["fidelity"] == "full" for t in full_trials)
    assert all("promoted_from" in t.user_attrs for t in full_trials)


def test_bad_run_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(GsearchError, match="trials must be a positive integer, got -3"):
        config(tmp_path, trials=-3)
    with pytest.raises(GsearchError, match="unknown sampler 'cmaes'; allowed: nsga2, tpe"):
        config(tmp_path, sampler="cmaes")
    with pytest.raises(GsearchError, match="model 'resnext50' is not in search space tiny"):
        config(tmp_path, models=("resnext50",))


def test_ladder_promotes_ties_within_the_seed_spreads() -> None:
    from optuna.trial import create_trial

    from gsearch.search import ladder_promotions

    def trial(number: int, values: list[float], seeds: list[float]) -> optuna.trial.FrozenTrial:
        made = create_trial(values=values, user_attrs={"top1_seeds": seeds})
        made.number = number
        return made

    front = [trial(0, [10.0, 95.0, 3.0], [93.5, 95.0, 95.5]), trial(1, [8.0, 90.0, 3.0], [90.0])]
    tie = trial(2, [10.0, 94.0, 3.0], [93.9, 94.0, 94.1])  # reaches trial 0's lowest seed
    beaten = trial(3, [10.0, 92.0, 3.0], [91.9, 92.0, 92.1])  # below every seed: dominated
    promoted = ladder_promotions(front, [*front, tie, beaten])
    assert [t.number for t in promoted] == [0, 1, 2]


def _jpeg(path: Path, seed: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path, "JPEG")


def test_full_fidelity_on_an_imagenet_folder_with_a_corrupt_image(tmp_path: Path) -> None:
    root = tmp_path / "imagenet"
    for c, wnid in enumerate(("n01", "n02")):
        for i in range(6):
            _jpeg(root / "train" / wnid / f"{i}.JPEG", 10 * c + i)
        for i in range(2):
            _jpeg(root / "val" / wnid / f"v{i}.JPEG", 100 + 10 * c + i)
    (root / "train" / "n01" / "broken.JPEG").write_bytes(b"not a jpeg")
    overrides = {"epochs": 1, "batch_size": 4, "resolution": 32}
    common = {"dataset": "imagenet", "data_root": str(root), "fidelity": "full", "trials": 2,
              "sampler": "random", "recipe_overrides": overrides}  # fmt: skip
    with pytest.raises(GsearchError, match="broken.JPEG"):
        run_search(config(tmp_path / "strict", **common))
    result = run_search(config(tmp_path / "lenient", skip_corrupt=True, **common))
    trials = result.study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 2
    assert all(
        t.user_attrs["dataset"] == "imagenet" and t.user_attrs["fidelity"] == "full" for t in trials
    )


def test_a_run_opens_its_storage_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Preflight's check, the study, a ladder's second study and the front's record share
    # one opened storage: counted where Optuna's storage is built.
    import gsearch.storage

    built: list[str] = []
    real = gsearch.storage._HeartbeatTolerantStorage

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, url: str, **kwargs: Any) -> None:
            built.append(url)
            super().__init__(url, **kwargs)

    monkeypatch.setattr(gsearch.storage, "_HeartbeatTolerantStorage", Counted)
    (tmp_path / "tiny.toml").write_text(SPACE)
    url = f"sqlite:///{tmp_path}/s.db"
    run = ["run", "--space", "tiny.toml", "--energy", "model", "--quiet", "--storage", url,
           "--recipe", "epochs=1", "--recipe", "batch_size=32"]  # fmt: skip
    # A new database, created by the run itself; the ladder's two studies in it.
    assert main([*run, "--trials", "1", "--fidelity", "ladder", "--study", "l"]) == 0
    assert built == [url]
    study = optuna.load_study(study_name="l/full", storage=url)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 1
    # An existing database: opened by the check, then used.
    assert main(["worker", *run[1:], "--trials", "2", "--study", "l"]) == 0
    assert built == [url] * 2
