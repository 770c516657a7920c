"""The paper's image transforms, scaled to any resolution.

Training: RandomResizedCrop to ``resolution`` and a horizontal flip.
Validation: resize the short side to ``resolution * 256 / 224`` and take a
single centre crop of ``resolution`` (the paper's single 224 crop of a 256 image).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ImageTransform = Callable[[Image.Image], torch.Tensor]


def resize_side_for(resolution: int) -> int:
    """Short side the validation images are resized to before the centre crop."""
    return round(resolution * 256 / 224)


def train_transform(resolution: int) -> ImageTransform:
    """RandomResizedCrop(resolution) + horizontal flip + ImageNet normalisation."""
    return T.Compose(
        [
            T.RandomResizedCrop(resolution),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def val_transform(resolution: int) -> ImageTransform:
    """Resize(resolution * 256 / 224) + CenterCrop(resolution) + ImageNet normalisation."""
    return T.Compose(
        [
            T.Resize(resize_side_for(resolution)),
            T.CenterCrop(resolution),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
