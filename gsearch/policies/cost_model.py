"""The paper's Eq. 2: g per layer from beta and gamma (``beta=0.5,gamma=1e4``; ``cost_model``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from gsearch.costmodel import optimal_groups
from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec, valid_groups
from gsearch.policies._kind import Policy, format_number, no_unknown_keys, number_range

DEFAULT_BETA = (0.05, 1.0)
DEFAULT_GAMMA = (1e2, 1e10)


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
        return f"beta={format_number(self.beta)},gamma={format_number(self.gamma)}"


def round_to_valid_groups(g: float, layer: LayerSpec) -> int:
    """The valid g of ``layer`` nearest to ``g`` on a log scale; ties to fewer groups."""
    target = math.log(max(g, 1e-300))
    # min() keeps the first of equal keys, and candidates are increasing: ties -> fewer groups.
    return min(valid_groups(layer), key=lambda d: abs(math.log(d) - target))


class CostModelKind:
    name = "cost_model"
    key: str | None = "beta"
    form = "beta=<float>,gamma=<float>"
    parameter = "beta"
    shared = False

    def parse(self, value: str) -> Policy:
        beta_text, sep, gamma_part = value.partition(",")
        gamma_key, sep2, gamma_text = gamma_part.partition("=")
        if not (sep and sep2 and gamma_key.strip() == "gamma"):
            raise ValueError(value)
        return CostModel(float(beta_text), float(gamma_text))

    def read_toml(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        no_unknown_keys(table, {"kind", "beta", "gamma"}, f"{where}: [policy]")
        beta = number_range(
            table.get("beta", list(DEFAULT_BETA)), f"{where}: policy.beta", 0.0, 1.0
        )
        if beta[0] <= 0:
            raise GsearchError(f"{where}: policy.beta must lie in (0, 1], got low={beta[0]}")
        gamma = number_range(
            table.get("gamma", list(DEFAULT_GAMMA)), f"{where}: policy.gamma", 0.0, math.inf
        )
        if gamma[0] <= 0:
            raise GsearchError(f"{where}: policy.gamma must be > 0, got low={gamma[0]}")
        return {"beta": beta, "gamma": gamma}

    def choices(self, space: Any, specs: Sequence[LayerSpec], model: str) -> list[Any]:
        return []  # continuous: every (beta, gamma) gives valid groups

    def suggest(self, trial: optuna.Trial, prefix: str, space: Any, choices: list[Any]) -> Policy:
        beta = trial.suggest_float(prefix + "beta", *space.beta)
        gamma = trial.suggest_float(prefix + "gamma", *space.gamma, log=True)
        return CostModel(beta, gamma)

    def grid(self, prefix: str, choices: list[Any], space: Any, model: str) -> dict[str, list[Any]]:
        raise GsearchError(
            f"sampler grid needs a finite space; space {space.name} searches continuous "
            "beta and gamma: use nsga2, tpe, gp or random"
        )

    def policy_strings(self, choices: list[Any]) -> list[str] | None:
        return None  # continuous


KIND = CostModelKind()
