from __future__ import annotations

import pytest
import torch

from gsearch.data import (
    DEFAULT_DATASET,
    DatasetInfo,
    SubsetSpec,
    dataset_info,
    get_dataset,
    list_datasets,
    register_dataset,
)
from gsearch.errors import GsearchError


def test_registry_lists_the_four_datasets_and_digits_is_default() -> None:
    assert list_datasets() == ["digits", "food101", "imagenet", "synthetic"]
    assert DEFAULT_DATASET == "digits"
    assert get_dataset().name == "digits"


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(GsearchError, match="unknown dataset 'mnist'.*digits, food101"):
        get_dataset("mnist")


def test_duplicate_registration_is_refused() -> None:
    info = dataset_info("digits")
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(info)
    assert isinstance(info, DatasetInfo)


def test_bad_option_is_a_gsearch_error() -> None:
    with pytest.raises(GsearchError, match="bad option for dataset 'digits'"):
        get_dataset("digits", colour=True)


def test_bad_resolution_is_refused() -> None:
    with pytest.raises(GsearchError, match="resolution must be >= 1"):
        get_dataset("synthetic", resolution=0)


def test_synthetic_is_deterministic_and_sized() -> None:
    a = get_dataset("synthetic", resolution=16, num_classes=4, train_size=10, val_size=6, seed=3)
    b = get_dataset("synthetic", resolution=16, num_classes=4, train_size=10, val_size=6, seed=3)
    assert (a.train_size, a.val_size, a.num_classes, a.resolution) == (10, 6, 4, 16)
    image, label = a.train[5]
    assert image.shape == (3, 16, 16)
    assert label == 1
    assert torch.equal(image, b.train[5][0])
    assert not torch.equal(a.train[0][0], a.val[0][0])
    with pytest.raises(IndexError):
        a.train[10]


def test_split_by_name() -> None:
    data = get_dataset("synthetic", train_size=3, val_size=2)
    assert data.split("train") is data.train
    assert data.split("val") is data.val
    with pytest.raises(GsearchError, match="unknown split 'test'"):
        data.split("test")


def test_subset_through_registry() -> None:
    data = get_dataset("digits", subset=SubsetSpec(num_classes=2, images_per_class=5, seed=7))
    assert data.num_classes == 2
    assert data.train_size == 10
    assert sorted(set(data.train.targets)) == [0, 1]  # type: ignore[attr-defined]
