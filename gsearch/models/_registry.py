"""The registry dict behind gsearch.models (kept apart so families can import it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from gsearch.errors import GsearchError
from gsearch.layers import LayerSpec
from gsearch.policies import Policy, as_policy

Builder = Callable[..., nn.Module]
SpecsFn = Callable[[int, float], list[LayerSpec]]


@dataclass(frozen=True)
class ModelFamily:
    """One registered model family.

    Attributes:
        name: Registry key, e.g. ``mobilenet_v1``.
        build: ``build(groups, num_classes=..., width=...)`` with one g per grouped layer.
        specs: ``specs(resolution, width)`` -> the grouped layers at that input size.
        default_policy: The family's own grouping (depthwise MobileNet, g=32 ResNeXt).
    """

    name: str
    build: Builder
    specs: SpecsFn
    default_policy: Policy


_REGISTRY: dict[str, ModelFamily] = {}


def register_model(
    name: str, *, specs: SpecsFn, default_policy: Policy
) -> Callable[[Builder], Builder]:
    """Decorator registering a builder under ``name``; a duplicate name is an error."""

    def wrap(build: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelFamily(name, build, specs, default_policy)
        return build

    return wrap


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_family(name: str) -> ModelFamily:
    """The family registered under ``name``; unknown names list the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GsearchError(
            f"unknown model {name!r}: known models are {', '.join(list_models())}"
        ) from None


def layer_specs(name: str, resolution: int = 224, width: float = 1.0) -> list[LayerSpec]:
    """The grouped layers of model ``name`` at a square input of ``resolution`` pixels."""
    return get_family(name).specs(resolution, width)


def resolve_groups(
    name: str, policy: Policy | str | None, resolution: int = 224, width: float = 1.0
) -> tuple[Policy, list[LayerSpec], list[int]]:
    """The policy object, the grouped layers and the g the policy gives each of them."""
    family = get_family(name)
    chosen = as_policy(policy, family.default_policy)
    specs = family.specs(resolution, width)
    return chosen, specs, chosen.groups(specs)


def create_model(
    name: str,
    policy: Policy | str | None = None,
    num_classes: int = 1000,
    width: float = 1.0,
    resolution: int = 224,
    zero_init_residual: bool = False,
) -> nn.Module:
    """Build model ``name`` with its grouped layers set by ``policy``.

    Args:
        name: A registered model, see :func:`list_models`.
        policy: A policy, its string form (``G=8``), or None for the family's default.
        num_classes: Size of the classifier.
        width: Channel multiplier (1.0 is the paper's network).
        resolution: Input size the policy is evaluated at; only the cost-model policy
            depends on it (the model itself accepts any input size).
        zero_init_residual: Start every residual block as an identity (gamma = 0 in its
            last BatchNorm); families without residual blocks have nothing to do.

    Returns:
        The model; :func:`resolve_groups` tells which g each grouped layer got.
    """
    family = get_family(name)
    if num_classes < 1:
        raise GsearchError(f"num_classes must be >= 1, got {num_classes}")
    if width <= 0:
        raise GsearchError(f"width must be > 0, got {width}")
    _, _, groups = resolve_groups(name, policy, resolution, width)
    model = family.build(groups, num_classes=num_classes, width=width)
    if zero_init_residual:
        init_residuals_as_identity(model)
    return model


def init_residuals_as_identity(model: nn.Module) -> int:
    """Zero the last BatchNorm of every residual block of a built model; return how many.

    A residual block says so by defining ``zero_init_last_bn()`` (ResNeXt's bottleneck);
    the training recipe calls this on a model it was handed already built.
    """
    count = 0
    for module in model.modules():
        zero_init = getattr(module, "zero_init_last_bn", None)
        if callable(zero_init):
            zero_init()
            count += 1
    return count


def check_groups(name: str, groups: Sequence[int], expected: int) -> None:
    """Builders call this: one g per grouped layer."""
    if len(groups) != expected:
        raise ValueError(f"{name} has {expected} grouped layers, got {len(groups)} groups")
