"""The calibrated space's trade-off bound to this device's calibration (see
:mod:`gsearch.policies.calibrated`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gsearch.calibration_plan import check_coverage, policy_layers
from gsearch.energy import DEFAULT_CACHE_DIR
from gsearch.energy.calibrate import LayerShape, load_calibration
from gsearch.layers import LayerSpec
from gsearch.models import layer_specs
from gsearch.policies import Calibrated, Policy
from gsearch.policies.calibrated import LayerCost
from gsearch.search.config import RunConfig
from gsearch.search.probe import MeasuredEnergy


def _layer_cost(shapes: list[LayerShape], calibration: Any) -> LayerCost:
    def cost(index: int, g: int) -> float | None:
        value = calibration.epf(replace(shapes[index], groups=g).key)
        return None if value is None else float(value)

    return cost


def calibrated_binder(
    config: RunConfig, probe: MeasuredEnergy, num_classes: int | None = None
) -> Callable[[str, Policy], Policy]:
    """Binds the calibrated space's trade-off to this device's calibration, per model.

    Every calibration is loaded now, before the study is touched: a missing one, one of
    another energy source or step, or one without every g a layer can take (the choice
    would quietly narrow to the calibrated g) is one line naming the `gsearch calibrate`
    command to run.
    """
    resolution = config.measured_resolution
    directory = config.cache_dir if config.cache_dir is not None else DEFAULT_CACHE_DIR
    costs: dict[str, LayerCost] = {}
    specs: dict[str, list[LayerSpec]] = {}
    for model in config.search_models:
        calibration = load_calibration(
            directory,
            model,
            probe.session.facts,
            batch=probe.batches[0],
            resolution=resolution,
            precision=config.precision,
            pass_=config.epf_pass,
            source=probe.session.source,  # the Eq. 1 score (model) takes any measured one
            num_classes=num_classes,
        )
        check_coverage(calibration, model, config.searched_space, resolution=resolution)
        specs[model] = layer_specs(model, resolution)
        costs[model] = _layer_cost(policy_layers(model, None, resolution), calibration)

    def bind(model: str, policy: Policy) -> Policy:
        if isinstance(policy, Calibrated):
            return policy.bind(specs[model], costs[model])
        return policy

    return bind
