"""What a calibration of (model, space) measures: the distinct grouped layers it can produce.

The energy package measures plain layer shapes and builds networks from factories; this
module makes them from the model registry, the policies and a search space:

* :func:`policy_layers`: the grouped layers of a model under a policy, as
  :class:`~gsearch.energy.calibrate.LayerShape` rows (shapes read from the built model,
  so stride, padding and input size are the model's own);
* :func:`layer_choices`: per grouped layer, the g a space can give it (every valid g
  where the space is continuous, or where no space is named);
* :func:`calibration_target`: the distinct layers of all those choices, the anchor
  network (the model's own policy) and the *rest*: the network with every grouped layer
  replaced by a stand-in that only keeps the shapes (identity, or a strided view).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gsearch.energy.calibrate import (
    DEFAULT_NUM_CLASSES,
    Calibration,
    CalibrationTarget,
    LayerShape,
)
from gsearch.energy.predict import DEFAULT_FORMULATION, Prediction, predict_epf
from gsearch.errors import GsearchError
from gsearch.models import create_model, get_family
from gsearch.policies import (
    ConstantGroups,
    ConstantGroupSize,
    PerLayer,
    Policy,
    as_policy,
    parse_policy,
    valid_groups,
)
from gsearch.spaces import SPACES_DIR


def _conv_geometry(model: str, resolution: int, width: float) -> list[dict[str, int]]:
    """Per grouped layer: channels, kernel, stride, padding and input size (g left out)."""
    family = get_family(model)
    specs = family.specs(resolution, width)
    with torch.device("meta"):
        network = create_model(model, None, num_classes=10, width=width, resolution=resolution)
    inputs: dict[str, tuple[int, int]] = {}
    handles = []
    for spec in specs:
        module = network.get_submodule(spec.name)
        if not isinstance(module, nn.Conv2d):
            raise GsearchError(f"{model}: grouped layer {spec.name} is not a Conv2d")

        def hook(_m: nn.Module, args: tuple[torch.Tensor, ...], name: str = spec.name) -> None:
            inputs[name] = (int(args[0].shape[-2]), int(args[0].shape[-1]))

        handles.append(module.register_forward_pre_hook(hook))
    try:
        network.eval()
        with torch.no_grad():
            network(torch.zeros(1, 3, resolution, resolution, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    for spec in specs:
        conv = network.get_submodule(spec.name)
        assert isinstance(conv, nn.Conv2d)
        if (
            conv.bias is not None
            or conv.dilation != (1, 1)
            or conv.kernel_size[0] != conv.kernel_size[1]
        ):
            raise GsearchError(f"{model}: grouped layer {spec.name} is not a plain square conv")
        stride, padding = conv.stride[0], conv.padding
        assert isinstance(padding, tuple)
        rows.append(
            {
                "in_channels": conv.in_channels,
                "out_channels": conv.out_channels,
                "kernel": conv.kernel_size[0],
                "stride": stride,
                "padding": int(padding[0]),
                "in_h": inputs[spec.name][0],
                "in_w": inputs[spec.name][1],
            }
        )
    return rows


def policy_layers(
    model: str, policy: Policy | str | None, resolution: int = 224, width: float = 1.0
) -> list[LayerShape]:
    """The grouped layers of ``model`` under ``policy``, in order, with their g."""
    family = get_family(model)
    chosen = as_policy(policy, family.default_policy)
    groups = chosen.groups(family.specs(resolution, width))
    geometry = _conv_geometry(model, resolution, width)
    return [LayerShape(**row, groups=g) for row, g in zip(geometry, groups, strict=True)]


def layer_choices(
    model: str, space: Any | None, resolution: int = 224, width: float = 1.0
) -> list[list[int]]:
    """Per grouped layer, the g ``space`` can give it (all valid g without a space).

    Args:
        model: Model name.
        space: A :class:`gsearch.spaces.SearchSpace` or None. Constant, list and
            per-layer spaces give their own values; a continuous space (the paper's
            Eq. 2, the calibrated ``predicted``) can reach any valid g.
        resolution: Input size, pixels.
        width: Channel multiplier.
    """
    specs = get_family(model).specs(resolution, width)
    every = [valid_groups(spec) for spec in specs]
    if space is None:
        return every
    kind = getattr(space, "kind", "")
    if kind not in ("group_size", "groups", "list", "per_layer"):
        return every
    choices = space.choices(model, resolution)
    per_layer: list[set[int]] = [set() for _ in specs]
    if kind == "per_layer":
        for index, (spec, values) in enumerate(zip(specs, choices, strict=True)):
            for value in values:
                per_layer[index].update(PerLayer((int(value),)).groups([spec]))
    else:
        for value in choices:
            policy: Policy
            if kind == "group_size":
                policy = ConstantGroupSize(int(value))
            elif kind == "groups":
                policy = ConstantGroups(int(value))
            else:
                policy = parse_policy(str(value))
            for index, g in enumerate(policy.groups(specs)):
                per_layer[index].add(g)
    return [sorted(values) for values in per_layer]


def check_coverage(
    calibration: Calibration,
    model: str,
    space: Any | None,
    *,
    resolution: int,
    width: float = 1.0,
) -> None:
    """Refuse a calibration that lacks layers ``space`` can produce, before a study starts.

    A prediction for a missing layer would fail only inside a trial, and the calibrated
    space would quietly choose among the calibrated g alone.

    Raises:
        GsearchError: one line naming the missing layers and the command that adds them.
    """
    geometry = _conv_geometry(model, resolution, width)
    choices = layer_choices(model, space, resolution, width)
    needed = {
        LayerShape(**row, groups=g).key
        for row, gs in zip(geometry, choices, strict=True)
        for g in gs
    }
    missing = sorted(needed - set(calibration.layers))
    if not missing:
        return
    name = getattr(space, "name", "") or "every valid g"
    path = getattr(space, "path", None)
    shipped = path is None or path.parent.resolve() == SPACES_DIR.resolve()
    space_arg = None if space is None else (name if shipped else str(path))
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    raise GsearchError(
        f"the calibration of {model} ({calibration.path}) lacks {len(missing)} of the "
        f"{len(needed)} grouped layers space {name} can produce ({shown}): run "
        f"`{calibration.command(space_arg)}` to add them"
    )


class Subsample(nn.Module):
    """A stand-in for a strided grouped conv of equal channels: keeps every s-th pixel."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride]


