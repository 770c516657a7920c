"""Image files on disk: the dataset class shared by the ImageNet and Food-101 layouts.

Every file a run will read is decoded once up front, before a study or a trial
starts: a corrupt file is an error naming it or, with ``skip_corrupt=True``, left
out and listed, so that a long training run never meets one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from gsearch.data.bundle import DatasetBundle
from gsearch.data.transforms import ImageTransform, train_transform, val_transform
from gsearch.errors import DataError, GsearchError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

# What PIL raises on truncated, garbled or non-image files.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def load_rgb(path: Path) -> Image.Image:
    """Decode one image file to RGB.

    Raises:
        GsearchError: The file cannot be read or decoded; the message names it.
    """
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except _DECODE_ERRORS as exc:
        raise GsearchError(f"corrupt or unreadable image {path}: {_one_line(exc)}") from None


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` does not decode completely, or None when it does (JPEGs are decoded at
    1/8 scale, which is faster)."""
    try:
        with Image.open(path) as image:
            # draft() scales the DCT but still consumes every entropy-coded byte,
            # so truncated JPEGs are still detected.
            image.draft("RGB", (64, 64))
            image.load()
        return None
    except _DECODE_ERRORS as exc:
        return _one_line(exc)


def is_readable_image(path: Path) -> bool:
    """Whether ``path`` decodes completely."""
    return unreadable_reason(path) is None


def split_image_paths(split: object) -> list[Path] | None:
    """The image files a split reads (through subsets), or None when it reads no files."""
    if isinstance(split, ImageFileDataset):
        return [path for path, _ in split.samples]
    base, indices = getattr(split, "dataset", None), getattr(split, "indices", None)
    if base is None or indices is None:
        return None
    paths = split_image_paths(base)
    return None if paths is None else [paths[i] for i in indices]


def check_readable(paths: Sequence[Path], workers: int | None = None) -> None:
    """Decode every file once, before any work starts; the first unreadable one is an error.

    Raises:
        DataError: A file does not decode; the message names it and the way around it.
    """
    threads = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for path, reason in zip(paths, pool.map(unreadable_reason, paths), strict=True):
            if reason is not None:
                raise DataError(
                    f"corrupt or unreadable image {path}: {reason} "
                    "(--skip-corrupt leaves such files out)"
                )


def drop_corrupt(
    samples: Sequence[tuple[Path, int]], workers: int | None = None
) -> tuple[list[tuple[Path, int]], list[str]]:
    """Decode every file once; return the readable samples and the unreadable paths.

    Args:
        samples: ``(path, label)`` pairs.
        workers: Decoding threads; defaults to the number of CPUs (PIL releases the GIL).
    """
    threads = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=threads) as pool:
        readable = list(pool.map(is_readable_image, (path for path, _ in samples)))
    kept = [sample for sample, ok in zip(samples, readable, strict=True) if ok]
    skipped = [str(path) for (path, _), ok in zip(samples, readable, strict=True) if not ok]
    return kept, skipped


def image_files_in(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    with os.scandir(folder) as entries:
        files = [
            Path(entry.path)
            for entry in entries
            if entry.is_file() and entry.name.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return sorted(files)


class ImageFileDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images read from files, with labels known up front.

    Args:
        samples: ``(path, label)`` pairs, in a fixed order.
        transform: PIL image to CHW float tensor.
    """

    def __init__(self, samples: Sequence[tuple[Path, int]], transform: ImageTransform) -> None:
        self.samples = list(samples)
        self.targets = [label for _, label in self.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(load_rgb(path)), label


def image_file_bundle(
    name: str,
    classes: Sequence[str],
    train_samples: Sequence[tuple[Path, int]],
    val_samples: Sequence[tuple[Path, int]],
    resolution: int,
    skip_corrupt: bool,
) -> DatasetBundle:
    """Train/val splits of image files with the paper's transforms.

    With ``skip_corrupt`` every file is decoded once and unreadable ones are left out
    (listed in ``skipped_files``); otherwise a corrupt image raises when it is loaded.
    """
    skipped: list[str] = []
    if skip_corrupt:
        train_samples, skipped_train = drop_corrupt(train_samples)
        val_samples, skipped_val = drop_corrupt(val_samples)
        skipped = skipped_train + skipped_val
    return DatasetBundle(
        name=name,
        train=ImageFileDataset(list(train_samples), train_transform(resolution)),
        val=ImageFileDataset(list(val_samples), val_transform(resolution)),
        num_classes=len(classes),
        class_names=tuple(classes),
        resolution=resolution,
        skipped_files=tuple(skipped),
    )
