"""Group policies: which number of groups g each grouped layer of a network gets.

A policy sees the grouped layers of a model as :class:`LayerSpec` rows and returns
one g per layer. Four policies cover the paper and the search:

* :class:`ConstantGroupSize` (E2GC): the same group size G = m / g everywhere.
* :class:`ConstantGroups` (FgGC): the same number of groups g everywhere.
* :class:`CostModel`: g from the paper's Eq. 2 per layer, rounded to a valid divisor.
* :class:`PerLayer`: one G per grouped layer, a space neither anchor searches.

Every policy prints as a short string (``G=8``, ``g=32``, ``beta=0.5,gamma=1e4``,
``layers=1,2,4``) and :func:`parse_policy` reads it back, so the CLI, the study and
the reports share one form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gsearch.costmodel import optimal_groups
from gsearch.errors import GsearchError


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


def _groups_for_group_size(layer: LayerSpec, group_size: int) -> int | None:
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
        if all(_groups_for_group_size(layer, size) is not None for layer in layers)
    ]


def _format_number(value: float) -> str:
    """Shortest text that reads back to ``value``: ``0.5``, ``100``, ``1e4``, ``2.5e-5``."""
    plain = repr(float(value)).removesuffix(".0")
    mantissa, exponent = "", ""
    # Use as many mantissa digits as the shortest round-trip repr needs.
    for digits in range(17):
        mantissa, _, exponent = f"{float(value):.{digits}e}".partition("e")
        if float(f"{mantissa}e{exponent}") == float(value):
            break
    scientific = f"{mantissa}e{int(exponent)}"
    return scientific if len(scientific) < len(plain) else plain


@runtime_checkable
class Policy(Protocol):
    """Maps the grouped layers of a model to their number of groups."""

    def groups(self, layers: Sequence[LayerSpec]) -> list[int]:
        """One g per layer, in order; raises GsearchError when the policy cannot apply."""
        ...


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
            g = _groups_for_group_size(layer, self.group_size)
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


@dataclass(frozen=True)
class CostModel:
    """g per layer from the paper's Eq. 2: g = m * n * d_k^2 * (h * w)^(1 - beta) / gamma.

    Eq. 2 gives a real number; it is rounded to the valid divisor of gcd(m, n) that is
    nearest on a log scale (g is a multiplicative quantity: 3 is as far from 2 as 6 is
    from 4), clamped to [1, gcd(m, n)]. Exact ties go to fewer groups, the side with more
    data reuse.
    """

    beta: float
    gamma: float

    def __post_init__(self) -> None:
        if not 0 < self.beta <= 1:
            raise GsearchError(f"beta must lie in (0, 1], got beta={self.beta}")
        if not self.gamma > 0 or math.isinf(self.gamma):
            raise GsearchError(f"gamma must be a positive finite number, got gamma={self.gamma}")

    def groups(self, layers: Sequence[LayerSpec]) -> list[int]:
        return [
            round_to_valid_groups(optimal_groups(layer, self.beta, self.gamma), layer)
            for layer in layers
        ]

    def __str__(self) -> str:
        return f"beta={_format_number(self.beta)},gamma={_format_number(self.gamma)}"


def round_to_valid_groups(g: float, layer: LayerSpec) -> int:
    """The valid g of ``layer`` nearest to ``g`` on a log scale; ties to fewer groups."""
    target = math.log(max(g, 1e-300))
    # min() keeps the first of equal keys, and candidates are increasing: ties -> fewer groups.
    return min(valid_groups(layer), key=lambda d: abs(math.log(d) - target))


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
            g = _groups_for_group_size(layer, size)
            if g is None:
                allowed = [
                    d for d in divisors(layer.in_channels) if _groups_for_group_size(layer, d)
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


def fits(policy: Policy, layers: Sequence[LayerSpec]) -> bool:
    """Whether ``policy`` applies to ``layers`` exactly (its ``groups`` raises otherwise)."""
    try:
        policy.groups(layers)
    except GsearchError:
        return False
    return True


POLICY_FORMS = "G=<int>, g=<int>, beta=<float>,gamma=<float> or layers=<int>,<int>,..."


def parse_policy(text: str) -> ConstantGroupSize | ConstantGroups | CostModel | PerLayer:
    """Read a policy from its short string form.

    Args:
        text: ``G=8``, ``g=32``, ``beta=0.5,gamma=1e4`` or ``layers=1,2,4,...``.

    Returns:
        The policy; ``str()`` of it gives the canonical form back.

    Raises:
        GsearchError: the text is none of the forms, naming the forms allowed.
    """
    source = text.strip()
    bad = GsearchError(f"malformed policy {text!r}: expected {POLICY_FORMS}")
    key, sep, value = source.partition("=")
    if not sep:
        raise bad
    try:
        if key == "G":
            return ConstantGroupSize(int(value))
        if key == "g":
            return ConstantGroups(int(value))
        if key == "layers":
            return PerLayer(tuple(int(part) for part in value.split(",")))
        if key == "beta":
            beta_text, sep, gamma_part = value.partition(",")
            gamma_key, sep2, gamma_text = gamma_part.partition("=")
            if not (sep and sep2 and gamma_key.strip() == "gamma"):
                raise bad
            return CostModel(float(beta_text), float(gamma_text))
    except ValueError:
        raise bad from None
    raise bad


def as_policy(policy: Policy | str | None, default: Policy) -> Policy:
    """A policy object from a policy, its string form, or None (the model's own default)."""
    if policy is None:
        return default
    if isinstance(policy, str):
        return parse_policy(policy)
    return policy
