"""What a training run returns: one record per epoch, the run's metrics, a seed summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EpochRecord:
    """One completed epoch.

    Attributes:
        epoch: 1-based epoch number.
        train_loss: Mean training loss over the epoch.
        train_top1: Training top-1 over the epoch, percent.
        lr: Learning rate at the epoch's last step.
        seconds: Wall seconds of the epoch's training steps.
        images_per_second: Training throughput of the epoch.
        top1: Validation top-1 in percent (``None`` when not evaluated).
        top5: Validation top-5 in percent (``None`` when not evaluated).
    """

    epoch: int
    train_loss: float
    train_top1: float
    lr: float
    seconds: float
    images_per_second: float
    top1: float | None = None
    top5: float | None = None


@dataclass(frozen=True)
class TrainMetrics:
    """Result of :func:`train`.

    Attributes:
        top1: Validation top-1 after the last epoch, percent.
        top5: Validation top-5 after the last epoch, percent (100 with < 5 classes).
        val_loss: Validation cross-entropy (without label smoothing).
        train_loss: Mean training loss of the last epoch.
        epochs: Epochs completed.
        seconds: Wall seconds of training and evaluation, summed over resumed sessions.
        images_per_second: Training images per second of the training steps.
        resumed_from_epoch: Epochs already done when this call started (0: fresh run).
        skipped_steps: Steps skipped because the loss or gradients were not finite.
        history: One record per epoch.
    """

    top1: float
    top5: float
    val_loss: float
    train_loss: float
    epochs: int
    seconds: float
    images_per_second: float
    resumed_from_epoch: int = 0
    skipped_steps: int = 0
    history: tuple[EpochRecord, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True)
class SeedSummary:
    """Proxy trained with several seeds: :func:`train_proxy_seeds`.

    Attributes:
        median_top1: Median validation top-1 over the seeds, percent.
        spread_top1: Max minus min top-1 over the seeds, points.
        seeds: The seeds, in order.
        top1s: Top-1 of each seed, percent.
        runs: Full metrics of each seed.
        seconds: Wall seconds of all seeds together.
    """

    median_top1: float
    spread_top1: float
    seeds: tuple[int, ...]
    top1s: tuple[float, ...]
    runs: tuple[TrainMetrics, ...] = field(repr=False)
    seconds: float
