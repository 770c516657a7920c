"""The learning rate per optimiser step: linear warm-up, then step decay or cosine to zero.

:func:`lr_scheduler` drives the optimiser with torch's ``LambdaLR`` over
:func:`lr_factor`; :func:`learning_rate` is the same curve as a number (records, tests).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR

from gsearch.training.recipes import Recipe


def lr_factor(recipe: Recipe, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of ``recipe.lr`` at 0-based optimiser step (warm-up, then step or cosine)."""
    warmup_steps = round(recipe.warmup_epochs * steps_per_epoch)
    total = recipe.epochs * steps_per_epoch
    step_period = recipe.step_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if recipe.schedule == "step":
            return float(recipe.step_gamma ** (step // step_period))
        progress = (step - warmup_steps) / max(1, total - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def learning_rate(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """Learning rate at 0-based optimiser ``step``."""
    return recipe.lr * lr_factor(recipe, steps_per_epoch)(step)


def lr_scheduler(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int, start_step: int = 0
) -> LambdaLR:
    """A scheduler that has set the optimiser's lr for ``start_step`` (0, or where a resumed
    run continues); call :func:`advance` after every step."""
    for group in optimizer.param_groups:
        group["initial_lr"] = recipe.lr  # the base LambdaLR multiplies, also on resume
    return LambdaLR(optimizer, lr_factor(recipe, steps_per_epoch), last_epoch=start_step - 1)


def advance(scheduler: LambdaLR) -> None:
    """Move to the next step's lr.

    A step skipped for a non-finite loss (or by fp16 loss scaling) still advances the
    schedule, as the step count does; torch warns about that order, which is meant here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Detected call of `lr_scheduler.step", category=UserWarning
        )
        scheduler.step()
