"""A measured energy source never shares its meter with another worker's work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from gsearch.errors import GsearchError
from gsearch.search.meter_lock import MeterLock
from gsearch.workers import check_meters
from tests.search.conftest import MakeConfig

HOLD = """
import sys, time
from pathlib import Path
from gsearch.search.meter_lock import MeterLock
with MeterLock("gpu-GPU-test", Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(30)
"""


def test_a_second_process_on_the_same_meter_is_refused(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(GsearchError, match=r"meter of gpu-GPU-test is in use .*\(pid \d+\)"):
            MeterLock("gpu-GPU-test", tmp_path).__enter__()
        with MeterLock("gpu-GPU-other", tmp_path):  # another board is free
            pass
    finally:
        holder.kill()
        holder.wait()
    with MeterLock("gpu-GPU-test", tmp_path):  # released when its holder died (kill -9)
        pass


def test_local_workers_never_share_a_measured_meter(
    config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Session(SimpleNamespace):
        def __enter__(self) -> Session:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    import gsearch.energy

    opened = Session(source="nvml", unit="mJ")
    monkeypatch.setattr(gsearch.energy, "open_session", lambda device, energy: opened)
    with pytest.raises(GsearchError, match="2 workers would share the nvml meter of one GPU"):
        check_meters(config(device="cuda"), ["cuda:0", "cuda:0"])
    check_meters(config(device="cuda"), ["cuda:0", "cuda:1"])  # one per board: fine
    opened.source, opened.unit = "model", "model"  # a score shares nothing
    check_meters(config(), ["cpu", "cpu"])
