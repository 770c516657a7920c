"""Every shipped space runs: one trial of each on synthetic data, measured with the time meter
(what a machine without an energy counter gets), with a short protocol."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from gsearch.search import RunConfig, run_search
from gsearch.spaces import list_spaces, load_space
from tests.search.conftest import QUICK

SHIPPED = list_spaces()


def _calibrate(space_name: str, model: str, batch: int, resolution: int, cache: Path) -> None:
    """What the predicted space asks for first (`gsearch calibrate ... --space predicted`)."""
    from gsearch.calibration_plan import calibration_target
    from gsearch.energy.calibrate import calibrate
    from gsearch.energy.epf import open_session
    from gsearch.energy.steps import StepConfig

    target = calibration_target(
        model, load_space(space_name), resolution=resolution, num_classes=10
    )
    with open_session("cpu", "time") as session:
        calibrate(session, target, StepConfig(batch=batch, resolution=resolution), QUICK,
                  directory=cache)  # fmt: skip


def test_every_shipped_space_is_tested() -> None:
    assert {"e2gc", "fggc", "paper", "paper_eq2", "per_layer", "predicted"} <= set(SHIPPED)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_space_runs_one_trial(name: str, tmp_path: Path) -> None:
    space = load_space(name)
    model = space.models[0]  # one network per space keeps this under a minute each
    config = RunConfig(
        space=space,
        study=name,
        storage=f"sqlite:///{tmp_path}/s.db",
        models=(model,),
        dataset="synthetic",
        trials=1,
        energy="time",
        epf_protocol=QUICK,
        checkpoint_root=tmp_path / "ckpt",
        cache_dir=tmp_path / "cache",
        recipe_overrides={"epochs": 1, "batch_size": 32},
        quiet=True,
    )
    if space.kind == "calibrated":
        _calibrate(name, model, space.epf_batch_sizes[0], config.measured_resolution,
                   tmp_path / "cache")  # fmt: skip
    result = run_search(config)
    (trial,) = result.study.trials
    assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("failure")
    assert trial.user_attrs["energy_source"] == "time"
    assert trial.user_attrs["epf_resolution"] == config.measured_resolution
    assert [t.number for t in result.front] == [0]
