"""Random images with arbitrary labels: for speed measurements and smoke tests ONLY.

The pixels are noise and the labels carry no information about them, so any
accuracy measured on this dataset is meaningless: never use it for an
accuracy claim or to rank architectures. Each image is generated from
``(seed, split, index)`` when it is read, so huge sizes cost no memory and a
given index always yields the same image.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from gsearch.data.bundle import DatasetBundle
from gsearch.errors import GsearchError


class SyntheticDataset(Dataset[tuple[torch.Tensor, int]]):
    """``size`` random ``3 x resolution x resolution`` images, labels ``index % num_classes``."""

    def __init__(self, size: int, num_classes: int, resolution: int, seed: int) -> None:
        self.size = size
        self.resolution = resolution
        self.seed = seed
        self.targets = [index % num_classes for index in range(size)]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        image = torch.randn(3, self.resolution, self.resolution, generator=generator)
        return image, self.targets[index]


def load_synthetic(
    resolution: int = 32,
    num_classes: int = 10,
    train_size: int = 512,
    val_size: int = 128,
    seed: int = 0,
) -> DatasetBundle:
    """Build a random-noise bundle (not for accuracy: see the module docstring).

    Args:
        resolution: Image side in pixels.
        num_classes: Number of labels, assigned round-robin.
        train_size: Training images.
        val_size: Validation images.
        seed: Fixes every pixel; the two splits never share an image.
    """
    if num_classes < 1 or train_size < 1 or val_size < 1 or resolution < 1:
        raise GsearchError(
            "synthetic dataset needs num_classes, train_size, val_size and resolution >= 1, got "
            f"{num_classes}, {train_size}, {val_size}, {resolution}"
        )
    return DatasetBundle(
        name="synthetic",
        train=SyntheticDataset(train_size, num_classes, resolution, seed * 2),
        val=SyntheticDataset(val_size, num_classes, resolution, seed * 2 + 1),
        num_classes=num_classes,
        class_names=tuple(f"class{c}" for c in range(num_classes)),
        resolution=resolution,
    )
