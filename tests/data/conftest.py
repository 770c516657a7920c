"""Tiny datasets written on the fly: real JPEGs in ImageNet and Food-101 layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_jpeg(path: Path, seed: int, size: tuple[int, int] = (40, 30)) -> None:
    """A small real JPEG of smooth random colour (so it compresses like a photo)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(3, 3, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize(size, Image.Resampling.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=90)


@pytest.fixture
def imagenet_root(tmp_path: Path) -> Path:
    """ROOT/{train,val}/<wnid>/*.JPEG with 3 classes, 4 train and 2 val images each."""
    root = tmp_path / "imagenet"
    for c, wnid in enumerate(("n01440764", "n01443537", "n01484850")):
        for i in range(4):
            write_jpeg(root / "train" / wnid / f"{wnid}_{i}.JPEG", seed=100 * c + i)
        for i in range(2):
            write_jpeg(root / "val" / wnid / f"ILSVRC2012_val_{c}{i}.JPEG", seed=1000 + 10 * c + i)
    return root


@pytest.fixture
def food101_root(tmp_path: Path) -> Path:
    """ROOT/food-101/{images,meta}: 2 classes, 3 train and 2 test images each."""
    root = tmp_path / "food"
    base = root / "food-101"
    train: dict[str, list[str]] = {}
    test: dict[str, list[str]] = {}
    for c, name in enumerate(("apple_pie", "baby_back_ribs")):
        for i in range(5):
            image_id = f"{1000 + 37 * i + c}"
            write_jpeg(base / "images" / name / f"{image_id}.jpg", seed=50 * c + i)
            (train if i < 3 else test).setdefault(name, []).append(f"{name}/{image_id}")
    (base / "meta").mkdir(parents=True)
    (base / "meta" / "train.json").write_text(json.dumps(train))
    (base / "meta" / "test.json").write_text(json.dumps(test))
    (base / "meta" / "classes.txt").write_text("apple_pie\nbaby_back_ribs\n")
    return root
