"""The value every dataset builder returns: train and validation splits plus their labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch.utils.data import Dataset


@runtime_checkable
class LabelledDataset(Protocol):
    """A map-style dataset whose labels can be read without loading any image.

    ``targets[i]`` is the class index of item ``i``; subsets and stratified
    sampling rely on it, so every dataset in :mod:`gsearch.data` provides it.
    """

    targets: Sequence[int]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]: ...


@dataclass(frozen=True)
class DatasetBundle:
    """Train and validation splits of one dataset, ready for :func:`gsearch.training.train`.

    Attributes:
        name: Registry name (``digits``, ``imagenet``, ``food101``, ``synthetic``).
        train: Training split; items are ``(image CHW float tensor, class index)``.
        val: Validation split, same item format, deterministic transforms.
        num_classes: Number of classes; labels are ``0 .. num_classes - 1``
            (after a subset, the chosen classes are renumbered in order).
        class_names: Name of each class, indexed by label.
        resolution: Side in pixels of the square images the splits yield.
        skipped_files: Unreadable images left out (only with ``skip_corrupt=True``).
    """

    name: str
    train: Dataset[tuple[torch.Tensor, int]]
    val: Dataset[tuple[torch.Tensor, int]]
    num_classes: int
    class_names: tuple[str, ...]
    resolution: int
    skipped_files: tuple[str, ...] = ()

    @property
    def train_size(self) -> int:
        """Number of training images."""
        return len(self.train)  # type: ignore[arg-type]

    @property
    def val_size(self) -> int:
        """Number of validation images."""
        return len(self.val)  # type: ignore[arg-type]

    def split(self, split: str) -> Dataset[tuple[torch.Tensor, int]]:
        """Return the ``train`` or ``val`` split by name."""
        if split == "train":
            return self.train
        if split == "val":
            return self.val
        from gsearch.errors import GsearchError

        raise GsearchError(f"unknown split {split!r}; expected 'train' or 'val'")
