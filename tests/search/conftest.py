from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gsearch.energy import EpfProtocol
from gsearch.search import RunConfig
from gsearch.spaces import load_space

SPACE = """
description = "tiny test space"
models = ["tiny_convnet"]
epf_batch_sizes = [4, 8]
[policy]
kind = "group_size"
values = [1, 2, 4, 8]
[defaults]
dataset = "synthetic"
sampler = "grid"
trials = 4
"""
# The model meter's score is exact: one short window per row keeps the tests quick.
QUICK = EpfProtocol(repeats=1, window_s=0.05, warmup_s=0.0, warmup_steps=1,
                    idle_s=0.05)  # fmt: skip

MakeConfig = Callable[..., RunConfig]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the EPF cache and checkpoints stay in the test's folder


def make_config(tmp_path: Path, **changes: Any) -> RunConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "tiny.toml"
    if not path.exists() or "space_text" in changes:
        path.write_text(changes.pop("space_text", SPACE))
    settings: dict[str, Any] = {
        "space": load_space(str(path)),
        "study": "t",
        "storage": f"sqlite:///{tmp_path}/s.db",
        "dataset": "synthetic",
        "trials": 4,
        "sampler": "grid",
        "energy": "model",
        "epf_protocol": QUICK,
        "checkpoint_root": tmp_path / "ckpt",
        "cache_dir": tmp_path / "cache",
        "recipe_overrides": {"epochs": 1, "batch_size": 32},
        "quiet": True,
    }
    settings.update(changes)
    return RunConfig(**settings)


@pytest.fixture
def config(tmp_path: Path) -> MakeConfig:
    return lambda root=None, **changes: make_config(root or tmp_path, **changes)
