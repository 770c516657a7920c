"""Group policies: which number of groups g each grouped layer of a network gets.

A policy sees the grouped layers of a model as :class:`~gsearch.layers.LayerSpec` rows
and returns one g per layer. One module per kind:

* :mod:`~gsearch.policies.group_size` (E2GC, ``G=8``): the same group size G = m / g everywhere.
* :mod:`~gsearch.policies.groups` (FgGC, ``g=32``): the same number of groups g everywhere.
* :mod:`~gsearch.policies.cost_model` (``beta=0.5,gamma=1e4``): g from the paper's Eq. 2.
* :mod:`~gsearch.policies.per_layer` (``layers=1,2,4``): one G per grouped layer.
* :mod:`~gsearch.policies.listed`: a space's list of policy strings of the kinds above.
* :mod:`~gsearch.policies.calibrated` (``tradeoff=0.3``): g per layer from this device's
  calibration, at a trade-off between predicted energy and params.

Each kind parses its string and TOML forms, lists the values that fit a model, suggests
from an Optuna trial and enumerates a grid (:class:`PolicyKind`); :data:`KINDS` is the
registry a search space looks its ``kind`` up in. A new kind is one module plus one line
here.
"""

from __future__ import annotations

from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec, divisors, valid_group_sizes, valid_groups
from gsearch.policies import calibrated, cost_model, group_size, groups, per_layer
from gsearch.policies._kind import MAX_GRID_POINTS, Policy, PolicyKind, fits
from gsearch.policies.calibrated import Calibrated
from gsearch.policies.cost_model import CostModel, round_to_valid_groups
from gsearch.policies.group_size import ConstantGroupSize
from gsearch.policies.groups import ConstantGroups
from gsearch.policies.listed import ListedKind
from gsearch.policies.per_layer import PerLayer

_STRING_KINDS: tuple[PolicyKind, ...] = (
    group_size.KIND,
    groups.KIND,
    per_layer.KIND,
    cost_model.KIND,
)

POLICY_FORMS = "G=<int>, g=<int>, beta=<float>,gamma=<float> or layers=<int>,<int>,..."


def parse_policy(text: str) -> Policy:
    """Read a policy from its short string form.

    Args:
        text: ``G=8``, ``g=32``, ``beta=0.5,gamma=1e4`` or ``layers=1,2,4,...``.

    Returns:
        The policy; ``str()`` of it gives the canonical form back.

    Raises:
        GsearchError: the text is none of the forms, naming the forms allowed.
    """
    bad = GsearchError(f"malformed policy {text!r}: expected {POLICY_FORMS}")
    key, sep, value = text.strip().partition("=")
    kind = next((k for k in _STRING_KINDS if k.key == key), None)
    if not sep or kind is None:
        raise bad
    try:
        return kind.parse(value)
    except ValueError:
        raise bad from None


KINDS: dict[str, PolicyKind] = {
    kind.name: kind for kind in (*_STRING_KINDS[:2], cost_model.KIND, per_layer.KIND)
}
KINDS["list"] = ListedKind(parse_policy)
KINDS[calibrated.KIND.name] = calibrated.KIND
"""Space kind -> its module's kind object, in the order a space file's error lists them."""


def get_kind(name: str) -> PolicyKind:
    """The kind a space file names (``group_size``, ``groups``, ``cost_model``, ...)."""
    return KINDS[name]


def as_policy(policy: Policy | str | None, default: Policy) -> Policy:
    """A policy object from a policy, its string form, or None (the model's own default)."""
    if policy is None:
        return default
    if isinstance(policy, str):
        return parse_policy(policy)
    return policy


__all__ = [
    "KINDS",
    "MAX_GRID_POINTS",
    "POLICY_FORMS",
    "Calibrated",
    "ConstantGroupSize",
    "ConstantGroups",
    "CostModel",
    "LayerSpec",
    "PerLayer",
    "Policy",
    "PolicyKind",
    "as_policy",
    "divisors",
    "fits",
    "get_kind",
    "parse_policy",
    "round_to_valid_groups",
    "valid_group_sizes",
    "valid_groups",
]