def _stand_in(row: dict[str, int]) -> nn.Module | None:
    """A module of (almost) no cost with the conv's output shape, or None if none exists."""
    if row["in_channels"] != row["out_channels"]:
        return None
    stride, kernel, padding = row["stride"], row["kernel"], row["padding"]
    for size in (row["in_h"], row["in_w"]):
        conv_size = (size + 2 * padding - kernel) // stride + 1
        if conv_size != -(-size // stride):
            return None
    return nn.Identity() if stride == 1 else Subsample(stride)


def rest_network(
    model: str, resolution: int = 224, width: float = 1.0, num_classes: int = 1000
) -> nn.Module | None:
    """``model`` with its grouped layers replaced by stand-ins; None where shapes forbid."""
    geometry = _conv_geometry(model, resolution, width)
    stand_ins = [_stand_in(row) for row in geometry]
    if any(s is None for s in stand_ins):
        return None
    network = create_model(model, None, num_classes=num_classes, width=width, resolution=resolution)
    specs = get_family(model).specs(resolution, width)
    for spec, stand_in in zip(specs, stand_ins, strict=True):
        parent_name, _, child = spec.name.rpartition(".")
        parent = network.get_submodule(parent_name) if parent_name else network
        assert stand_in is not None
        setattr(parent, child, stand_in)
    return network


def _rest_builder(
    model: str, resolution: int, width: float, num_classes: int
) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        network = rest_network(model, resolution, width, num_classes)
        if network is None:
            raise GsearchError(f"{model} has no stand-ins for its grouped layers")
        return network

    return build


def calibration_target(
    model: str,
    space: Any | None = None,
    *,
    resolution: int = 224,
    width: float = 1.0,
    num_classes: int = DEFAULT_NUM_CLASSES,
    extra_policies: Sequence[str] = (),
) -> CalibrationTarget:
    """Everything a calibration of ``model`` over ``space`` measures.

    Args:
        model: Model name.
        space: A search space, or None for every valid g of every grouped layer.
        resolution: Input size, pixels.
        width: Channel multiplier.
        num_classes: Classifier size of the networks.
        extra_policies: Policies whose layers must be in the table too.
    """
    geometry = _conv_geometry(model, resolution, width)
    choices = layer_choices(model, space, resolution, width)
    layers = {
        LayerShape(**row, groups=g) for row, gs in zip(geometry, choices, strict=True) for g in gs
    }
    for policy in extra_policies:
        layers.update(policy_layers(model, policy, resolution, width))
    anchor = str(get_family(model).default_policy)
    anchor_layers = policy_layers(model, anchor, resolution, width)
    has_rest = rest_network(model, resolution, width, num_classes) is not None
    ordered = sorted(layers, key=lambda s: (s.shape_key, s.groups))
    return CalibrationTarget(
        model=model,
        layers=tuple(ordered),
        anchor_policy=anchor,
        anchor_layers=tuple(anchor_layers),
        # Built as the search builds its networks: the run's classes and resolution.
        build_anchor=lambda: create_model(
            model, anchor, num_classes=num_classes, width=width, resolution=resolution
        ),
        build_rest=_rest_builder(model, resolution, width, num_classes) if has_rest else None,
        num_classes=num_classes,
        width=width,
        space=getattr(space, "name", "") if space is not None else "all valid g",
    )


@dataclass(frozen=True)
class LayerShare:
    """Where the energy of one grouped layer goes, beside what counting says.

    Attributes:
        name: Module path.
        m: Input channels.
        g: Groups.
        G: Group size m / g.
        epf: The layer's calibrated cost alone, per frame (the calibration's unit).
        epf_share: Its share of the network's predicted EPF.
        macs_share: Its share of the network's MACs (conv and linear, one image).
        ai: Table II's arithmetic intensity M_c / (P + A).
    """

    name: str
    m: int
    g: int
    G: int
    epf: float
    epf_share: float
    macs_share: float
    ai: float


def layer_breakdown(
    model: str,
    policy: str | None,
    calibration: Calibration,
    *,
    resolution: int = 224,
    width: float = 1.0,
    formulation: str = DEFAULT_FORMULATION,
) -> tuple[Prediction, list[LayerShare]]:
    """Each grouped layer's share of the predicted EPF, its MACs share and its AI."""
    from gsearch.count import layer_rows

    layers = policy_layers(model, policy, resolution, width)
    prediction = predict_epf(calibration, layers, formulation)
    with torch.device("meta"):
        network = create_model(model, policy, width=width, resolution=resolution)
    rows = layer_rows(network, resolution)
    by_name = {row.name: row for row in rows}
    total_macs = sum(row.macs for row in rows)
    specs = get_family(model).specs(resolution, width)
    shares = []
    for spec, layer, epf, share in zip(
        specs, layers, prediction.layer_epf, prediction.layer_share, strict=True
    ):
        row = by_name[spec.name]
        shares.append(
            LayerShare(
                name=spec.name,
                m=layer.in_channels,
                g=layer.groups,
                G=layer.in_channels // layer.groups,
                epf=epf,
                epf_share=share,
                macs_share=row.macs / total_macs,
                ai=row.ai,
            )
        )
    return prediction, shares
