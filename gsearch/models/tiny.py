"""A tiny network with the same E2GC/FgGC modules, registered like the real ones.

Tests, smoke runs and the CPU load check use it: it builds and trains in milliseconds
yet has grouped layers of three widths (16, 32, 64), so every policy means something.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gsearch.layers import LayerSpec
from gsearch.models._layers import conv_bn_relu, conv_out, scale_channels
from gsearch.models._registry import check_groups, register_model
from gsearch.models.mobilenet_v1 import GroupedBlock
from gsearch.policies import ConstantGroupSize

BLOCKS: tuple[tuple[int, int, int], ...] = ((16, 32, 1), (32, 64, 2), (64, 64, 2))


class TinyConvNet(nn.Module):
    """Stem -> three grouped+pointwise blocks -> pool -> linear."""

    def __init__(self, groups: Sequence[int], num_classes: int = 10, width: float = 1.0):
        super().__init__()
        check_groups("tiny_convnet", groups, len(BLOCKS))
        self.stem = conv_bn_relu(3, scale_channels(BLOCKS[0][0], width), 3, stride=2)
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


def tiny_specs(resolution: int = 32, width: float = 1.0) -> list[LayerSpec]:
    """The 3 grouped layers at a square input of ``resolution`` pixels."""
    size = conv_out(resolution, 3, 2, 1)
    specs = []
    for index, (m, _, stride) in enumerate(BLOCKS):
        size = conv_out(size, 3, stride, 1)
        channels = scale_channels(m, width)
        specs.append(LayerSpec(f"blocks.{index}.grouped.0", channels, channels, 3, size, size))
    return specs


@register_model("tiny_convnet", specs=tiny_specs, default_policy=ConstantGroupSize(1))
def tiny_convnet(groups: Sequence[int], num_classes: int = 10, width: float = 1.0) -> nn.Module:
    """A three-block test network (channels 16/32/64); G=1 is depthwise."""
    return TinyConvNet(groups, num_classes=num_classes, width=width)
