"""``train``: one run of a recipe, made of named phases.

prepare (optimiser, scaler, data order) -> resume (a checkpoint of the same run, or a
fresh seed) -> for each epoch: epoch (the steps), evaluate (on the last epoch, or every
one), checkpoint (atomic, after every epoch) -> finish (the metrics).

Started again with the same checkpoint folder, a killed run continues from its last
completed epoch (same weights, optimiser state, RNG state and data order).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Sampler

from gsearch.data import DatasetBundle
from gsearch.errors import GsearchError
from gsearch.models import init_residuals_as_identity
from gsearch.progress import progress_bar
from gsearch.training.averaging import WeightAverage
from gsearch.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    load_checkpoint,
    rng_state,
    run_key,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from gsearch.training.evaluate import autocast, clean_loader_errors, evaluate
from gsearch.training.recipes import Recipe
from gsearch.training.results import EpochRecord, TrainMetrics
from gsearch.training.schedule import advance, lr_scheduler


class EpochShuffleSampler(Sampler[int]):
    """Shuffled order fixed by ``(seed, epoch)``, so a resumed run sees the same data."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


@dataclass
class _Run:
    """Everything one call of :func:`train` carries from phase to phase."""

    model: nn.Module
    data: DatasetBundle
    recipe: Recipe
    device: torch.device
    memory_format: torch.memory_format
    key: str
    optimizer: torch.optim.SGD
    scaler: torch.amp.GradScaler
    sampler: EpochShuffleSampler
    loader: DataLoader
    checkpoint: Path | None
    average: WeightAverage | None = None
    scheduler: LambdaLR | None = None
    start_epoch: int = 0
    seconds_before: float = 0.0
    skipped_steps: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    session_start: float = field(default_factory=time.perf_counter)
    top1: float = float("nan")
    top5: float = float("nan")
    val_loss: float = float("nan")

    @property
    def evaluated(self) -> nn.Module:
        return self.model if self.average is None else self.average.model


def train(
    model: nn.Module,
    data: DatasetBundle,
    recipe: Recipe,
    *,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    quiet: bool = False,
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
) -> TrainMetrics:
    """Train ``model`` on ``data`` with ``recipe`` and evaluate it on the validation split.

    Seed the model's initialisation yourself (``torch.manual_seed`` before
    building it); ``recipe.seed`` fixes everything during training.

    Args:
        model: Network whose classifier has ``data.num_classes`` outputs.
        data: Train and validation splits.
        recipe: :data:`~gsearch.training.FULL`, :data:`~gsearch.training.PROXY` or a
            variant (:meth:`Recipe.with_`).
        device: Where to train (``cpu``, ``cuda``, ``cuda:1``).
        checkpoint_dir: Folder for ``last.pt``, written atomically after every
            epoch. If it already holds a checkpoint of the same run, training
            continues from it (a finished run returns its stored metrics).
        quiet: No progress bar (tests, searches).
        on_epoch_end: Called with each completed epoch's record, after its
            checkpoint is written (e.g. to report to Optuna, or to stop).

    Returns:
        Validation top-1/top-5 after the last epoch, timings and history.

    Raises:
        GsearchError: Invalid recipe, an empty split, a corrupt image (named),
            or a checkpoint folder that belongs to a different run.
    """
    run = _prepare(model, data, recipe, torch.device(device), checkpoint_dir)
    finished = _resume(run)
    if finished is not None:
        return finished
    with _training_progress(run, quiet) as show, clean_loader_errors():
        for epoch in range(run.start_epoch, recipe.epochs):
            record = _epoch(run, epoch, show)
            run.history.append(record)
            final = _finish(run) if record.epoch == recipe.epochs else None
            _checkpoint(run, final)
            if on_epoch_end is not None:
                on_epoch_end(record)
            if final is not None:
                return replace(final, history=tuple(run.history))
    raise AssertionError("unreachable: the last epoch returns")


