"""What every policy kind provides: the policy protocol and the kind's interface.

A kind (one module each under ``gsearch/policies/``) reads its string form (``G=8``)
and its TOML form (a space's ``[policy]`` table), lists the values that fit a model,
suggests a policy from an Optuna trial and enumerates its grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import optuna

from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec
from gsearch.limits import MAX_LIST_VALUES


@runtime_checkable
class Policy(Protocol):
    """Maps the grouped layers of a model to their number of groups."""

    def groups(self, layers: Sequence[LayerSpec]) -> list[int]:
        """One g per layer, in order; raises GsearchError when the policy cannot apply."""
        ...


def fits(policy: Policy, layers: Sequence[LayerSpec]) -> bool:
    """Whether ``policy`` applies to ``layers`` exactly (its ``groups`` raises otherwise)."""
    try:
        policy.groups(layers)
    except GsearchError:
        return False
    return True


class PolicyKind(Protocol):
    """One kind of policy, as strings, space files and samplers see it.

    Attributes:
        name: The kind in a space file (``kind = "group_size"``).
        key: The key of its string form (``G`` in ``G=8``); ``None`` for a kind without one.
        form: Its string form for messages (``G=<int>``).
        parameter: The trial parameter it draws (``G``; per layer: ``G_00``, ``G_01``, ...).
        shared: One parameter for every model of a space (a list of policy strings),
            instead of one per model (``mobilenet_v1/G``): models differ in what fits.
    """

    name: str
    key: str | None
    form: str
    parameter: str
    shared: bool

    def parse(self, value: str) -> Policy:
        """The policy from the text after ``key=``; ValueError when it is malformed."""
        ...

    def read_toml(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        """The space fields (``values``, or ``beta`` and ``gamma``) of a ``[policy]`` table."""
        ...

    def choices(self, space: Any, specs: Sequence[LayerSpec], model: str) -> list[Any]:
        """The space's values that fit a model's layers (per layer: a list per layer)."""
        ...

    def suggest(self, trial: optuna.Trial, prefix: str, space: Any, choices: list[Any]) -> Policy:
        """A policy drawn by ``trial``; parameter names start with ``prefix``."""
        ...

    def grid(self, prefix: str, choices: list[Any], space: Any, model: str) -> dict[str, list[Any]]:
        """The kind's parameters as a GridSampler wants them."""
        ...

    def policy_strings(self, choices: list[Any]) -> list[str] | None:
        """Each choice as a whole policy's string, where a choice is one (else None)."""
        ...


MAX_GRID_POINTS = 10_000
"""Above this many points a space is not a grid a user means to walk exhaustively."""


def format_number(value: float) -> str:
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


# ---------------------------------------------------------------- TOML readers
# Shared by every kind's read_toml and by gsearch.spaces (one wording of each mistake).
def no_unknown_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise GsearchError(
            f"{where}: unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )


def _not_too_long(value: Any, where: str) -> None:
    """A list of more values than any group setting has is refused before it is read."""
    if isinstance(value, list) and len(value) > MAX_LIST_VALUES:
        raise GsearchError(
            f"{where} lists {len(value):,} values: at most {MAX_LIST_VALUES:,} "
            "(a network's group settings are a few dozen)"
        )


def str_list(value: Any, where: str) -> list[str]:
    _not_too_long(value, where)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise GsearchError(f"{where} must be a non-empty list of strings, got {value!r}")
    return value


def int_list(value: Any, where: str) -> list[int]:
    _not_too_long(value, where)
    if not isinstance(value, list) or not value:
        raise GsearchError(f"{where} must be a non-empty list of positive integers, got {value!r}")
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise GsearchError(f"{where}[{index}] must be a positive integer, got {item!r}")
    return value


def number_range(value: Any, where: str, low: float, high: float) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise GsearchError(f"{where} must be [low, high], got {value!r}")
    a, b = float(value[0]), float(value[1])
    if not (math.isfinite(a) and math.isfinite(b)):
        raise GsearchError(f"{where} must be finite numbers, got [{a}, {b}]")
    if not low <= a < b <= high:
        raise GsearchError(f"{where} must satisfy {low} <= low < high <= {high}, got [{a}, {b}]")
    return a, b
