"""A study on predicted EPF: from the calibration, labelled as predicted, never mixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from gsearch.calibration_plan import calibration_target, policy_layers
from gsearch.energy import open_session
from gsearch.energy.calibrate import calibrate
from gsearch.energy.steps import StepConfig
from gsearch.errors import GsearchError
from gsearch.search import run_search
from gsearch.spaces import load_space
from tests.energy.fake_calibration import write_calibration
from tests.search.conftest import QUICK, SPACE, MakeConfig

PREDICTED_SPACE = SPACE.replace("epf_batch_sizes = [4, 8]", "epf_batch_sizes = [2]")


def calibrate_tiny(tmp_path: Path, every_g: bool = False) -> None:
    """A quick calibration of the test space (or of every g), where the runs look for it:
    with the runs' own energy source and protocol, which are part of its key."""
    space = None if every_g else load_space(str(tmp_path / "tiny.toml"))
    target = calibration_target("tiny_convnet", space, resolution=32, num_classes=10)
    with open_session("cpu", "auto") as session:
        calibrate(session, target, StepConfig(batch=2, resolution=32, num_classes=10), QUICK,
                  directory=tmp_path / "cache")  # fmt: skip


def session_facts() -> tuple[dict[str, Any], str]:
    """The facts and source of the session a predicted run opens here (``auto``)."""
    with open_session("cpu", "auto") as session:
        return session.facts, session.source


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
    calibrate_tiny(tmp_path, every_g=True)  # the calibrated space can give a layer any g
    result = run_search(made)
    for trial in result.study.trials:
        assert trial.user_attrs["drawn_policy"].startswith("tradeoff=")
        assert trial.user_attrs["policy"].startswith("layers=")
        assert "tradeoff" in trial.params


def test_a_calibration_of_another_energy_source_is_refused_before_the_study(
    config: MakeConfig, tmp_path: Path
) -> None:
    made = config(energy="predicted", space_text=PREDICTED_SPACE)
    facts, source = session_facts()
    other = "rapl" if source == "time" else "time"
    write_calibration(tmp_path / "cache", facts, other, space=made.space, protocol=QUICK)
    with pytest.raises(GsearchError) as caught:
        run_search(made)
    message = str(caught.value)
    assert f"energy source {other}, not {source}" in message and "\n" not in message
    assert f"--energy {source}" in message  # the command that makes the right one
    assert not (tmp_path / "s.db").exists()


def test_a_calibration_missing_a_layer_of_the_space_is_refused_before_the_study(
    config: MakeConfig, tmp_path: Path
) -> None:
    made = config(energy="predicted", space_text=PREDICTED_SPACE)
    facts, source = session_facts()
    missing = policy_layers("tiny_convnet", "G=8", 32)[-1].key
    write_calibration(
        tmp_path / "cache", facts, source, space=made.space, protocol=QUICK, drop=[missing]
    )
    with pytest.raises(GsearchError) as caught:
        run_search(made)
    message = str(caught.value)
    assert "lacks 1 of the" in message and missing in message and "\n" not in message
    assert "gsearch calibrate --model tiny_convnet" in message
    assert f"--space {tmp_path / 'tiny.toml'}" in message
    assert not (tmp_path / "s.db").exists()


def test_a_calibration_narrower_than_the_calibrated_space_is_refused_before_the_study(
    config: MakeConfig, tmp_path: Path
) -> None:
    # calibrated for the G = 1, 2, 4, 8 space: the trade-off could give a layer other g
    facts, source = session_facts()
    narrow = load_space(str(config().space.path))
    made = config(energy="model", space_text=CALIBRATED_SPACE, sampler="random")
    write_calibration(tmp_path / "cache", facts, source, space=narrow)
    with pytest.raises(GsearchError, match="lacks .* grouped layers space tiny can produce"):
        run_search(made)
    assert not (tmp_path / "s.db").exists()