def _prepare(
    model: nn.Module,
    data: DatasetBundle,
    recipe: Recipe,
    device: torch.device,
    checkpoint_dir: str | Path | None,
) -> _Run:
    """Check the inputs; place the model; build optimiser, loss scaler and data order."""
    recipe.validate()
    if data.train_size == 0:
        raise GsearchError(f"training split of dataset {data.name!r} is empty")
    memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
    model.to(device)
    model.to(memory_format=memory_format)
    sampler = EpochShuffleSampler(data.train_size, recipe.seed)
    return _Run(
        model=model,
        data=data,
        recipe=recipe,
        device=device,
        memory_format=memory_format,
        key=run_key(model, data, recipe),
        optimizer=torch.optim.SGD(
            model.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov and recipe.momentum > 0,
            weight_decay=recipe.weight_decay,
        ),
        scaler=torch.amp.GradScaler(device.type, enabled=recipe.amp == "fp16"),
        sampler=sampler,
        loader=DataLoader(
            data.train,
            batch_size=recipe.batch_size,
            sampler=sampler,
            drop_last=data.train_size >= recipe.batch_size,
            num_workers=recipe.num_workers,
            pin_memory=device.type == "cuda",
            persistent_workers=recipe.num_workers > 0,
        ),
        checkpoint=None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME,
    )


def _resume(run: _Run) -> TrainMetrics | None:
    """Continue from a checkpoint of the same run, or seed a fresh one.

    Returns the stored metrics when the checkpointed run had already finished.
    """
    state: dict[str, Any] | None = None
    if run.checkpoint is not None and run.checkpoint.exists():
        state = load_checkpoint(run.checkpoint, run.key)
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"], run.device)
        run.start_epoch = state["epoch"]
        run.seconds_before = state["seconds"]
        run.skipped_steps = state["skipped_steps"]
        run.history = [EpochRecord(**record) for record in state["history"]]
        if state.get("final") is not None:
            return replace(
                TrainMetrics(**state["final"], history=tuple(run.history)),
                resumed_from_epoch=run.start_epoch,
            )
    else:
        seed_everything(run.recipe.seed)
        if run.recipe.zero_init_residual:
            init_residuals_as_identity(run.model)
    if run.recipe.ema_decay is not None:
        run.average = WeightAverage(run.model, run.recipe.ema_decay)
        if state is not None:
            run.average.model.load_state_dict(state["average"])
    steps_per_epoch = len(run.loader)
    run.scheduler = lr_scheduler(
        run.optimizer, run.recipe, steps_per_epoch, run.start_epoch * steps_per_epoch
    )
    return None


Show = Callable[..., None]


def _epoch(run: _Run, epoch: int, show: Show) -> EpochRecord:
    """One pass over the training split; evaluates too when the recipe asks."""
    recipe, device, model = run.recipe, run.device, run.model
    assert run.scheduler is not None
    run.sampler.set_epoch(epoch)
    model.train()
    show(description=f"{recipe.name} epoch {epoch + 1}/{recipe.epochs}")
    loss_sum, correct, seen = 0.0, 0, 0
    lr = recipe.lr
    epoch_start = time.perf_counter()
    for images, labels in run.loader:
        lr = run.optimizer.param_groups[0]["lr"]
        images = images.to(device, non_blocking=True, memory_format=run.memory_format)
        labels = labels.to(device, non_blocking=True)
        with autocast(device, recipe.amp):
            logits = model(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=recipe.label_smoothing)
        run.optimizer.zero_grad(set_to_none=True)
        if _backward_and_step(loss, model, run.optimizer, run.scaler, recipe.grad_clip_norm):
            if run.average is not None:
                run.average.update()
            batch = labels.numel()
            loss_sum += loss.item() * batch
            correct += int((logits.argmax(1) == labels).sum())
            seen += batch
        else:
            run.skipped_steps += 1
        advance(run.scheduler)
        elapsed = time.perf_counter() - epoch_start
        show(
            advance=1,
            loss=loss_sum / seen if seen else 0.0,
            acc=100.0 * correct / seen if seen else 0.0,
            ips=seen / max(elapsed, 1e-9),
        )
        del logits, loss
    epoch_s = time.perf_counter() - epoch_start
    evaluated = epoch + 1 == recipe.epochs or recipe.eval_each_epoch
    if evaluated:
        _evaluate(run)
    return EpochRecord(
        epoch=epoch + 1,
        train_loss=loss_sum / max(seen, 1),
        train_top1=100.0 * correct / max(seen, 1),
        lr=lr,
        seconds=epoch_s,
        images_per_second=seen / max(epoch_s, 1e-9),
        top1=run.top1 if evaluated else None,
        top5=run.top5 if evaluated else None,
    )


