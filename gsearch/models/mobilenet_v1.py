"""MobileNet-V1 (Howard et al., 2017) with its 3x3 depthwise convs as policy-set grouped convs.

Each of the 13 blocks is the paper's E2GC/FgGC module: a 3x3 grouped conv (depthwise
when g = m) -> BN -> ReLU, then the 1x1 pointwise conv -> BN -> ReLU. Width 1.0 and a
224x224 input give the original network's 4.21M params and 569M MACs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gsearch.layers import LayerSpec
from gsearch.models._layers import conv_bn_relu, conv_out, scale_channels
from gsearch.models._registry import check_groups, register_model
from gsearch.policies import ConstantGroupSize

# (input channels, output channels, stride) of the 13 blocks.
BLOCKS: tuple[tuple[int, int, int], ...] = (
    (32, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
    (256, 512, 2),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 1024, 2),
    (1024, 1024, 1),
)
STEM_CHANNELS = 32


class GroupedBlock(nn.Module):
    """3x3 grouped conv -> BN -> ReLU -> 1x1 pointwise conv -> BN -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, groups: int) -> None:
        super().__init__()
        self.grouped = conv_bn_relu(in_channels, in_channels, 3, stride, groups)
        self.pointwise = conv_bn_relu(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.grouped(x))


class MobileNetV1(nn.Module):
    """MobileNet-V1 with one g per block's 3x3 conv."""

    def __init__(self, groups: Sequence[int], num_classes: int = 1000, width: float = 1.0):
        super().__init__()
        check_groups("mobilenet_v1", groups, len(BLOCKS))
        self.stem = conv_bn_relu(3, scale_channels(STEM_CHANNELS, width), 3, stride=2)
        self.blocks = nn.Sequential(
            *(
                GroupedBlock(scale_channels(m, width), scale_channels(n, width), stride, g)
                for (m, n, stride), g in zip(BLOCKS, groups, strict=True)
            )
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(scale_channels(BLOCKS[-1][1], width), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v1_specs(resolution: int = 224, width: float = 1.0) -> list[LayerSpec]:
    """The 13 grouped 3x3 layers at a square input of ``resolution`` pixels."""
    size = conv_out(resolution, 3, 2, 1)
    specs = []
    for index, (m, _, stride) in enumerate(BLOCKS):
        size = conv_out(size, 3, stride, 1)
        channels = scale_channels(m, width)
        specs.append(LayerSpec(f"blocks.{index}.grouped.0", channels, channels, 3, size, size))
    return specs


@register_model("mobilenet_v1", specs=mobilenet_v1_specs, default_policy=ConstantGroupSize(1))
def mobilenet_v1(groups: Sequence[int], num_classes: int = 1000, width: float = 1.0) -> nn.Module:
    """MobileNet-V1 1.0 with the given g per block (depthwise is g = m, i.e. G=1)."""
    return MobileNetV1(groups, num_classes=num_classes, width=width)
