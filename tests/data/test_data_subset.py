from __future__ import annotations

from collections import Counter

import pytest

from gsearch.data import SubsetSpec, apply_subset, get_dataset
from gsearch.errors import GsearchError


def test_subset_is_deterministic_for_a_seed_and_varies_with_it() -> None:
    data = get_dataset("digits")
    spec = SubsetSpec(num_classes=4, images_per_class=20, val_images_per_class=5, seed=11)
    a, b = apply_subset(data, spec), apply_subset(data, spec)
    assert a.train.indices == b.train.indices  # type: ignore[attr-defined]
    assert a.class_names == b.class_names
    c = apply_subset(data, SubsetSpec(num_classes=4, images_per_class=20, seed=12))
    assert c.train.indices != a.train.indices  # type: ignore[attr-defined]
    assert Counter(a.train.targets) == {0: 20, 1: 20, 2: 20, 3: 20}  # type: ignore[attr-defined]
    assert Counter(a.val.targets) == {0: 5, 1: 5, 2: 5, 3: 5}  # type: ignore[attr-defined]


def test_subset_relabels_consistently_with_class_names() -> None:
    data = get_dataset("digits")
    small = apply_subset(data, SubsetSpec(num_classes=3, images_per_class=4, seed=1))
    for index in range(small.train_size):
        _, label = small.train[index]
        original = data.train.targets[small.train.indices[index]]  # type: ignore[attr-defined]
        assert small.class_names[label] == data.class_names[original]


def test_empty_spec_keeps_everything() -> None:
    data = get_dataset("digits")
    assert apply_subset(data, SubsetSpec(seed=5)) is data
    assert apply_subset(data, None) is data


def test_too_many_classes_names_both_numbers() -> None:
    data = get_dataset("digits")
    with pytest.raises(GsearchError, match="asks for 100 classes but dataset 'digits' has 10"):
        apply_subset(data, SubsetSpec(num_classes=100))


def test_too_many_images_names_both_numbers() -> None:
    data = get_dataset("digits")
    with pytest.raises(
        GsearchError, match=r"asks for 500 training images per class but class '\d' .* has 14\d"
    ):
        apply_subset(data, SubsetSpec(images_per_class=500))
    with pytest.raises(GsearchError, match="asks for 40 validation images per class"):
        apply_subset(data, SubsetSpec(val_images_per_class=40))
    with pytest.raises(GsearchError, match="images_per_class must be >= 1"):
        apply_subset(data, SubsetSpec(images_per_class=0))
