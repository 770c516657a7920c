"""Dataset registry: ``digits`` (embedded default), ``imagenet``, ``food101``, ``synthetic``.

>>> data = get_dataset("digits")            # no download, 10 classes, 32x32
>>> data.train_size, data.val_size, data.num_classes
(1437, 360, 10)

:func:`get_dataset` returns a :class:`DatasetBundle` holding both splits
(``bundle.train``, ``bundle.val``, or ``bundle.split("val")``) and the number
of classes, so a caller builds the model with ``num_classes=bundle.num_classes``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gsearch.data.bundle import DatasetBundle, LabelledDataset
from gsearch.data.digits import load_digits
from gsearch.data.food101 import LAYOUT as FOOD101_LAYOUT
from gsearch.data.food101 import load_food101
from gsearch.data.imagenet import LAYOUT as IMAGENET_LAYOUT
from gsearch.data.imagenet import load_imagenet
from gsearch.data.images import check_readable, split_image_paths
from gsearch.data.subset import SubsetSpec, apply_subset
from gsearch.data.synthetic import load_synthetic
from gsearch.errors import DataError, GsearchError
from gsearch.paths import check_path

DEFAULT_DATASET = "digits"


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about a dataset before loading it.

    Attributes:
        name: Registry name.
        builder: ``builder(root, resolution, skip_corrupt, **options) -> DatasetBundle``.
        needs_root: Whether a data root must be given.
        default_resolution: Resolution of the full recipe (the paper's 224 for images).
        proxy_resolution: Reduced resolution a proxy trains at.
        proxy_subset: Subset a proxy trains on (``SubsetSpec()`` is everything).
        description: One line for ``--help`` and listings.
        layout: What a data root holds (``ROOT/train/<class>/...``), for the messages
            about a missing or wrong root; empty where no root is read.
    """

    name: str
    builder: Callable[..., DatasetBundle]
    needs_root: bool
    default_resolution: int
    proxy_resolution: int
    proxy_subset: SubsetSpec
    description: str
    layout: str = ""


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add a dataset to the registry.

    Raises:
        ValueError: The name is already registered.
    """
    if info.name in _REGISTRY:
        raise ValueError(f"dataset {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def list_datasets() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(_REGISTRY)


def dataset_info(name: str) -> DatasetInfo:
    """Registry entry of ``name``.

    Raises:
        GsearchError: Unknown name; the message lists the known ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GsearchError(
            f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}"
        ) from None


def get_dataset(
    name: str = DEFAULT_DATASET,
    root: str | Path | None = None,
    *,
    resolution: int | None = None,
    subset: SubsetSpec | None = None,
    skip_corrupt: bool = False,
    **options: Any,
) -> DatasetBundle:
    """Load both splits of a registered dataset.

    Args:
        name: ``digits`` (default, embedded), ``imagenet``, ``food101`` or ``synthetic``.
        root: Data root for datasets on disk (ignored by ``digits`` and ``synthetic``).
        resolution: Image side in pixels; ``None`` is the dataset's default
            (32 for digits and synthetic, 224 for imagenet and food101).
        subset: Classes and images per class to keep (deterministic for its seed).
        skip_corrupt: For datasets on disk, decode every image up front and
            leave out unreadable ones (``bundle.skipped_files``) instead of
            failing when one is loaded.
        **options: Dataset-specific keywords (synthetic: ``num_classes``,
            ``train_size``, ``val_size``, ``seed``).

    Raises:
        GsearchError: Unknown dataset, missing root or wrong layout, a subset
            larger than the dataset, or a bad option.
    """
    info = dataset_info(name)
    side = info.default_resolution if resolution is None else resolution
    if side < 1:
        raise GsearchError(f"resolution must be >= 1 pixel, got {side}")
    try:
        inspect.signature(info.builder).bind(root, side, skip_corrupt, **options)
    except TypeError as exc:
        raise GsearchError(f"bad option for dataset {name!r}: {exc}") from None
    bundle = apply_subset(info.builder(root, side, skip_corrupt, **options), subset)
    check_splits(bundle, skip_corrupt)
    return bundle


