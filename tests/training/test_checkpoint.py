"""Checkpoints resume on a worker that sees another number of GPUs (faked: no GPU here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gsearch.training import checkpoint


class FakeCuda:
    """torch.cuda's RNG functions for ``count`` visible GPUs."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.restored: list[tuple[int, int]] = []  # (device index, state's first byte)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        cuda = checkpoint.torch.cuda
        monkeypatch.setattr(cuda, "is_available", lambda: self.count > 0)
        monkeypatch.setattr(cuda, "device_count", lambda: self.count)
        monkeypatch.setattr(cuda, "get_rng_state", self.get)
        monkeypatch.setattr(
            cuda, "get_rng_state_all", lambda: [self.get(i) for i in range(self.count)]
        )
        monkeypatch.setattr(cuda, "set_rng_state", self.set)
        monkeypatch.setattr(
            cuda, "set_rng_state_all", lambda states: [self.set(s, i) for i, s in enumerate(states)]
        )

    def _index(self, device: object) -> int:
        index = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
        number = index.index or 0
        if number >= self.count:  # what torch says of a GPU that is not visible
            raise RuntimeError(f"CUDA error: invalid device ordinal {number}")
        return number

    def get(self, device: object = "cuda") -> torch.Tensor:
        return torch.full((16,), 10 + self._index(device), dtype=torch.uint8)

    def set(self, state: torch.Tensor, device: object = "cuda") -> None:
        self.restored.append((self._index(device), int(state[0])))


def two_gpu_state() -> dict[str, object]:
    state = checkpoint.rng_state()
    state["cuda"] = [torch.full((16,), 10, dtype=torch.uint8),
                     torch.full((16,), 11, dtype=torch.uint8)]  # fmt: skip
    return state


def test_a_checkpoint_of_two_gpu_states_resumes_where_one_gpu_is_visible(monkeypatch, tmp_path):
    fake = FakeCuda(1)
    fake.install(monkeypatch)
    path = tmp_path / "last.pt"
    checkpoint.save_checkpoint({"rng": two_gpu_state()}, path)
    state = torch.load(path, map_location="cpu", weights_only=False)
    checkpoint.set_rng_state(state["rng"], torch.device("cuda:0"))
    assert fake.restored == [(0, 10)]  # the trial's device only


def test_a_checkpoint_of_two_gpu_states_resumes_where_no_gpu_is_visible(monkeypatch):
    fake = FakeCuda(0)
    fake.install(monkeypatch)
    checkpoint.set_rng_state(two_gpu_state(), torch.device("cpu"))
    assert fake.restored == []


def test_only_the_trials_own_gpu_state_is_saved_and_restored(monkeypatch, tmp_path: Path):
    fake = FakeCuda(2)
    fake.install(monkeypatch)
    state = checkpoint.rng_state(torch.device("cuda:1"))
    assert isinstance(state["cuda"], torch.Tensor) and int(state["cuda"][0]) == 11
    one = FakeCuda(1)  # retried on a worker with one GPU, as its cuda:0
    one.install(monkeypatch)
    checkpoint.set_rng_state(state, torch.device("cuda:0"))
    assert one.restored == [(0, 11)]
    assert "cuda" not in checkpoint.rng_state(torch.device("cpu"))
