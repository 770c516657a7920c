"""Food-101 in the layout that ``torchvision.datasets.Food101(root, split, download=False)`` reads.

ROOT/food-101/images/<class>/<id>.jpg, with the split lists in
ROOT/food-101/meta/train.json and test.json (``{class: ["class/id", ...]}``).
The paper's validation split is the official test split (25,250 images).
Classes are the sorted keys of train.json, numbered in that order, as torchvision does.

Not torchvision's ``Food101`` itself: it trusts the lists (a missing image fails mid-run,
not up front) and cannot leave out corrupt images, which the shared checks name and count.
"""

from __future__ import annotations

import json
from pathlib import Path

from gsearch.data.bundle import DatasetBundle
from gsearch.data.images import image_file_bundle
from gsearch.errors import DataError, GsearchError

LAYOUT = (
    "ROOT/food-101/images/<class>/<id>.jpg with ROOT/food-101/meta/train.json and test.json"
    " (torchvision Food101 layout)"
)


def _read_split(
    meta: Path, images: Path, split: str, classes: list[str] | None
) -> tuple[list[str], list[tuple[Path, int]]]:
    path = meta / f"{split}.json"
    if not path.is_file():
        raise GsearchError(f"missing file {path}; expected {LAYOUT}")
    try:
        listing = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GsearchError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(listing, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in listing.values()
    ):
        raise GsearchError(f"{path} is not a JSON object of class -> list of 'class/id' names")
    if classes is None:
        classes = sorted(listing)
        if not classes:
            raise GsearchError(f"{path} lists no classes")
    elif sorted(listing) != classes:
        differing = sorted(set(listing) ^ set(classes))[0]
        raise GsearchError(f"{path} and train.json disagree on class {differing!r}")
    index = {name: label for label, name in enumerate(classes)}
    samples: list[tuple[Path, int]] = []
    for name in classes:
        for rel in listing[name]:
            file = images.joinpath(*f"{rel}.jpg".split("/"))
            if not file.is_file():
                raise GsearchError(f"missing file {file} (listed in {path}); expected {LAYOUT}")
            samples.append((file, index[name]))
    return classes, samples


def load_food101(
    root: str | Path | None, resolution: int = 224, skip_corrupt: bool = False
) -> DatasetBundle:
    """Build Food-101's train/val (official test) splits with the paper's transforms.

    Args:
        root: Folder that holds ``food-101/`` (the ``root`` torchvision takes).
        resolution: Crop side in pixels (224 in the paper).
        skip_corrupt: Decode every image once and leave out unreadable ones.

    Raises:
        GsearchError: No root, a missing root, or a wrong layout (the message
            names the first missing file or folder).
    """
    if root is None:
        raise GsearchError(f"dataset 'food101' needs a data root laid out as {LAYOUT}")
    given = Path(root)
    if given.exists() and not given.is_dir():
        raise DataError(f"data root {given} is a file, not a folder; expected {LAYOUT}")
    if not given.is_dir():
        raise DataError(f"data root {given} does not exist; expected {LAYOUT}")
    base = given / "food-101"
    for folder in (base, base / "meta", base / "images"):
        if not folder.is_dir():
            raise GsearchError(f"missing folder {folder}; expected {LAYOUT}")
    classes, train_samples = _read_split(base / "meta", base / "images", "train", None)
    _, val_samples = _read_split(base / "meta", base / "images", "test", classes)
    return image_file_bundle(
        "food101", classes, train_samples, val_samples, resolution, skip_corrupt
    )
