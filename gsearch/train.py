"""Training recipes (``full``, ``proxy``) and the loop that runs them.

``train(model, data, recipe)`` trains ``model`` on a :class:`~gsearch.data.DatasetBundle`,
checkpoints after every epoch and returns :class:`TrainMetrics`. Started again with
the same checkpoint folder, a killed run continues from its last completed epoch
(same weights, optimiser state, RNG state and data order) instead of restarting.

The two recipes:

* ``full`` (:data:`FULL`): the paper's recipe: SGD, Nesterov momentum 0.9, weight
  decay 4e-5, learning rate 0.1 divided by 10 every 30 epochs. The paper gives no
  epoch count and no batch size; we default to 90 epochs (three decays, the usual
  ImageNet length for this schedule) and batch 256.
* ``proxy`` (:data:`PROXY`): a short run that ranks group settings; the same optimiser
  (SGD, Nesterov 0.9, weight decay 4e-5, peak lr 0.1) with a half-epoch warm-up, cosine
  decay and gradient clipping, 9 epochs on the dataset's proxy subset at its reduced
  resolution (16x16 for digits), evaluated on a moving average of its last steps'
  weights (:class:`WeightAverage`). Its settings were chosen by
  measurement (``benchmarks/proxy_fidelity.py``, BENCHMARKS.md section
  "proxy-fidelity"); the reasons are given next to :data:`PROXY`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import random
import statistics
import tempfile
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn
from torch.utils.data import DataLoader, Sampler

from gsearch.data import DatasetBundle, SubsetSpec, dataset_info, get_dataset
from gsearch.errors import GsearchError
from gsearch.paths import safe_name

Amp = Literal["off", "bf16", "fp16"]
Schedule = Literal["step", "cosine"]
Fidelity = Literal["full", "proxy"]

CHECKPOINT_NAME = "last.pt"
_CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, schedule, data size and execution options.

    Attributes:
        name: Short label stored with the results.
        fidelity: ``full`` or ``proxy``; picks the dataset defaults that
            :func:`prepare_data` applies when ``resolution`` or ``subset`` is ``None``.
        epochs: Passes over the training split.
        batch_size: Training batch size.
        lr: Peak learning rate (after warm-up).
        momentum: SGD momentum (Nesterov when ``nesterov``).
        nesterov: Use Nesterov momentum.
        weight_decay: L2 penalty on every parameter.
        schedule: ``step`` (multiply by ``step_gamma`` every ``step_epochs``) or
            ``cosine`` (to zero at the last step).
        step_epochs: Period of the step schedule in epochs.
        step_gamma: Factor of each step.
        warmup_epochs: Linear warm-up from ``lr / steps`` to ``lr`` (may be fractional).
        label_smoothing: Cross-entropy label smoothing.
        grad_clip_norm: Clip the global gradient norm to this value (``None``: off).
        ema_decay: Evaluate an exponential moving average of the weights and BatchNorm
            statistics, updated after every step with this decay (``None``: the last
            weights). Averaging the last steps damps the seed-to-seed noise of a short run.
        zero_init_residual: Start the last BatchNorm of every residual block at
            gamma = 0 (blocks begin as identities); no effect on networks without them.
        resolution: Image side; ``None`` is the dataset's default for this fidelity.
        subset: Part of the dataset; ``None`` is the dataset's default for this fidelity.
        amp: Mixed precision autocast: ``off``, ``bf16`` or ``fp16`` (loss-scaled).
        channels_last: Run the model and inputs in channels-last memory format.
        num_workers: DataLoader worker processes (0: load in the main process).
        seed: Seed of data order, augmentation and any other randomness in training.
        seeds: Seeds of :func:`train_proxy_seeds` (median and spread over them).
        eval_each_epoch: Evaluate on validation after every epoch, not only the last.
        eval_batch_size: Batch size of validation.
    """

    name: str
    fidelity: Fidelity
    epochs: int
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 4e-5
    schedule: Schedule = "step"
    step_epochs: int = 30
    step_gamma: float = 0.1
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    grad_clip_norm: float | None = None
    ema_decay: float | None = None
    zero_init_residual: bool = False
    resolution: int | None = None
    subset: SubsetSpec | None = None
    amp: Amp = "off"
    channels_last: bool = False
    num_workers: int = 0
    seed: int = 0
    seeds: tuple[int, ...] = (0,)
    eval_each_epoch: bool = True
    eval_batch_size: int = 256

    def with_(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` applied (validated)."""
        recipe = replace(self, **changes)
        recipe.validate()
        return recipe

    def validate(self) -> None:
        """Raise :class:`GsearchError` naming the first invalid field."""
        clip, side = self.grad_clip_norm, self.resolution
        checks: list[tuple[bool, str, str]] = [
            (self.fidelity in ("full", "proxy"), "fidelity", "full or proxy"),
            (self.epochs >= 1, "epochs", ">= 1"),
            (self.batch_size >= 1, "batch_size", ">= 1"),
            (self.eval_batch_size >= 1, "eval_batch_size", ">= 1"),
            (self.lr > 0, "lr", "> 0"),
            (self.weight_decay >= 0, "weight_decay", ">= 0"),
            (self.schedule in ("step", "cosine"), "schedule", "step or cosine"),
            (self.step_epochs >= 1, "step_epochs", ">= 1"),
            (0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", "in [0, epochs]"),
            (0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)"),
            (clip is None or clip > 0, "grad_clip_norm", "> 0 or None"),
            (self.ema_decay is None or 0 < self.ema_decay < 1, "ema_decay", "in (0, 1) or None"),
            (side is None or side >= 8, "resolution", ">= 8 pixels or None"),
            (self.amp in ("off", "bf16", "fp16"), "amp", "off, bf16 or fp16"),
            (self.num_workers >= 0, "num_workers", ">= 0"),
            (len(self.seeds) >= 1, "seeds", "at least one seed"),
        ]
        for ok, name, allowed in checks:
            if not ok:
                value = getattr(self, name)
                message = f"{name} must be {allowed}, got {value!r}"
                raise GsearchError(f"recipe {self.name!r}: {message}")


FULL = Recipe(name="full", fidelity="full", epochs=90, batch_size=256, lr=0.1, schedule="step")
"""The paper's recipe (90 epochs and batch 256 are our defaults; the paper states neither)."""

# Chosen with benchmarks/proxy_fidelity.py on digits, MobileNet-V1's 11 paper variants
# (BENCHMARKS.md, proxy-fidelity), one recipe for every policy, no per-variant tuning:
# - The naive proxy (5 epochs at 32x32, one-cycle to lr 0.1, no clipping) ranked noise:
#   seeds of one variant differed by up to 54 points. With a warm-up, the gradient norm
#   clipped at 2 and a cosine decay to zero (the last weights come from a tiny lr, not
#   from mid-jump), 5 epochs gave seed spreads of 0.6-2.8 points on the first 5 variants.
# - But 5 epochs stayed 2.8-4.2 points under the 30-epoch run (G=1, G=4 slowest):
#   undertrained. Reduced resolution buys epochs: digits at 16x16 cost 0.42-0.56x of
#   32x32 per epoch (measured interleaved) and lose nothing (the images are 8x8), so
#   9 epochs at 16 cost about 0.18 of the 30-epoch run. 7 were too few (G=1 median
#   94.7 against 99.2); 10 cost about 0.2 and did not narrow the spread (G=2: 2.5).
# - Label smoothing 0.1 slowed the short run (G=1, 9 epochs: median 95.6, spread 1.7
#   points) against none (median 96.9, spread 0.5), so the proxy goes without it.
# - A half-epoch warm-up leaves more of the short run at the peak lr than a full one.
# - zero_init_residual only touches residual networks (ResNeXt); MobileNet has none.
# - The weights evaluated are an exponential moving average (decay 0.95, about the
#   last 20 steps) with BatchNorm statistics measured afresh for them: the seeds that
#   ended in a weaker spot gain most (G=2 and G=8, seeds 0/1/2: spreads 2.2 -> 1.7
#   points; all 11 variants within 1.9). Averaged BatchNorm statistics without that
#   pass fell to chance at 0.98.
PROXY = Recipe(
    name="proxy",
    fidelity="proxy",
    epochs=9,
    batch_size=64,
    lr=0.1,
    schedule="cosine",
    warmup_epochs=0.5,
    label_smoothing=0.0,
    grad_clip_norm=2.0,
    ema_decay=0.95,
    zero_init_residual=True,
    seeds=(0,),
    eval_each_epoch=False,
)
"""The proxy recipe: a short run that ranks group settings (see BENCHMARKS.md, proxy-fidelity)."""

RECIPES: dict[str, Recipe] = {"full": FULL, "proxy": PROXY}


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """The named recipe (``full`` or ``proxy``) with ``overrides`` applied.

    Raises:
        GsearchError: Unknown name or an invalid override.
    """
    if name not in RECIPES:
        raise GsearchError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    try:
        return RECIPES[name].with_(**overrides)
    except TypeError as exc:
        raise GsearchError(f"bad recipe override: {exc}") from None


def parse_recipe_value(name: str, text: str) -> Any:
    """``text`` read as the type of recipe field ``name``; range checks follow in validate().

    Raises:
        GsearchError: Unknown field, or a value that is not of the field's type.
    """
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    # name and fidelity come from the run; seed from the trial (seeds belong to the trial).
    fixed = {"name", "fidelity", "subset", "seed"}
    if name not in fields or name in fixed:
        settable = sorted(set(fields) - fixed)
        raise GsearchError(f"recipe has no settable field {name!r}; fields: {', '.join(settable)}")
    hint = typing.get_type_hints(Recipe)[name]
    args = typing.get_args(hint)
    if text.lower() == "none" and type(None) in args:
        return None
    kind = next((a for a in args if a is not type(None)), hint) if args else hint
    if typing.get_origin(hint) is tuple:
        kind = tuple
    if typing.get_origin(hint) is typing.Literal:
        if text not in args:
            raise GsearchError(
                f"recipe field {name}: expected one of {', '.join(args)}, got {text!r}"
            )
        return text
    try:
        if kind is tuple:
            values = tuple(int(part) for part in text.split(","))
            if len(set(values)) != len(values):
                raise ValueError
            return values
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        expected = {
            bool: "true or false",
            int: "an integer",
            float: "a finite number",
        }.get(kind, "distinct integers separated by commas")
        raise GsearchError(f"recipe field {name}: expected {expected}, got {text!r}") from None
    return text


def parse_recipe_overrides(pairs: Iterable[tuple[str, str]], base: Recipe) -> dict[str, Any]:
    """``KEY=VALUE`` texts as typed recipe fields, validated against ``base``."""
    overrides = {key: parse_recipe_value(key, text) for key, text in pairs}
    try:
        base.with_(**overrides)
    except GsearchError as error:
        raise GsearchError(
            str(error)
            .replace(f"recipe {base.name!r}: ", "recipe field ", 1)
            .replace(" must be ", ": must be ", 1)
        ) from None
    return overrides


def prepare_data(
    dataset: str,
    recipe: Recipe,
    root: str | Path | None = None,
    *,
    skip_corrupt: bool = False,
    **options: Any,
) -> DatasetBundle:
    """Load ``dataset`` at the recipe's resolution and subset.

    Where the recipe leaves ``resolution`` or ``subset`` as ``None``, the
    dataset's defaults for the recipe's fidelity apply (a proxy gets the
    reduced resolution and the proxy subset, see :class:`gsearch.data.DatasetInfo`).
    Build the model with ``num_classes=bundle.num_classes``.
    """
    info = dataset_info(dataset)
    proxy = recipe.fidelity == "proxy"
    resolution = recipe.resolution
    if resolution is None:
        resolution = info.proxy_resolution if proxy else info.default_resolution
    subset = recipe.subset
    if subset is None:
        subset = info.proxy_subset if proxy else None
    return get_dataset(
        dataset, root, resolution=resolution, subset=subset, skip_corrupt=skip_corrupt, **options
    )


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


def learning_rate(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """Learning rate at 0-based optimiser ``step`` (warm-up, then step or cosine)."""
    warmup_steps = round(recipe.warmup_epochs * steps_per_epoch)
    if step < warmup_steps:
        return recipe.lr * (step + 1) / warmup_steps
    if recipe.schedule == "step":
        return recipe.lr * recipe.step_gamma ** (step // (recipe.step_epochs * steps_per_epoch))
    total = recipe.epochs * steps_per_epoch
    progress = (step - warmup_steps) / max(1, total - warmup_steps)
    return recipe.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def zero_init_residual(model: nn.Module) -> int:
    """Set gamma = 0 in the last BatchNorm of every residual block; return how many.

    A residual block is recognised as a module with a ``downsample`` attribute
    (the shortcut) and a ``bn3`` BatchNorm (torchvision's and our bottleneck).
    """
    count = 0
    for module in model.modules():
        last = getattr(module, "bn3", None)
        if hasattr(module, "downsample") and isinstance(last, nn.BatchNorm2d):
            nn.init.zeros_(last.weight)
            count += 1
    return count


def _autocast(device: torch.device, amp: Amp) -> contextlib.AbstractContextManager[Any]:
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def recipe_fields(recipe: Recipe) -> dict[str, Any]:
    """The recipe's settings, as its checkpoints are keyed.

    Options added later are left out while unset, so that runs checkpointed before
    they existed keep their keys.
    """
    fields = asdict(recipe)
    if fields["ema_decay"] is None:
        fields.pop("ema_decay")
    return fields


def recipe_tag(recipe: Recipe) -> str:
    """Short stable name of a recipe's settings: checkpoints of different recipes never mix."""
    blob = json.dumps(recipe_fields(recipe), sort_keys=True, default=str)
    return f"{safe_name(recipe.name)}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def _run_key(model: nn.Module, data: DatasetBundle, recipe: Recipe) -> str:
    """What makes two runs the same: recipe, model structure and data."""
    fields = recipe_fields(recipe)
    for volatile in ("num_workers", "eval_batch_size", "seeds", "eval_each_epoch"):
        fields.pop(volatile)
    shapes = [(name, list(tensor.shape)) for name, tensor in model.state_dict().items()]
    blob = json.dumps(
        {
            "recipe": fields,
            "model": type(model).__name__,
            "shapes": shapes,
            "data": [data.name, data.train_size, data.val_size, data.num_classes, data.resolution],
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save_atomic(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` so that a reader sees the old file or the new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as tmp:
            torch.save(state, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _worker_message(exc: GsearchError) -> str:
    """The original one-line message of a GsearchError re-raised from a DataLoader worker."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        prefix = "GsearchError: "
        if prefix in line:
            return line.split(prefix, 1)[1]
    return lines[-1] if lines else "data loading failed"


@contextlib.contextmanager
def _clean_loader_errors() -> Iterator[None]:
    try:
        yield
    except GsearchError as exc:
        if "\n" in str(exc):
            raise GsearchError(_worker_message(exc)) from None
        raise


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("acc {task.fields[acc]:5.1f}%"),
        TextColumn("{task.fields[ips]:7.0f} img/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=quiet,
        transient=False,
    )


class WeightAverage:
    """Exponential moving average of a model's floating-point state.

    Weights and BatchNorm running statistics are averaged alike. Averaged statistics do
    not belong to averaged weights, though: on digits, MobileNet-V1 with a decay of 0.98
    over 200 steps fell to chance. So before the average is evaluated,
    :meth:`recalibrate` measures its BatchNorm statistics afresh on training data.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        # Pairs of (average, live) floating-point tensors, collected once: training
        # updates the live ones in place, and one fused lerp per step keeps the cost to
        # a few percent of a step even at 16x16 on one CPU thread. Integer buffers
        # (BatchNorm's step counter) are left out: recalibrate() resets them.
        live = model.state_dict()
        pairs = [
            (tensor, live[name])
            for name, tensor in self.model.state_dict().items()
            if tensor.dtype.is_floating_point
        ]
        self._averages = [a for a, _ in pairs]
        self._live = [b for _, b in pairs]

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the live model's present state."""
        torch._foreach_lerp_(self._averages, self._live, 1.0 - self.decay)

    @torch.no_grad()
    def recalibrate(
        self,
        loader: DataLoader,
        device: torch.device,
        memory_format: torch.memory_format,
        amp: Amp = "off",
    ) -> None:
        """Re-estimate the average's BatchNorm statistics over one pass of ``loader``.

        The pass runs under the training's autocast, so the statistics are those of the
        precision the model is evaluated in.
        """
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative mean over the pass
        self.model.train()
        for images, _labels in loader:
            with _autocast(device, amp):
                self.model(images.to(device, non_blocking=True, memory_format=memory_format))
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        self.model.eval()


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
    with torch.no_grad(), _clean_loader_errors():
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with _autocast(device, amp):
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
        recipe: :data:`FULL`, :data:`PROXY` or a variant (:meth:`Recipe.with_`).
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
    recipe.validate()
    device = torch.device(device)
    if data.train_size == 0:
        raise GsearchError(f"training split of dataset {data.name!r} is empty")
    memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
    model.to(device)
    model.to(memory_format=memory_format)
    key = _run_key(model, data, recipe)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay,
    )
    scaler = torch.amp.GradScaler(device.type, enabled=recipe.amp == "fp16")
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None

    start_epoch, seconds_before, skipped_steps = 0, 0.0, 0
    history: list[EpochRecord] = []
    state: dict[str, Any] | None = None
    if checkpoint is not None and checkpoint.exists():
        state = _load_checkpoint(checkpoint, key)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        start_epoch = state["epoch"]
        seconds_before = state["seconds"]
        skipped_steps = state["skipped_steps"]
        history = [EpochRecord(**record) for record in state["history"]]
        if state.get("final") is not None:
            return replace(
                TrainMetrics(**state["final"], history=tuple(history)),
                resumed_from_epoch=start_epoch,
            )
    else:
        random.seed(recipe.seed)
        np.random.seed(recipe.seed % 2**32)
        torch.manual_seed(recipe.seed)
        if recipe.zero_init_residual:
            zero_init_residual(model)

    average = None
    if recipe.ema_decay is not None:
        average = WeightAverage(model, recipe.ema_decay)
        if state is not None:
            average.model.load_state_dict(state["average"])
    evaluated = model if average is None else average.model

    sampler = EpochShuffleSampler(data.train_size, recipe.seed)
    loader = DataLoader(
        data.train,
        batch_size=recipe.batch_size,
        sampler=sampler,
        drop_last=data.train_size >= recipe.batch_size,
        num_workers=recipe.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=recipe.num_workers > 0,
    )
    steps_per_epoch = len(loader)
    session_start = time.perf_counter()
    step_seconds = sum(r.seconds for r in history)
    images_trained = sum(r.images_per_second * r.seconds for r in history)
    top1 = top5 = val_loss = float("nan")
    train_loss = history[-1].train_loss if history else float("nan")
    with _progress(quiet) as progress, _clean_loader_errors():
        task = progress.add_task(
            "train",
            total=(recipe.epochs - start_epoch) * steps_per_epoch,
            loss=0.0,
            acc=0.0,
            ips=0.0,
        )
        for epoch in range(start_epoch, recipe.epochs):
            sampler.set_epoch(epoch)
            model.train()
            progress.update(task, description=f"{recipe.name} epoch {epoch + 1}/{recipe.epochs}")
            loss_sum, correct, seen = 0.0, 0, 0
            lr = recipe.lr
            epoch_start = time.perf_counter()
            for index, (images, labels) in enumerate(loader):
                lr = learning_rate(recipe, epoch * steps_per_epoch + index, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images = images.to(device, non_blocking=True, memory_format=memory_format)
                labels = labels.to(device, non_blocking=True)
                with _autocast(device, recipe.amp):
                    logits = model(images)
                    loss = F.cross_entropy(
                        logits.float(), labels, label_smoothing=recipe.label_smoothing
                    )
                optimizer.zero_grad(set_to_none=True)
                if _backward_and_step(loss, model, optimizer, scaler, recipe.grad_clip_norm):
                    if average is not None:
                        average.update()
                    batch = labels.numel()
                    loss_sum += loss.item() * batch
                    correct += int((logits.argmax(1) == labels).sum())
                    seen += batch
                else:
                    skipped_steps += 1
                elapsed = time.perf_counter() - epoch_start
                progress.update(
                    task,
                    advance=1,
                    loss=loss_sum / seen,
                    acc=100.0 * correct / seen,
                    ips=seen / max(elapsed, 1e-9),
                )
                del logits, loss
            epoch_seconds = time.perf_counter() - epoch_start
            step_seconds += epoch_seconds
            images_trained += seen
            train_loss = loss_sum / max(seen, 1)
            last = epoch + 1 == recipe.epochs
            if last or recipe.eval_each_epoch:
                if average is not None:
                    average.recalibrate(loader, device, memory_format, recipe.amp)
                top1, top5, val_loss = evaluate(
                    evaluated,
                    data,
                    device=device,
                    batch_size=recipe.eval_batch_size,
                    amp=recipe.amp,
                    channels_last=recipe.channels_last,
                    num_workers=recipe.num_workers,
                )
            record = EpochRecord(
                epoch=epoch + 1,
                train_loss=train_loss,
                train_top1=100.0 * correct / max(seen, 1),
                lr=lr,
                seconds=epoch_seconds,
                images_per_second=seen / max(epoch_seconds, 1e-9),
                top1=top1 if (last or recipe.eval_each_epoch) else None,
                top5=top5 if (last or recipe.eval_each_epoch) else None,
            )
            history.append(record)
            seconds = seconds_before + time.perf_counter() - session_start
            final = None
            if last:
                final = TrainMetrics(
                    top1=top1,
                    top5=top5,
                    val_loss=val_loss,
                    train_loss=train_loss,
                    epochs=recipe.epochs,
                    seconds=seconds,
                    images_per_second=images_trained / max(step_seconds, 1e-9),
                    resumed_from_epoch=start_epoch,
                    skipped_steps=skipped_steps,
                )
            if checkpoint is not None:
                final_state = None
                if final is not None:
                    final_state = asdict(final)
                    final_state.pop("history")
                _save_atomic(
                    {
                        "format": _CHECKPOINT_FORMAT,
                        "run_key": key,
                        "epoch": epoch + 1,
                        "seconds": seconds,
                        "skipped_steps": skipped_steps,
                        "model": model.state_dict(),
                        "average": None if average is None else average.model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(),
                        "rng": _rng_state(),
                        "history": [asdict(r) for r in history],
                        "final": final_state,
                    },
                    checkpoint,
                )
            if on_epoch_end is not None:
                on_epoch_end(record)
            if final is not None:
                return replace(final, history=tuple(history))
    raise AssertionError("unreachable: the last epoch returns")


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


def _load_checkpoint(path: Path, key: str) -> dict[str, Any]:
    try:
        # Always onto the CPU: RNG states must stay CPU ByteTensors (torch.set_rng_state
        # rejects CUDA tensors); weights and optimiser state move to the device on load.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise GsearchError(
            f"cannot read checkpoint {path}: {' '.join(str(exc).split())}; delete it to restart"
        ) from None
    if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
        raise GsearchError(f"{path} is not a gsearch training checkpoint; delete it to restart")
    if state["run_key"] != key:
        raise GsearchError(
            f"checkpoint {path} belongs to a different run (model, data or recipe differ); "
            "use another checkpoint folder or delete it"
        )
    return state


def train_proxy_seeds(
    build_model: Callable[[], nn.Module],
    data: DatasetBundle,
    recipe: Recipe = PROXY,
    *,
    seeds: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    quiet: bool = True,
) -> SeedSummary:
    """Train the proxy once per seed and summarise top-1 by median and spread.

    Each seed seeds the model's initialisation (``build_model`` is called after
    ``torch.manual_seed(seed)``) and the training (``recipe.seed``).

    Args:
        build_model: Returns a fresh model with ``data.num_classes`` outputs.
        data: Train and validation splits.
        recipe: The proxy recipe (or any other).
        seeds: Seeds to run; ``None`` uses ``recipe.seeds``.
        device: Where to train.
        checkpoint_dir: Parent folder; seed ``s`` checkpoints in ``seed-s/``.
        quiet: No progress bars.
    """
    chosen = tuple(recipe.seeds if seeds is None else seeds)
    if not chosen:
        raise GsearchError("train_proxy_seeds needs at least one seed")
    runs = []
    for seed in chosen:
        torch.manual_seed(seed)
        model = build_model()
        folder = None if checkpoint_dir is None else Path(checkpoint_dir) / f"seed-{seed}"
        runs.append(
            train(
                model,
                data,
                recipe.with_(seed=seed),
                device=device,
                checkpoint_dir=folder,
                quiet=quiet,
            )
        )
    top1s = tuple(run.top1 for run in runs)
    return SeedSummary(
        median_top1=statistics.median(top1s),
        spread_top1=max(top1s) - min(top1s),
        seeds=chosen,
        top1s=top1s,
        runs=tuple(runs),
        seconds=sum(run.seconds for run in runs),
    )
