"""Building blocks shared by the model families."""

from __future__ import annotations

from torch import nn


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a convolution or pooling along one spatial axis."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    """Conv (no bias: BatchNorm follows) -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=kernel // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def scale_channels(channels: int, width: float, multiple: int = 8) -> int:
    """``channels * width`` rounded to a multiple of ``multiple`` (never below it).

    Width 1.0 leaves the paper's channel counts unchanged; multiples of 8 keep every
    power-of-two group size below 8 valid in a shrunk model.
    """
    if width == 1.0:
        return channels
    return max(multiple, round(channels * width / multiple) * multiple)
