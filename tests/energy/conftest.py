"""Fixtures of the energy tests: a simulated GPU behind a fake pynvml."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fake_nvml import FakeGpu, FakeNvml, PowerTrace, SimClock, SimDevice


@pytest.fixture
def sim_gpu(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[SimDevice, SimClock, FakeNvml]]:
    """Make a simulated GPU and install it as NVML device 0."""

    def make(
        trace: PowerTrace | None = None, **options: Any
    ) -> tuple[SimDevice, SimClock, FakeNvml]:
        device = SimDevice(trace, **options)
        nvml = FakeNvml([FakeGpu("GPU-5f6e0a1b-0000-1111-2222-333344445555", sim=device)])
        nvml.install(monkeypatch)
        return device, SimClock(device), nvml

    return make
