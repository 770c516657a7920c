"""Training recipes: ``full`` (the paper's) and ``proxy`` (a short run that ranks policies).

* ``full`` (:data:`FULL`): SGD, Nesterov momentum 0.9, weight decay 4e-5, learning rate
  0.1 divided by 10 every 30 epochs. The paper gives no epoch count and no batch size;
  we default to 90 epochs (three decays, the usual ImageNet length) and batch 256.
* ``proxy`` (:data:`PROXY`): the same optimiser with a half-epoch warm-up, cosine decay
  and gradient clipping, 9 epochs on the dataset's proxy subset at its reduced
  resolution, evaluated on a moving average of its last steps' weights. Chosen by
  measurement: ``benchmarks/proxy_fidelity.py`` and BENCHMARKS.md, proxy-fidelity.

The per-dataset proxy sizes (resolution, subset) stay in the dataset registry
(:class:`gsearch.data.DatasetInfo`), which the search reads too; :func:`prepare_data`
applies them where a recipe leaves ``resolution`` or ``subset`` unset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from gsearch.data import DatasetBundle, SubsetSpec, dataset_info, get_dataset
from gsearch.errors import GsearchError
from gsearch.limits import MAX_BATCH, MAX_RESOLUTION_PX
from gsearch.paths import safe_name

Amp = Literal["off", "bf16", "fp16"]
Schedule = Literal["step", "cosine"]
Fidelity = Literal["full", "proxy"]


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
        max_side = f"<= {MAX_RESOLUTION_PX} pixels or None (larger images exceed the memory)"
        checks: list[tuple[bool, str, str]] = [
            (self.fidelity in ("full", "proxy"), "fidelity", "full or proxy"),
            (self.epochs >= 1, "epochs", ">= 1"),
            (self.batch_size >= 1, "batch_size", ">= 1"),
            (self.batch_size <= MAX_BATCH, "batch_size", f"<= {MAX_BATCH} frames"),
            (self.eval_batch_size >= 1, "eval_batch_size", ">= 1"),
            (self.eval_batch_size <= MAX_BATCH, "eval_batch_size", f"<= {MAX_BATCH} frames"),
            (self.lr > 0, "lr", "> 0"),
            (self.weight_decay >= 0, "weight_decay", ">= 0"),
            (self.schedule in ("step", "cosine"), "schedule", "step or cosine"),
            (self.step_epochs >= 1, "step_epochs", ">= 1"),
            (0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", "in [0, epochs]"),
            (0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)"),
            (clip is None or clip > 0, "grad_clip_norm", "> 0 or None"),
            (self.ema_decay is None or 0 < self.ema_decay < 1, "ema_decay", "in (0, 1) or None"),
            (side is None or side >= 8, "resolution", ">= 8 pixels or None"),
            (side is None or side <= MAX_RESOLUTION_PX, "resolution", max_side),
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

# Why each setting: BENCHMARKS.md, proxy-fidelity ("Why each PROXY setting").
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
