"""EPF of any group policy from a calibration measured on this device (``--energy predicted``).

A policy only changes the grouped layers, so a network's EPF is what those layers cost
plus what the rest of it costs. Three ways to combine a calibration's measurements:

* ``sum``: rest + sum over grouped layers, the rest measured with stand-ins of no cost
  in place of the grouped layers;
* ``anchor``: the anchor network measured whole, plus each grouped layer's change from
  the anchor's g (differences of layers measured alone);
* ``scaled``: rest + c * sum over grouped layers, where c = (anchor - rest) / (the
  anchor's grouped layers alone) says how much a layer costs inside its network
  compared with alone (caches are warmer or colder, kernels overlap or not).

``anchor`` is exact at the anchor and keeps its error to the layers that changed;
``scaled`` is exact at the anchor and at the rest. Which is closest to measured whole
networks is a question for measurement: ``benchmarks/predictor_accuracy.py`` measures
all three (BENCHMARKS.md, "Predictor accuracy"). :data:`DEFAULT_FORMULATION` is ``sum``:
it had the lowest MAPE in every run so far (cpu-2c: 29.0% against 28.3-41.2% at B=2,
13.0% against 17.7-20.6% in the dry run; tau tied), and it can never predict a
non-positive EPF, which ``scaled`` does when noise puts the anchor below the rest.
The GPU run of ``benchmarks/gpu_check.sh`` decides it on NVML.

A prediction is labelled ``predicted`` (its source is ``predicted-<meter>``) and is
never mixed with measured values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gsearch.energy.calibrate import ANCHOR, REST, Calibration, LayerShape
from gsearch.errors import GsearchError

SUM = "sum"
ANCHORED = "anchor"
SCALED = "scaled"
FORMULATIONS = (SUM, ANCHORED, SCALED)
DEFAULT_FORMULATION = SUM
# The energy source that names a prediction (``--energy predicted``): never a meter.
PREDICTED = "predicted"


@dataclass(frozen=True)
class Prediction:
    """Predicted EPF of one network.

    Attributes:
        epf: Predicted EPF per frame, in ``unit``.
        unit: ``mJ`` or ``ms`` (the calibration's).
        source: ``predicted-<meter>``, e.g. ``predicted-nvml``: never a measured source.
        formulation: ``sum``, ``anchor`` or ``scaled``.
        layer_epf: Each grouped layer's own cost alone, in order, in ``unit`` per frame.
        layer_share: Each grouped layer's share of ``epf`` under the formulation.
    """

    epf: float
    unit: str
    source: str
    formulation: str
    layer_epf: tuple[float, ...]
    layer_share: tuple[float, ...]


def _layer_epf(calibration: Calibration, layers: Sequence[LayerShape]) -> list[float]:
    values = []
    for layer in layers:
        value = calibration.epf(layer.key)
        if value is None:
            raise GsearchError(
                f"the calibration of {calibration.model} ({calibration.path}) has no entry "
                f"for layer {layer.key}: calibrate with --space naming the space searched"
            )
        values.append(value)
    return values


def _network(calibration: Calibration, name: str, formulation: str) -> float:
    value = calibration.network_epf(name)
    if value is None:
        raise GsearchError(
            f"the calibration of {calibration.model} ({calibration.path}) did not measure "
            f"the {name} network, which formulation {formulation!r} needs"
        )
    return value


def layer_scale(calibration: Calibration) -> float:
    """c of the ``scaled`` formulation: a grouped layer's cost in its network over alone."""
    rest = _network(calibration, REST, SCALED)
    anchor = _network(calibration, ANCHOR, SCALED)
    alone = 0.0
    for key in calibration.anchor_layers:
        value = calibration.epf(key)
        if value is None:
            raise GsearchError(f"calibration {calibration.path} misses anchor layer {key}")
        alone += value
    if alone <= 0:
        raise GsearchError(f"calibration {calibration.path} has no grouped-layer cost")
    return (anchor - rest) / alone


def predict_epf(
    calibration: Calibration,
    layers: Sequence[LayerShape],
    formulation: str = DEFAULT_FORMULATION,
) -> Prediction:
    """Predicted EPF of the network whose grouped layers are ``layers`` (in order, with g).

    Raises:
        GsearchError: a layer the calibration did not measure, a network the
            formulation needs that was not measured, or an unknown formulation.
    """
    if formulation not in FORMULATIONS:
        raise GsearchError(f"unknown formulation {formulation!r}: choose {', '.join(FORMULATIONS)}")
    if len(layers) != len(calibration.anchor_layers):
        raise GsearchError(
            f"the calibration of {calibration.model} has {len(calibration.anchor_layers)} "
            f"grouped layers, the network predicted has {len(layers)}"
        )
    alone = _layer_epf(calibration, layers)
    if formulation == SUM:
        inside = alone
        total = _network(calibration, REST, formulation) + sum(inside)
    elif formulation == SCALED:
        scale = layer_scale(calibration)
        inside = [scale * value for value in alone]
        total = _network(calibration, REST, formulation) + sum(inside)
    else:
        anchor_alone = [calibration.epf(key) or 0.0 for key in calibration.anchor_layers]
        inside = alone  # shares: each layer's own cost
        total = _network(calibration, ANCHOR, formulation) + sum(alone) - sum(anchor_alone)
    if total <= 0:
        raise GsearchError(
            f"the calibration of {calibration.model} predicts a non-positive EPF "
            f"({total:.4g} {calibration.unit}) under {formulation!r}: recalibrate"
        )
    return Prediction(
        epf=total,
        unit=calibration.unit,
        source=f"predicted-{calibration.source}",
        formulation=formulation,
        layer_epf=tuple(alone),
        layer_share=tuple(value / total for value in inside),
    )
