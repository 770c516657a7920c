from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.datasets import Food101

from gsearch.data import get_dataset
from gsearch.errors import GsearchError


def test_matches_torchvision_food101_on_the_same_folder(food101_root: Path) -> None:
    data = get_dataset("food101", food101_root, resolution=20)
    assert data.class_names == ("apple_pie", "baby_back_ribs")
    assert (data.train_size, data.val_size, data.num_classes) == (6, 4, 2)
    for split, ours in (("train", data.train), ("test", data.val)):
        reference = Food101(str(food101_root), split=split, download=False)
        assert [str(p) for p, _ in ours.samples] == [str(p) for p in reference._image_files]  # type: ignore[attr-defined]
        assert ours.targets == reference._labels  # type: ignore[attr-defined]
    image, label = data.val[3]
    assert image.shape == (3, 20, 20) and label == 1
    assert torch.equal(data.val[3][0], image)


def test_missing_meta_file_is_named(food101_root: Path) -> None:
    (food101_root / "food-101" / "meta" / "test.json").unlink()
    with pytest.raises(
        GsearchError, match=r"missing file .*meta/test\.json; expected ROOT/food-101"
    ):
        get_dataset("food101", food101_root)


def test_root_without_food101_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(GsearchError, match=r"missing folder .*/food-101;"):
        get_dataset("food101", tmp_path)
    with pytest.raises(GsearchError, match="does not exist"):
        get_dataset("food101", tmp_path / "absent")
    with pytest.raises(GsearchError, match="needs a data root"):
        get_dataset("food101")


def test_first_missing_listed_image_is_named(food101_root: Path) -> None:
    meta = food101_root / "food-101" / "meta" / "train.json"
    listing = json.loads(meta.read_text())
    listing["baby_back_ribs"].append("baby_back_ribs/999")
    meta.write_text(json.dumps(listing))
    with pytest.raises(GsearchError, match=r"missing file .*baby_back_ribs/999\.jpg \(listed in"):
        get_dataset("food101", food101_root)


def test_malformed_json_is_named(food101_root: Path) -> None:
    (food101_root / "food-101" / "meta" / "train.json").write_text("{not json")
    with pytest.raises(GsearchError, match=r"cannot read .*train\.json"):
        get_dataset("food101", food101_root)


def test_corrupt_image_named_or_skipped(food101_root: Path) -> None:
    bad = food101_root / "food-101" / "images" / "apple_pie" / "1000.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(GsearchError, match=r"corrupt or unreadable image .*apple_pie/1000\.jpg"):
        get_dataset("food101", food101_root, resolution=16)
    kept = get_dataset("food101", food101_root, resolution=16, skip_corrupt=True)
    assert kept.skipped_files == (str(bad),)
    assert kept.train_size == 5
