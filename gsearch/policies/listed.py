"""A list of policy strings of any kinds (space kind ``list``; no string form of its own)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna

from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec
from gsearch.policies._kind import Policy, fits, no_unknown_keys, str_list


class ListedKind:
    name = "list"
    key: str | None = None
    form = ""
    parameter = "policy"
    shared = True  # "G=8" means the same on every model: one distribution for all of them

    def __init__(self, parse_policy: Callable[[str], Policy]) -> None:
        self._parse_policy = parse_policy

    def parse(self, value: str) -> Policy:
        raise ValueError(value)  # a list holds the other kinds' strings

    def read_toml(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        no_unknown_keys(table, {"kind", "values"}, f"{where}: [policy]")
        values = tuple(str_list(table.get("values"), f"{where}: policy.values"))
        for index, text in enumerate(values):
            try:
                self._parse_policy(text)
            except GsearchError as error:
                raise GsearchError(f"{where}: policy.values[{index}]: {error}") from None
        return {"values": values}

    def choices(self, space: Any, specs: Sequence[LayerSpec], model: str) -> list[Any]:
        fitting = [v for v in space.values if fits(self._parse_policy(v), specs)]
        if not fitting:
            raise GsearchError(f"{space.label}: none of {list(space.values)} fits {model}")
        return fitting

    def suggest(self, trial: optuna.Trial, prefix: str, space: Any, choices: list[Any]) -> Policy:
        return self._parse_policy(str(trial.suggest_categorical(prefix + self.parameter, choices)))

    def grid(self, prefix: str, choices: list[Any], space: Any, model: str) -> dict[str, list[Any]]:
        return {prefix + self.parameter: choices}

    def policy_strings(self, choices: list[Any]) -> list[str] | None:
        return [str(v) for v in choices]
