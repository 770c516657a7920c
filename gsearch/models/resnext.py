"""ResNeXt-50 (Xie et al., 2017) with the 3x3 conv of every bottleneck set by the policy.

The bottleneck widths of ResNeXt-50 32x4d (128/256/512/1024) stay fixed whatever g is,
as in the paper; the layer order and stride placement (stride on the 3x3 conv) follow
torchvision's ``resnext50_32x4d``, so g=32 gives exactly that network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gsearch.layers import LayerSpec
from gsearch.models._layers import conv_out, scale_channels
from gsearch.models._registry import check_groups, register_model
from gsearch.policies import ConstantGroups

# (blocks, bottleneck width, output channels, stride of the first block) per stage.
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (3, 128, 256, 1),
    (4, 256, 512, 2),
    (6, 512, 1024, 2),
    (3, 1024, 2048, 2),
)
STEM_CHANNELS = 64


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 grouped (carries the stride) -> 1x1 expand, plus the shortcut."""

    def __init__(
        self, in_channels: int, width: int, out_channels: int, stride: int, groups: int
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def zero_init_last_bn(self) -> None:
        """Start the block as an identity: the residual branch's last BatchNorm at gamma = 0."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNeXt(nn.Module):
    """ResNeXt-50 with one g per bottleneck's 3x3 conv (16 in all).

    ``zero_init_residual`` starts every block as an identity, as torchvision's ResNet.
    """

    def __init__(
        self,
        groups: Sequence[int],
        num_classes: int = 1000,
        width: float = 1.0,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        check_groups("resnext50", groups, sum(stage[0] for stage in STAGES))
        stem = scale_channels(STEM_CHANNELS, width)
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        remaining = iter(groups)
        in_channels = stem
        stages = []
        for blocks, block_width, out_channels, stride in STAGES:
            layers = []
            for index in range(blocks):
                layers.append(
                    Bottleneck(
                        in_channels,
                        scale_channels(block_width, width),
                        scale_channels(out_channels, width),
                        stride if index == 0 else 1,
                        next(remaining),
                    )
                )
                in_channels = scale_channels(out_channels, width)
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, Bottleneck):
                    module.zero_init_last_bn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnext50_specs(resolution: int = 224, width: float = 1.0) -> list[LayerSpec]:
    """The 16 grouped 3x3 layers at a square input of ``resolution`` pixels."""
    size = conv_out(conv_out(resolution, 7, 2, 3), 3, 2, 1)
    specs = []
    for stage_index, (blocks, block_width, _, stride) in enumerate(STAGES, start=1):
        channels = scale_channels(block_width, width)
        for index in range(blocks):
            size = conv_out(size, 3, stride if index == 0 else 1, 1)
            name = f"layer{stage_index}.{index}.conv2"
            specs.append(LayerSpec(name, channels, channels, 3, size, size))
    return specs


@register_model("resnext50", specs=resnext50_specs, default_policy=ConstantGroups(32))
def resnext50(
    groups: Sequence[int],
    num_classes: int = 1000,
    width: float = 1.0,
    zero_init_residual: bool = False,
) -> nn.Module:
    """ResNeXt-50 (32x4d widths) with the given g per bottleneck (g=32 is torchvision's)."""
    return ResNeXt(
        groups, num_classes=num_classes, width=width, zero_init_residual=zero_init_residual
    )
