"""A list of policy strings of any kinds (space kind ``list``; no string form of its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gsearch.errors import GsearchError
from gsearch.policies._kind import Policy, no_unknown_keys, str_list
from gsearch.policies.group_size import ConstantValueKind


class ListedKind(ConstantValueKind):
    """Like a constant kind, with whole policy strings as its values."""

    name = "list"
    key: str | None = None
    form = ""
    parameter = "policy"
    shared = True  # "G=8" means the same on every model: one distribution for all of them

    def __init__(self, parse_policy: Callable[[str], Policy]) -> None:
        self._parse_policy = parse_policy

    def make(self, value: Any) -> Policy:
        return self._parse_policy(str(value))

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

    def policy_strings(self, choices: list[Any]) -> list[str] | None:
        return [str(v) for v in choices]  # as the space file writes them
