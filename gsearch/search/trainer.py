"""The real :class:`~gsearch.search.objective.Trainer`: the recipe, once per seed, resumable."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from gsearch.data import DatasetBundle
from gsearch.energy.steps import describe, is_out_of_memory
from gsearch.errors import OutOfMemory
from gsearch.search.objective import Architecture, TrainOutcome
from gsearch.training import Recipe, train_proxy_seeds


class RecipeTrainer:
    """Trains architectures on one dataset with one recipe.

    Each seed seeds the network's initialisation and the training; seed ``s`` keeps its
    checkpoint in ``<folder>/seed-<s>`` (:func:`gsearch.training.train_proxy_seeds`), so
    an interrupted trial continues where it stopped, on whichever worker retries it.
    """

    def __init__(
        self, data: DatasetBundle, recipe: Recipe, device: str, *, quiet: bool = True
    ) -> None:
        self.data = data
        self.recipe = recipe
        self.device = device
        self.quiet = quiet

    def train(self, arch: Architecture, seeds: Sequence[int], folder: Path) -> TrainOutcome:
        try:
            summary = train_proxy_seeds(
                arch.build,
                self.data,
                self.recipe,
                seeds=seeds,
                device=self.device,
                checkpoint_dir=folder,
                quiet=self.quiet,
            )
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            raise OutOfMemory(
                f"training {arch.model} {arch.policy} at batch {self.recipe.batch_size}, "
                f"{self.data.resolution} px on {self.device} ran out of memory "
                f"({describe(error)}): lower --recipe batch_size or --recipe resolution"
            ) from error
        return TrainOutcome(
            summary.top1s,
            float(statistics.median(run.top5 for run in summary.runs)),
            summary.seconds,
            tuple(run.resumed_from_epoch for run in summary.runs),
        )
