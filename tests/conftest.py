"""Shared test configuration: keep torch to one thread so tests share the 2-core machine,
and give every test meter locks of its own."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _own_meter_locks(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A search or profile running beside the tests holds the host's meters; a test's
    # meters (fakes, or the CPU it times) are its own, in this process and the commands
    # it starts, in a folder outside the test's own tmp_path (which some tests list).
    folder = tmp_path_factory.mktemp("meters")
    monkeypatch.setattr("gsearch.energy.meter_lock.LOCK_DIR", folder)
    monkeypatch.setenv("GSEARCH_METER_LOCK_DIR", str(folder))
