"""Training: recipes (``full``, ``proxy``), the loop in named phases, checkpoints, averaging.

>>> from gsearch.training import PROXY, prepare_data, train
>>> data = prepare_data("digits", PROXY)
>>> metrics = train(model, data, PROXY, checkpoint_dir="studies/checkpoints/run")

Modules: :mod:`~gsearch.training.recipes` (what to train with),
:mod:`~gsearch.training.schedule` (lr per step), :mod:`~gsearch.training.loop`
(``train`` in named phases), :mod:`~gsearch.training.evaluate`, :mod:`~gsearch.training.seeds`
(``train_proxy_seeds``), :mod:`~gsearch.training.checkpoint`
(atomic save, load onto the CPU, RNG state), :mod:`~gsearch.training.averaging`
(the weight average), :mod:`~gsearch.training.results` (what a run returns).
"""

from __future__ import annotations

from gsearch.training.averaging import WeightAverage
from gsearch.training.checkpoint import CHECKPOINT_NAME
from gsearch.training.evaluate import evaluate
from gsearch.training.loop import EpochShuffleSampler, train
from gsearch.training.recipes import (
    FULL,
    PROXY,
    RECIPES,
    Amp,
    Fidelity,
    Recipe,
    Schedule,
    get_recipe,
    parse_recipe_overrides,
    parse_recipe_value,
    prepare_data,
    recipe_fields,
    recipe_tag,
)
from gsearch.training.results import EpochRecord, SeedSummary, TrainMetrics
from gsearch.training.schedule import learning_rate
from gsearch.training.seeds import train_proxy_seeds

__all__ = [
    "CHECKPOINT_NAME",
    "FULL",
    "PROXY",
    "RECIPES",
    "Amp",
    "EpochRecord",
    "EpochShuffleSampler",
    "Fidelity",
    "Recipe",
    "Schedule",
    "SeedSummary",
    "TrainMetrics",
    "WeightAverage",
    "evaluate",
    "get_recipe",
    "learning_rate",
    "parse_recipe_overrides",
    "parse_recipe_value",
    "prepare_data",
    "recipe_fields",
    "recipe_tag",
    "train",
    "train_proxy_seeds",
]
