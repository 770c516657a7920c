"""The proxy trained once per seed: median and spread of top-1 over the seeds."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from gsearch.data import DatasetBundle
from gsearch.errors import GsearchError
from gsearch.training.loop import train
from gsearch.training.recipes import PROXY, Recipe
from gsearch.training.results import SeedSummary


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
