"""The real :class:`~gsearch.search.objective.Trainer`: the recipe, once per seed, resumable."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

import torch

from gsearch.data import DatasetBundle
from gsearch.search.objective import Architecture, TrainOutcome
from gsearch.training import Recipe, train


class RecipeTrainer:
    """Trains architectures on one dataset with one recipe.

    Each seed seeds the network's initialisation and the training; seed ``s`` keeps its
    checkpoint in ``<folder>/seed-<s>``, so an interrupted trial continues where it
    stopped, on whichever worker retries it.
    """

    def __init__(
        self, data: DatasetBundle, recipe: Recipe, device: str, *, quiet: bool = True
    ) -> None:
        self.data = data
        self.recipe = recipe
        self.device = device
        self.quiet = quiet

    def train(self, arch: Architecture, seeds: Sequence[int], folder: Path) -> TrainOutcome:
        top1s, top5s, resumed, seconds = [], [], [], 0.0
        for seed in seeds:
            torch.manual_seed(seed)
            metrics = train(
                arch.build(),
                self.data,
                self.recipe.with_(seed=seed),
                device=self.device,
                checkpoint_dir=folder / f"seed-{seed}",
                quiet=self.quiet,
            )
            top1s.append(metrics.top1)
            top5s.append(metrics.top5)
            resumed.append(metrics.resumed_from_epoch)
            seconds += metrics.seconds
        return TrainOutcome(tuple(top1s), float(statistics.median(top5s)), seconds, tuple(resumed))
