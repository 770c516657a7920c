"""E2GC: a constant group size G in every grouped layer (``G=8``; space kind ``group_size``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec, groups_for_group_size, valid_group_sizes
from gsearch.policies._kind import Policy, fits, int_list, no_unknown_keys


@dataclass(frozen=True)
class ConstantGroupSize:
    """E2GC: constant group size G, so g = m / G grows with the width (g = 1 when G >= m)."""

    group_size: int

    def __post_init__(self) -> None:
        if self.group_size < 1:
            raise GsearchError(f"group size G must be >= 1, got G={self.group_size}")

    def groups(self, layers: Sequence[LayerSpec]) -> list[int]:
        result = []
        for layer in layers:
            g = groups_for_group_size(layer, self.group_size)
            if g is None:
                allowed = ", ".join(map(str, valid_group_sizes(layers)))
                raise GsearchError(
                    f"policy {self} does not fit layer {layer.name} "
                    f"(m={layer.in_channels}, n={layer.out_channels}): "
                    f"valid G for this model are {allowed} (or any G >= m for g=1)"
                )
            result.append(g)
        return result

    def __str__(self) -> str:
        return f"G={self.group_size}"


class ConstantValueKind:
    """A kind whose space lists integer values, one of which a trial draws for every layer."""

    name = "group_size"
    key: str | None = "G"
    form = "G=<int>"
    parameter = "G"  # the trial's parameter (after the model prefix of a multi-model space)
    shared = False  # one parameter for every model of a space (else one per model)

    def make(self, value: Any) -> Policy:
        """The policy of one listed value (as a space file or a trial gives it)."""
        return ConstantGroupSize(int(value))

    def parse(self, value: str) -> Policy:
        return self.make(int(value))

    def read_toml(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        no_unknown_keys(table, {"kind", "values"}, f"{where}: [policy]")
        return {"values": tuple(int_list(table.get("values"), f"{where}: policy.values"))}

    def choices(self, space: Any, specs: Sequence[LayerSpec], model: str) -> list[Any]:
        fitting = [v for v in space.values if fits(self.make(v), specs)]
        if not fitting:
            raise GsearchError(f"{space.label}: none of {list(space.values)} fits {model}")
        return fitting

    def suggest(self, trial: optuna.Trial, prefix: str, space: Any, choices: list[Any]) -> Policy:
        return self.make(trial.suggest_categorical(prefix + self.parameter, choices))

    def grid(self, prefix: str, choices: list[Any], space: Any, model: str) -> dict[str, list[Any]]:
        return {prefix + self.parameter: choices}

    def policy_strings(self, choices: list[Any]) -> list[str] | None:
        return [str(self.make(v)) for v in choices]


KIND = ConstantValueKind()
