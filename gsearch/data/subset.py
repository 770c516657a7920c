"""Deterministic subsets by number of classes and images per class (for proxies)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch.utils.data import Dataset

from gsearch.data.bundle import DatasetBundle
from gsearch.errors import GsearchError


@dataclass(frozen=True)
class SubsetSpec:
    """Which part of a dataset a proxy trains on.

    ``None`` keeps everything along that axis, so ``SubsetSpec()`` is the
    whole dataset. The choice depends only on ``seed`` and the dataset.

    Attributes:
        num_classes: Classes kept, drawn at random without replacement, then
            renumbered ``0 .. num_classes - 1`` in their original order.
        images_per_class: Training images kept per class, drawn at random.
        val_images_per_class: Validation images kept per class.
        seed: Seed of the draws.
    """

    num_classes: int | None = None
    images_per_class: int | None = None
    val_images_per_class: int | None = None
    seed: int = 0

    def __str__(self) -> str:
        return (
            f"classes={self.num_classes or 'all'},images_per_class={self.images_per_class or 'all'}"
            f",val_images_per_class={self.val_images_per_class or 'all'},seed={self.seed}"
        )


class RelabelledSubset(Dataset[tuple[torch.Tensor, int]]):
    """Items ``indices`` of ``dataset`` with labels mapped through ``label_map``."""

    def __init__(
        self,
        dataset: Dataset[tuple[torch.Tensor, int]],
        indices: Sequence[int],
        label_map: dict[int, int],
    ) -> None:
        base_targets: Sequence[int] = dataset.targets  # type: ignore[attr-defined]
        self.dataset = dataset
        self.indices = list(indices)
        self.label_map = dict(label_map)
        self.targets = [label_map[base_targets[i]] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[self.indices[index]]
        return image, self.label_map[label]


def _by_class(targets: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(targets):
        groups.setdefault(label, []).append(index)
    return groups


def _pick(
    groups: dict[int, list[int]],
    classes: list[int],
    per_class: int | None,
    rng: random.Random,
    bundle: DatasetBundle,
    split: str,
) -> list[int]:
    chosen: list[int] = []
    for label in classes:
        members = groups.get(label, [])
        if per_class is None:
            chosen.extend(members)
            continue
        if len(members) < per_class:
            raise GsearchError(
                f"subset asks for {per_class} {split} images per class but class "
                f"{bundle.class_names[label]!r} of dataset {bundle.name!r} has {len(members)}"
            )
        chosen.extend(sorted(rng.sample(members, per_class)))
    return sorted(chosen)


def apply_subset(bundle: DatasetBundle, spec: SubsetSpec | None) -> DatasetBundle:
    """Restrict ``bundle`` to ``spec``'s classes and images; ``None`` returns it unchanged.

    Raises:
        GsearchError: The dataset has fewer classes, or a class fewer images,
            than ``spec`` asks for; the message names both numbers.
    """
    if spec is None or spec == SubsetSpec(seed=spec.seed):
        return bundle
    for field, value in (
        ("num_classes", spec.num_classes),
        ("images_per_class", spec.images_per_class),
        ("val_images_per_class", spec.val_images_per_class),
    ):
        if value is not None and value < 1:
            raise GsearchError(f"subset {field} must be >= 1, got {value}")
    rng = random.Random(spec.seed)
    if spec.num_classes is None:
        classes = list(range(bundle.num_classes))
    elif spec.num_classes > bundle.num_classes:
        raise GsearchError(
            f"subset asks for {spec.num_classes} classes but dataset {bundle.name!r} "
            f"has {bundle.num_classes}"
        )
    else:
        classes = sorted(rng.sample(range(bundle.num_classes), spec.num_classes))
    label_map = {old: new for new, old in enumerate(classes)}
    train_targets: Sequence[int] = bundle.train.targets  # type: ignore[attr-defined]
    val_targets: Sequence[int] = bundle.val.targets  # type: ignore[attr-defined]
    train_idx = _pick(
        _by_class(train_targets), classes, spec.images_per_class, rng, bundle, "training"
    )
    val_idx = _pick(
        _by_class(val_targets), classes, spec.val_images_per_class, rng, bundle, "validation"
    )
    return replace(
        bundle,
        train=RelabelledSubset(bundle.train, train_idx, label_map),
        val=RelabelledSubset(bundle.val, val_idx, label_map),
        num_classes=len(classes),
        class_names=tuple(bundle.class_names[c] for c in classes),
    )
