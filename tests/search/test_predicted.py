"""A study on predicted EPF: from the calibration, labelled as predicted, never mixed."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from gsearch.calibration_plan import calibration_target
from gsearch.energy import EpfProtocol, open_session
from gsearch.energy.calibrate import calibrate
from gsearch.energy.steps import StepConfig
from gsearch.errors import GsearchError
from gsearch.search import run_search
from gsearch.spaces import load_space
from tests.search.conftest import SPACE, MakeConfig

PREDICTED_SPACE = SPACE.replace("epf_batch_sizes = [4, 8]", "epf_batch_sizes = [2]")


def calibrate_tiny(tmp_path: Path) -> None:
    """A quick time-meter calibration of the test space, where the runs look for it."""
    space = load_space(str(tmp_path / "tiny.toml"))
    target = calibration_target("tiny_convnet", space, resolution=32, num_classes=10)
    quick = EpfProtocol(repeats=2, window_s=0.02, warmup_s=0.0, idle_s=0.01)
    with open_session("cpu", "time") as session:
        calibrate(session, target, StepConfig(batch=2, resolution=32, num_classes=10), quick,
                  directory=tmp_path / "cache")  # fmt: skip


def test_predicted_without_a_calibration_names_the_command_and_writes_nothing(
    config: MakeConfig, tmp_path: Path
) -> None:
    with pytest.raises(GsearchError, match="gsearch calibrate --model tiny_convnet"):
        run_search(config(energy="predicted", space_text=PREDICTED_SPACE))
    assert not (tmp_path / "s.db").exists()


@pytest.mark.slow
def test_a_study_of_predictions_is_labelled_predicted(config: MakeConfig, tmp_path: Path) -> None:
    made = config(energy="predicted", space_text=PREDICTED_SPACE, trials=2, sampler="random")
    calibrate_tiny(tmp_path)
    result = run_search(made)
    assert result.study.metric_names == ["predicted_ms_per_frame", "top1", "params_m"]
    for trial in result.study.trials:
        assert trial.user_attrs["energy_source"] == "predicted-time"
        assert trial.values[0] > 0
    # A measured run is refused on that study: sources are never mixed.
    with pytest.raises(GsearchError, match="energy_source = 'predicted-time'"):
        run_search(config(energy="time", space_text=PREDICTED_SPACE, trials=3))
    assert len(optuna.load_study(study_name="t", storage=made.storage).trials) == 2


CALIBRATED_SPACE = PREDICTED_SPACE.replace('kind = "group_size"\nvalues = [1, 2, 4, 8]',
                                           'kind = "calibrated"').replace(
    'sampler = "grid"', 'sampler = "random"')  # fmt: skip


def test_the_trade_off_picks_cheap_kernels_at_zero_and_few_params_when_large() -> None:
    from gsearch.models import layer_specs
    from gsearch.policies import Calibrated

    specs = layer_specs("tiny_convnet", 32)

    def cost(index: int, g: int) -> float:  # depthwise is the cheapest kernel here
        return 1.0 + 0.1 * (specs[index].in_channels // g)

    cheapest = Calibrated(0.0).choose(specs, cost)
    assert cheapest == [s.in_channels for s in specs]  # g = m: depthwise
    assert Calibrated(1e6).choose(specs, cost) == cheapest  # depthwise has fewest params too

    def costly_depthwise(index: int, g: int) -> float:
        return 10.0 if g == specs[index].in_channels else 1.0

    assert Calibrated(0.0).choose(specs, costly_depthwise) != cheapest
    assert Calibrated(1e6).choose(specs, costly_depthwise) == cheapest
    assert str(Calibrated(0.5).bind(specs, cost)).startswith("layers=")


def test_the_calibrated_space_without_a_calibration_names_the_command(
    config: MakeConfig, tmp_path: Path
) -> None:
    with pytest.raises(GsearchError, match="gsearch calibrate --model tiny_convnet"):
        run_search(config(energy="model", space_text=CALIBRATED_SPACE, sampler="random"))
    assert not (tmp_path / "s.db").exists()


@pytest.mark.slow
def test_the_calibrated_space_picks_each_layers_g_from_the_calibration(
    config: MakeConfig, tmp_path: Path
) -> None:
    made = config(energy="model", space_text=CALIBRATED_SPACE, trials=3, sampler="random")
    calibrate_tiny(tmp_path)
    result = run_search(made)
    for trial in result.study.trials:
        assert trial.user_attrs["drawn_policy"].startswith("tradeoff=")
        assert trial.user_attrs["policy"].startswith("layers=")
        assert "tradeoff" in trial.params
