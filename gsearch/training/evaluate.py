"""Validation of a trained network, and the precision and loader conventions training shares.

:func:`evaluate` gives top-1, top-5 and cross-entropy on the validation split;
:func:`autocast` is the recipe's mixed precision; :func:`clean_loader_errors` turns a
data error raised in a DataLoader worker (a traceback in its message) back into its
one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from gsearch.data import DatasetBundle
from gsearch.errors import GsearchError
from gsearch.training.recipes import Amp


def autocast(device: torch.device, amp: Amp) -> contextlib.AbstractContextManager[Any]:
    """The recipe's mixed precision on ``device`` (a no-op when ``amp`` is ``off``)."""
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def evaluate(
    model: nn.Module,
    data: DatasetBundle,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    amp: Amp = "off",
    channels_last: bool = False,
    num_workers: int = 0,
) -> tuple[float, float, float]:
    """Validation top-1 (percent), top-5 (percent) and mean cross-entropy of ``model``."""
    device = torch.device(device)
    loader = DataLoader(
        data.val,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    k = min(5, data.num_classes)
    correct1 = correct5 = seen = 0
    loss_sum = 0.0
    model.eval()
    with torch.no_grad(), clean_loader_errors():
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                logits = model(images)
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            top = logits.topk(k, dim=1).indices
            hits = top.eq(labels.unsqueeze(1))
            correct1 += int(hits[:, 0].sum())
            correct5 += int(hits.any(dim=1).sum())
            seen += labels.numel()
    if seen == 0:
        raise GsearchError(f"validation split of dataset {data.name!r} is empty")
    return 100.0 * correct1 / seen, 100.0 * correct5 / seen, loss_sum / seen


def _worker_message(exc: GsearchError) -> str:
    """The original one-line message of a GsearchError re-raised from a DataLoader worker."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        prefix = "GsearchError: "
        if prefix in line:
            return line.split(prefix, 1)[1]
    return lines[-1] if lines else "data loading failed"


@contextlib.contextmanager
def clean_loader_errors() -> Iterator[None]:
    try:
        yield
    except GsearchError as exc:
        if "\n" in str(exc):
            raise GsearchError(_worker_message(exc)) from None
        raise
