"""What a grouped layer is (:class:`LayerSpec`) and which numbers of groups it admits.

Shared by the policies (which map layers to g) and the cost model (Eq. 1 and 2), so
neither imports the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerSpec:
    """A grouped convolution as the cost model sees it.

    Attributes:
        name: Module path inside the model, e.g. ``blocks.3.grouped``.
        in_channels: m, input feature maps.
        out_channels: n, output feature maps.
        kernel: d_k, spatial size of the (square) filter.
        out_h: Height of the output feature map at the chosen input resolution.
        out_w: Width of the output feature map.
    """

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    out_h: int
    out_w: int


def divisors(value: int) -> list[int]:
    """All positive divisors of ``value`` in increasing order."""
    small = [d for d in range(1, math.isqrt(value) + 1) if value % d == 0]
    return sorted(set(small + [value // d for d in small]))


def valid_groups(layer: LayerSpec) -> list[int]:
    """The g that split both m and n of ``layer`` into equal groups."""
    return divisors(math.gcd(layer.in_channels, layer.out_channels))


def groups_for_group_size(layer: LayerSpec, group_size: int) -> int | None:
    """g for group size G on ``layer`` (g = 1 when G >= m), or None when G does not fit."""
    if group_size >= layer.in_channels:
        return 1
    if layer.in_channels % group_size:
        return None
    g = layer.in_channels // group_size
    return g if layer.out_channels % g == 0 else None


def valid_group_sizes(layers: Sequence[LayerSpec]) -> list[int]:
    """The G in 1..max(m) that fit every layer; any G >= max(m) fits too (g = 1 everywhere)."""
    top = max(layer.in_channels for layer in layers)
    return [
        size
        for size in range(1, top + 1)
        if all(groups_for_group_size(layer, size) is not None for layer in layers)
    ]