def check_data_root(name: str, root: str | Path | None) -> None:
    """Refuse a missing data root, or a file given as one, before any work starts."""
    info = dataset_info(name)
    if not info.needs_root:
        return
    expected = f"; expected {info.layout}" if info.layout else ""
    if root is None or not str(root).strip():
        raise DataError(f"dataset {name!r} needs a data root: pass --data-root FOLDER{expected}")
    check_path(root, "data root")
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise DataError(f"data root {path} is a file, not a folder{expected}")
    if not path.exists():
        raise DataError(f"data root {path} does not exist{expected}")


def check_splits(bundle: DatasetBundle, skip_corrupt: bool) -> None:
    """Both splits hold images, and (unless they were already decoded to skip corrupt
    ones) every image file they read decodes: found now, not in the middle of a trial."""
    for split_name in ("train", "val"):
        split = bundle.split(split_name)
        if len(split) == 0:  # type: ignore[arg-type]
            skipped = len(bundle.skipped_files)
            why = f" after leaving out {skipped} unreadable images" if skipped else ""
            raise DataError(f"the {split_name} split of {bundle.name} holds no image{why}")
        paths = split_image_paths(split)
        if paths and not skip_corrupt:
            check_readable(paths)


def _digits(root: Any, resolution: int, skip_corrupt: bool) -> DatasetBundle:
    return load_digits(resolution)


def _synthetic(
    root: Any,
    resolution: int,
    skip_corrupt: bool,
    num_classes: int = 10,
    train_size: int = 512,
    val_size: int = 128,
    seed: int = 0,
) -> DatasetBundle:
    return load_synthetic(resolution, num_classes, train_size, val_size, seed)


def _imagenet(root: str | Path | None, resolution: int, skip_corrupt: bool) -> DatasetBundle:
    return load_imagenet(root, resolution, skip_corrupt)


def _food101(root: str | Path | None, resolution: int, skip_corrupt: bool) -> DatasetBundle:
    return load_food101(root, resolution, skip_corrupt)


register_dataset(
    DatasetInfo(
        "digits",
        _digits,
        needs_root=False,
        default_resolution=32,
        # The images are 8x8 at heart, so 16 loses nothing and costs 0.42-0.56x of 32
        # per epoch: the proxy buys more epochs with it (BENCHMARKS.md, proxy-fidelity).
        proxy_resolution=16,
        proxy_subset=SubsetSpec(),
        description="scikit-learn digits, 1,797 real 8x8 images, 10 classes (embedded)",
    )
)
register_dataset(
    DatasetInfo(
        "imagenet",
        _imagenet,
        needs_root=True,
        default_resolution=224,
        proxy_resolution=128,
        # ImageNet-100-sized proxy: 100 classes x 260 images, 2% of the training images.
        proxy_subset=SubsetSpec(num_classes=100, images_per_class=260),
        description="ImageNet-1K in ImageFolder layout (root/train, root/val)",
        layout=IMAGENET_LAYOUT,
    )
)
register_dataset(
    DatasetInfo(
        "food101",
        _food101,
        needs_root=True,
        default_resolution=224,
        proxy_resolution=128,
        proxy_subset=SubsetSpec(images_per_class=250),
        description="Food-101 in torchvision layout (root/food-101/images, meta)",
        layout=FOOD101_LAYOUT,
    )
)
register_dataset(
    DatasetInfo(
        "synthetic",
        _synthetic,
        needs_root=False,
        default_resolution=32,
        proxy_resolution=32,
        proxy_subset=SubsetSpec(),
        description="random noise, for speed and smoke tests only (no accuracy meaning)",
    )
)

__all__ = [
    "DEFAULT_DATASET",
    "DatasetBundle",
    "DatasetInfo",
    "LabelledDataset",
    "SubsetSpec",
    "apply_subset",
    "dataset_info",
    "get_dataset",
    "list_datasets",
    "register_dataset",
]
