"""FgGC: the same number of groups g in every grouped layer (``g=32``; space kind ``groups``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec, divisors, valid_groups
from gsearch.policies._kind import Policy
from gsearch.policies.group_size import ConstantValueKind


@dataclass(frozen=True)
class ConstantGroups:
    """FgGC: the same number of groups g in every grouped layer."""

    num_groups: int

    def __post_init__(self) -> None:
        if self.num_groups < 1:
            raise GsearchError(f"number of groups g must be >= 1, got g={self.num_groups}")

    def groups(self, layers: Sequence[LayerSpec]) -> list[int]:
        for layer in layers:
            if self.num_groups not in valid_groups(layer):
                common = math.gcd(*(math.gcd(s.in_channels, s.out_channels) for s in layers))
                allowed = ", ".join(map(str, divisors(common)))
                raise GsearchError(
                    f"policy {self} does not fit layer {layer.name} "
                    f"(m={layer.in_channels}, n={layer.out_channels}): "
                    f"valid g for this model are {allowed}"
                )
        return [self.num_groups] * len(layers)

    def __str__(self) -> str:
        return f"g={self.num_groups}"


class ConstantGroupsKind(ConstantValueKind):
    name = "groups"
    key: str | None = "g"
    form = "g=<int>"
    parameter = "g"

    def make(self, value: Any) -> Policy:
        return ConstantGroups(int(value))


KIND = ConstantGroupsKind()
