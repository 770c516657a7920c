"""The embedded default dataset: scikit-learn's handwritten digits, no download.

1,797 real 8x8 grey images of the digits 0-9 (``sklearn.datasets.load_digits``),
upsampled bilinearly to ``resolution`` (32 by default) and repeated to three
channels, so that ImageNet-shaped networks run on them unchanged. The split
is fixed and stratified: 20% validation (360 images, so one image is 0.28
points of top-1), seed 0. Images are kept in memory as one tensor; there is
no augmentation (a flipped digit is another digit).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits as _sklearn_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset

from gsearch.data.bundle import DatasetBundle

VAL_FRACTION = 0.2
SPLIT_SEED = 0


class TensorImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images held as one ``(N, C, H, W)`` float tensor with integer labels."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        if images.shape[0] != targets.shape[0]:
            raise ValueError("images and targets differ in length")
        self.images = images
        self.targets = [int(t) for t in targets.tolist()]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], self.targets[index]


def _to_images(pixels: np.ndarray, resolution: int) -> torch.Tensor:
    grey = torch.from_numpy(pixels.astype(np.float32) / 16.0).unsqueeze(1)
    resized = F.interpolate(grey, size=(resolution, resolution), mode="bilinear")
    return resized.expand(-1, 3, -1, -1).contiguous()


def load_digits(resolution: int = 32) -> DatasetBundle:
    """Build the digits train/val bundle (1,437 / 360 images, 10 classes).

    Args:
        resolution: Side of the square images in pixels.
    """
    raw = _sklearn_digits()
    labels = raw.target.astype(np.int64)
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=VAL_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    train_images = _to_images(raw.images[train_idx], resolution)
    val_images = _to_images(raw.images[val_idx], resolution)
    # Normalise with statistics of the training split only.
    mean, std = train_images.mean(), train_images.std()
    return DatasetBundle(
        name="digits",
        train=TensorImageDataset((train_images - mean) / std, torch.from_numpy(labels[train_idx])),
        val=TensorImageDataset((val_images - mean) / std, torch.from_numpy(labels[val_idx])),
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        resolution=resolution,
    )
