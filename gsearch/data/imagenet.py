"""ImageNet-1K (or any dataset) in ImageFolder layout: ROOT/{train,val}/<class>/<image>.

Class folders are sorted by name (the WordNet ids for ImageNet) and numbered
in that order; the validation split must have a folder for every training
class. The official validation archive is flat (val/*.JPEG): sort it into
class folders first, as torchvision's ImageNet preparation does.

Not torchvision's ``ImageFolder``: it finds the classes of each split on its own (a
validation split with a missing or extra class folder would be renumbered silently), and
its errors do not say which layout is expected; the samples feed the corrupt-image checks.
"""

from __future__ import annotations

import os
from pathlib import Path

from gsearch.data.bundle import DatasetBundle
from gsearch.data.images import IMAGE_EXTENSIONS, image_file_bundle, image_files_in
from gsearch.errors import DataError, GsearchError

LAYOUT = "ROOT/train/<wnid>/*.JPEG and ROOT/val/<wnid>/*.JPEG (ImageFolder layout)"


def _class_folders(split_dir: Path) -> list[str]:
    with os.scandir(split_dir) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir())


def _require_dir(path: Path) -> None:
    if not path.is_dir():
        raise GsearchError(f"missing folder {path}; expected {LAYOUT}")


def scan_image_folder(
    root: Path, classes: list[str] | None = None
) -> tuple[list[str], list[tuple[Path, int]]]:
    """List ``(path, label)`` samples of one split folder.

    Args:
        root: The split folder (``ROOT/train`` or ``ROOT/val``).
        classes: Class folders that must be present (the training classes);
            ``None`` reads them from ``root``.

    Returns:
        The class names and the samples, sorted by class then file name.

    Raises:
        GsearchError: A folder is missing, holds no images, or ``root`` has
            loose images instead of class folders.
    """
    _require_dir(root)
    found = _class_folders(root)
    if classes is None:
        if not found:
            loose = image_files_in(root)
            hint = (
                f"; it holds {len(loose)} loose images: sort them into <class> folders"
                if loose
                else ""
            )
            raise GsearchError(f"no class folders in {root}{hint}; expected {LAYOUT}")
        classes = found
    else:
        present = set(found)
        for name in classes:
            if name not in present:
                raise GsearchError(f"missing folder {root / name}; expected {LAYOUT}")
        extra = sorted(set(found) - set(classes))
        if extra:
            raise GsearchError(
                f"class folder {root / extra[0]} has no counterpart in the training split"
            )
    samples: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        files = image_files_in(root / name)
        if not files:
            raise GsearchError(
                f"no images ({', '.join(IMAGE_EXTENSIONS[:3])}, ...) in {root / name}"
            )
        samples.extend((path, label) for path in files)
    return classes, samples


def load_imagenet(
    root: str | Path | None, resolution: int = 224, skip_corrupt: bool = False
) -> DatasetBundle:
    """Build the train/val splits of an ImageFolder dataset with the paper's transforms.

    Args:
        root: Folder holding ``train/`` and ``val/``.
        resolution: Crop side in pixels (224 in the paper).
        skip_corrupt: Decode every image once and leave out unreadable ones
            (listed in ``skipped_files``); otherwise a corrupt image raises
            :class:`GsearchError` naming it when it is loaded.

    Raises:
        GsearchError: No root, a missing root, or a wrong layout (the message
            names the first missing folder).
    """
    if root is None:
        raise GsearchError(f"dataset 'imagenet' needs a data root laid out as {LAYOUT}")
    base = Path(root)
    if base.exists() and not base.is_dir():
        raise DataError(f"data root {base} is a file, not a folder; expected {LAYOUT}")
    if not base.is_dir():
        raise DataError(f"data root {base} does not exist; expected {LAYOUT}")
    classes, train_samples = scan_image_folder(base / "train")
    _, val_samples = scan_image_folder(base / "val", classes)
    return image_file_bundle(
        "imagenet", classes, train_samples, val_samples, resolution, skip_corrupt
    )
