"""One group size G per grouped layer (``layers=1,2,4,...``; space kind ``per_layer``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec, divisors, groups_for_group_size
from gsearch.policies._kind import MAX_GRID_POINTS, Policy, fits, int_list, no_unknown_keys


@dataclass(frozen=True)
class PerLayer:
    """One group size G per grouped layer, in the model's layer order."""

    group_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.group_sizes or any(size < 1 for size in self.group_sizes):
            raise GsearchError(f"per-layer group sizes must all be >= 1, got {self}")

    def groups(self, layers: Sequence[LayerSpec]) -> list[int]:
        if len(self.group_sizes) != len(layers):
            raise GsearchError(
                f"policy {self} gives {len(self.group_sizes)} group sizes "
                f"but the model has {len(layers)} grouped layers"
            )
        result = []
        for layer, size in zip(layers, self.group_sizes, strict=True):
            g = groups_for_group_size(layer, size)
            if g is None:
                allowed = [
                    d for d in divisors(layer.in_channels) if groups_for_group_size(layer, d)
                ]
                raise GsearchError(
                    f"policy {self} does not fit layer {layer.name} "
                    f"(m={layer.in_channels}, n={layer.out_channels}) with G={size}: "
                    f"valid G there are {', '.join(map(str, allowed))} (or any G >= m)"
                )
            result.append(g)
        return result

    def __str__(self) -> str:
        return "layers=" + ",".join(map(str, self.group_sizes))


def _parameter(prefix: str, index: int) -> str:
    return f"{prefix}G_{index:02d}"


class PerLayerKind:
    name = "per_layer"
    key: str | None = "layers"
    form = "layers=<int>,<int>,..."
    parameter = "G_<layer>"
    shared = False

    def parse(self, value: str) -> Policy:
        return PerLayer(tuple(int(part) for part in value.split(",")))

    def read_toml(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        no_unknown_keys(table, {"kind", "values"}, f"{where}: [policy]")
        return {"values": tuple(int_list(table.get("values"), f"{where}: policy.values"))}

    def choices(self, space: Any, specs: Sequence[LayerSpec], model: str) -> list[Any]:
        per_layer = [[v for v in space.values if fits(PerLayer((v,)), [s])] for s in specs]
        if any(not layer for layer in per_layer):
            raise GsearchError(f"search space {space.name}: no value fits every layer of {model}")
        return per_layer

    def suggest(self, trial: optuna.Trial, prefix: str, space: Any, choices: list[Any]) -> Policy:
        return PerLayer(
            tuple(
                int(trial.suggest_categorical(_parameter(prefix, index), layer))
                for index, layer in enumerate(choices)
            )
        )

    def grid(self, prefix: str, choices: list[Any], space: Any, model: str) -> dict[str, list[Any]]:
        points = math.prod(len(layer) for layer in choices)
        if points > MAX_GRID_POINTS:
            raise GsearchError(
                f"sampler grid: space {space.name} has {points:,} settings of {model} "
                f"(more than {MAX_GRID_POINTS:,}): use nsga2, tpe, gp or random"
            )
        return {_parameter(prefix, index): layer for index, layer in enumerate(choices)}

    def policy_strings(self, choices: list[Any]) -> list[str] | None:
        return None  # a choice is one layer's values, not a policy


KIND = PerLayerKind()