def _evaluate(run: _Run) -> None:
    """Validation metrics of the evaluated network (the average, its statistics re-measured)."""
    recipe = run.recipe
    if run.average is not None:
        run.average.recalibrate(
            run.loader, run.device, run.memory_format, autocast(run.device, recipe.amp)
        )
    run.top1, run.top5, run.val_loss = evaluate(
        run.evaluated,
        run.data,
        device=run.device,
        batch_size=recipe.eval_batch_size,
        amp=recipe.amp,
        channels_last=recipe.channels_last,
        num_workers=recipe.num_workers,
    )


def _seconds(run: _Run) -> float:
    return run.seconds_before + time.perf_counter() - run.session_start


def _finish(run: _Run) -> TrainMetrics:
    """The run's metrics after its last epoch (history attached by the caller)."""
    step_s = sum(r.seconds for r in run.history)
    images_trained = sum(r.images_per_second * r.seconds for r in run.history)
    return TrainMetrics(
        top1=run.top1,
        top5=run.top5,
        val_loss=run.val_loss,
        train_loss=run.history[-1].train_loss,
        epochs=run.recipe.epochs,
        seconds=_seconds(run),
        images_per_second=images_trained / max(step_s, 1e-9),
        resumed_from_epoch=run.start_epoch,
        skipped_steps=run.skipped_steps,
    )


def _checkpoint(run: _Run, final: TrainMetrics | None) -> None:
    """Write the run's state after an epoch (with the final metrics after the last)."""
    if run.checkpoint is None:
        return
    final_state = None
    if final is not None:
        final_state = asdict(final)
        final_state.pop("history")
    save_checkpoint(
        {
            "format": CHECKPOINT_FORMAT,
            "run_key": run.key,
            "epoch": run.history[-1].epoch,
            "seconds": final.seconds if final is not None else _seconds(run),
            "skipped_steps": run.skipped_steps,
            "model": run.model.state_dict(),
            "average": None if run.average is None else run.average.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scaler": run.scaler.state_dict(),
            "rng": rng_state(run.device),
            "history": [asdict(r) for r in run.history],
            "final": final_state,
        },
        run.checkpoint,
    )


@contextlib.contextmanager
def _training_progress(run: _Run, quiet: bool) -> Iterator[Show]:
    bar = progress_bar(
        "loss {task.fields[loss]:.3f}",
        "acc {task.fields[acc]:5.1f}%",
        "{task.fields[ips]:7.0f} img/s",
        quiet=quiet,
        remaining=True,
    )
    with bar:
        total = (run.recipe.epochs - run.start_epoch) * len(run.loader)
        task = bar.add_task("train", total=total, loss=0.0, acc=0.0, ips=0.0)
        yield lambda **fields: bar.update(task, **fields)


def _backward_and_step(
    loss: torch.Tensor,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    grad_clip_norm: float | None,
) -> bool:
    """One optimiser step; False when it was skipped for a non-finite loss or gradient.

    With fp16 loss scaling, overflowing gradients are the scaler's business
    (it skips the step and lowers the scale); they are not counted here.
    """
    if not torch.isfinite(loss):
        return False
    scaler.scale(loss).backward()
    if grad_clip_norm is not None:
        scaler.unscale_(optimizer)
        norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
        if not scaler.is_enabled() and not torch.isfinite(norm):
            optimizer.zero_grad(set_to_none=True)
            return False
    scaler.step(optimizer)
    scaler.update()
    return True
