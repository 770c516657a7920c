from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from gsearch.data import get_dataset
from gsearch.errors import GsearchError


def test_loads_imagefolder_layout_with_paper_transforms(imagenet_root: Path) -> None:
    data = get_dataset("imagenet", imagenet_root, resolution=24)
    assert data.class_names == ("n01440764", "n01443537", "n01484850")
    assert (data.train_size, data.val_size, data.num_classes) == (12, 6, 3)
    image, label = data.train[5]
    assert image.shape == (3, 24, 24) and label == 1
    assert data.val.targets == [0, 0, 1, 1, 2, 2]  # type: ignore[attr-defined]
    # Validation is deterministic (resize + centre crop), training is random.
    assert torch.equal(data.val[0][0], data.val[0][0])
    torch.manual_seed(0)
    crops = [data.train[0][0] for _ in range(4)]
    assert any(not torch.equal(crops[0], other) for other in crops[1:])


def test_val_resize_ratio_follows_the_paper() -> None:
    from gsearch.data.transforms import resize_side_for

    assert resize_side_for(224) == 256
    assert resize_side_for(112) == 128


def test_no_root_names_the_layout() -> None:
    with pytest.raises(GsearchError, match=r"needs a data root laid out as ROOT/train/<wnid>"):
        get_dataset("imagenet")


def test_missing_root_is_one_line_naming_the_layout(tmp_path: Path) -> None:
    with pytest.raises(GsearchError) as info:
        get_dataset("imagenet", tmp_path / "nowhere")
    message = str(info.value)
    assert "\n" not in message
    assert "nowhere does not exist" in message and "ROOT/val/<wnid>" in message


def test_missing_val_folder_is_named(imagenet_root: Path) -> None:
    shutil.rmtree(imagenet_root / "val")
    with pytest.raises(GsearchError, match=r"missing folder .*imagenet/val;"):
        get_dataset("imagenet", imagenet_root)


def test_missing_val_class_folder_is_named(imagenet_root: Path) -> None:
    shutil.rmtree(imagenet_root / "val" / "n01443537")
    with pytest.raises(GsearchError, match=r"missing folder .*val/n01443537;"):
        get_dataset("imagenet", imagenet_root)


def test_flat_val_folder_gets_a_hint(imagenet_root: Path) -> None:
    val = imagenet_root / "val"
    for image in list(val.rglob("*.JPEG")):
        image.rename(val / image.name)
    for folder in [p for p in val.iterdir() if p.is_dir()]:
        folder.rmdir()
    with pytest.raises(GsearchError, match="missing folder .*val/n01440764"):
        get_dataset("imagenet", imagenet_root)
    shutil.rmtree(imagenet_root / "train")
    (imagenet_root / "train").mkdir()
    (imagenet_root / "val").rename(imagenet_root / "train_flat")
    shutil.copytree(imagenet_root / "train_flat", imagenet_root / "train", dirs_exist_ok=True)
    with pytest.raises(GsearchError, match="6 loose images: sort them into <class> folders"):
        get_dataset("imagenet", imagenet_root)


def test_empty_class_folder_is_named(imagenet_root: Path) -> None:
    for image in (imagenet_root / "train" / "n01484850").iterdir():
        image.unlink()
    with pytest.raises(GsearchError, match=r"no images .* in .*train/n01484850"):
        get_dataset("imagenet", imagenet_root)


def test_corrupt_image_is_named_before_any_work(imagenet_root: Path) -> None:
    bad = imagenet_root / "train" / "n01443537" / "n01443537_2.JPEG"
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(
        GsearchError, match=r"corrupt or unreadable image .*n01443537_2\.JPEG.*--skip-corrupt"
    ) as info:
        get_dataset("imagenet", imagenet_root, resolution=16)
    assert "\n" not in str(info.value)


def test_a_split_that_skipping_empties_is_an_error(imagenet_root: Path) -> None:
    for image in (imagenet_root / "val").rglob("*.JPEG"):
        image.write_bytes(b"not a jpeg")
    with pytest.raises(
        GsearchError, match="the val split of imagenet holds no image after leaving out"
    ):
        get_dataset("imagenet", imagenet_root, resolution=16, skip_corrupt=True)


def test_a_file_given_as_data_root(tmp_path: Path) -> None:
    root = tmp_path / "imagenet.tar"
    root.write_bytes(b"x")
    with pytest.raises(GsearchError, match="data root .*imagenet.tar is a file, not a folder"):
        get_dataset("imagenet", root)


def test_skip_corrupt_drops_and_counts(imagenet_root: Path) -> None:
    bad = imagenet_root / "train" / "n01443537" / "n01443537_2.JPEG"
    bad.write_bytes(bad.read_bytes()[:200])
    (imagenet_root / "val" / "n01440764" / "ILSVRC2012_val_00.JPEG").write_bytes(b"not a jpeg")
    data = get_dataset("imagenet", imagenet_root, resolution=16, skip_corrupt=True)
    assert len(data.skipped_files) == 2
    assert data.skipped_files[0].endswith("n01443537_2.JPEG")
    assert (data.train_size, data.val_size) == (11, 5)
    for index in range(data.train_size):
        data.train[index]
