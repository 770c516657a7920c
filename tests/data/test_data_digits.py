from __future__ import annotations

from collections import Counter

import torch

from gsearch.data import get_dataset


def test_digits_split_sizes_shapes_and_stratification() -> None:
    data = get_dataset("digits")
    assert (data.train_size, data.val_size, data.num_classes, data.resolution) == (
        1437,
        360,
        10,
        32,
    )
    image, label = data.train[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0 <= label < 10
    val_counts = Counter(data.val.targets)  # type: ignore[attr-defined]
    # Stratified 20%: every digit has 35-37 of its ~180 images in validation.
    assert set(val_counts) == set(range(10))
    assert all(35 <= n <= 37 for n in val_counts.values())


def test_digits_split_is_fixed_and_disjoint() -> None:
    a, b = get_dataset("digits"), get_dataset("digits")
    assert torch.equal(a.train.images, b.train.images)  # type: ignore[attr-defined]
    train_rows = {tuple(x.flatten().tolist()) for x in a.train.images[:, 0, ::4, ::4]}  # type: ignore[attr-defined]
    val_rows = {tuple(x.flatten().tolist()) for x in a.val.images[:, 0, ::4, ::4]}  # type: ignore[attr-defined]
    # The sklearn set holds a few exact duplicates; the split itself never repeats an index.
    assert len(train_rows & val_rows) < 5


def test_digits_channels_equal_and_normalised() -> None:
    data = get_dataset("digits", resolution=16)
    images = data.train.images  # type: ignore[attr-defined]
    assert images.shape == (1437, 3, 16, 16)
    assert torch.equal(images[:, 0], images[:, 2])
    assert abs(float(images.mean())) < 1e-4
    assert abs(float(images.std()) - 1.0) < 1e-3
