"""Checkpoint files of a training run: written atomically, read onto the CPU, keyed by run.

A checkpoint holds everything a killed run needs to continue as if uninterrupted:
weights, optimiser and loss-scaler state, the weight average, the RNG states and the
epoch history. :func:`run_key` names what makes two runs the same, so a folder that
belongs to another run is refused instead of resumed.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gsearch.data import DatasetBundle
from gsearch.errors import GsearchError
from gsearch.paths import atomic_file
from gsearch.training.recipes import Recipe, recipe_fields

CHECKPOINT_NAME = "last.pt"
CHECKPOINT_FORMAT = 1


def run_key(model: nn.Module, data: DatasetBundle, recipe: Recipe) -> str:
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


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path``: a reader sees the old checkpoint or the new, never a part."""
    with atomic_file(path) as stream:
        torch.save(state, stream)


def load_checkpoint(path: Path, key: str) -> dict[str, Any]:
    """The checkpoint at ``path``, which must belong to the run ``key``.

    Raises:
        GsearchError: Unreadable, not a gsearch checkpoint, or another run's.
    """
    try:
        # Always onto the CPU: RNG states must stay CPU ByteTensors (torch.set_rng_state
        # rejects CUDA tensors); weights and optimiser state move to the device on load.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise GsearchError(
            f"cannot read checkpoint {path}: {' '.join(str(exc).split())}; delete it to restart"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise GsearchError(f"{path} is not a gsearch training checkpoint; delete it to restart")
    if state["run_key"] != key:
        raise GsearchError(
            f"checkpoint {path} belongs to a different run (model, data or recipe differ); "
            "use another checkpoint folder or delete it"
        )
    return state


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (a fresh run's data order and noise)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Every generator's state, for :func:`set_rng_state` after a resume.

    Of the GPUs, only the state of ``device`` (the one the run trains on) is kept: a
    trial retried on a worker that sees another number of GPUs must still resume.
    """
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore what :func:`rng_state` returned, the GPU's onto ``device``."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is None or device is None or device.type != "cuda":
        return  # a run continued on the CPU has no GPU generator to restore
    if isinstance(cuda, list | tuple):  # older checkpoints: one state per GPU visible then
        if not cuda:
            return
        cuda = cuda[min(device.index or 0, len(cuda) - 1)]
    torch.cuda.set_rng_state(cuda, device)
