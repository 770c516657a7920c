"""g per layer predicted from this device's calibration (``tradeoff=0.3``; ``calibrated``).

The search space of "g predicted per layer" on the user's own device: the sampler
draws a trade-off weight w, and every grouped layer takes the g that minimises

    predicted_epf(layer, g) / E0  +  w * params(layer, g) / P0,

where ``predicted_epf`` is the layer's cost measured alone by ``gsearch calibrate`` and
E0, P0 are the network's least possible sums (so w weighs the two on one scale). The
sum over layers is separable, so the per-layer choice is the network's optimum for that
w. w near 0 picks the cheapest kernels whatever their size; a large w the fewest
parameters. The paper's Eq. 2 stays available as its own space (``paper_eq2``).

A drawn policy is unbound (it knows w only); the search binds it to the calibration
(:meth:`Calibrated.bind`) and records the network as one G per layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec, valid_groups
from gsearch.policies._kind import Policy, format_number, no_unknown_keys, number_range
from gsearch.policies.per_layer import PerLayer

DEFAULT_TRADEOFF = (1e-2, 1e2)
# (layer index, g) -> the layer's predicted cost alone, or None where not calibrated.
LayerCost = Callable[[int, int], float | None]


@dataclass(frozen=True)
class Calibrated:
    """Per layer, the g of least predicted cost + ``weight`` x params (see module docs)."""

    weight: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise GsearchError(f"tradeoff must be a finite number >= 0, got {self.weight}")

    def groups(self, layers: Sequence[LayerSpec]) -> list[int]:
        raise GsearchError(
            f"policy {self} chooses g from a calibration of this device: search it with "
            "the calibrated space after `gsearch calibrate`"
        )

    def choose(self, layers: Sequence[LayerSpec], cost: LayerCost) -> list[int]:
        """One g per layer: the least ``cost / E0 + weight * params / P0``."""
        options = []
        for index, layer in enumerate(layers):
            priced = [(g, cost(index, g), _params(layer, g)) for g in valid_groups(layer)]
            known = [(g, c, p) for g, c, p in priced if c is not None]
            if not known:
                raise GsearchError(
                    f"the calibration has no entry for layer {layer.name}: calibrate with "
                    "--space naming the calibrated space"
                )
            options.append(known)
        least_cost = sum(min(c for _, c, _ in layer) for layer in options) or 1.0
        least_params = sum(min(p for _, _, p in layer) for layer in options) or 1.0
        return [
            min(layer, key=lambda o: o[1] / least_cost + self.weight * o[2] / least_params)[0]
            for layer in options
        ]

    def bind(self, layers: Sequence[LayerSpec], cost: LayerCost) -> PerLayer:
        """The network this weight picks, as one group size G = m / g per layer."""
        chosen = self.choose(layers, cost)
        return PerLayer(
            tuple(layer.in_channels // g for layer, g in zip(layers, chosen, strict=True))
        )

    def __str__(self) -> str:
        return f"tradeoff={format_number(self.weight)}"


def _params(layer: LayerSpec, g: int) -> float:
    return layer.in_channels * layer.out_channels * layer.kernel**2 / g


class CalibratedKind:
    name = "calibrated"
    key: str | None = "tradeoff"
    form = "tradeoff=<float>"
    parameter = "tradeoff"
    shared = False

    def parse(self, value: str) -> Policy:
        return Calibrated(float(value))

    def read_toml(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        no_unknown_keys(table, {"kind", "tradeoff"}, f"{where}: [policy]")
        low, high = number_range(
            table.get("tradeoff", list(DEFAULT_TRADEOFF)), f"{where}: policy.tradeoff", 0.0, 1e12
        )
        if low <= 0:
            raise GsearchError(f"{where}: policy.tradeoff must be > 0 (a log range), got {low}")
        return {"tradeoff": (low, high)}

    def choices(self, space: Any, specs: Sequence[LayerSpec], model: str) -> list[Any]:
        return []  # continuous, and every layer's g comes from the calibration

    def suggest(self, trial: optuna.Trial, prefix: str, space: Any, choices: list[Any]) -> Policy:
        return Calibrated(trial.suggest_float(prefix + "tradeoff", *space.tradeoff, log=True))

    def grid(self, prefix: str, choices: list[Any], space: Any, model: str) -> dict[str, list[Any]]:
        raise GsearchError(
            f"sampler grid needs a finite space; space {space.name} searches a continuous "
            "trade-off: use nsga2, tpe, gp or random"
        )

    def policy_strings(self, choices: list[Any]) -> list[str] | None:
        return None


KIND = CalibratedKind()
