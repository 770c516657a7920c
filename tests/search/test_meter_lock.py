"""A measured energy source never shares its meter with another worker's work."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from gsearch.energy.meter_lock import MeterLock
from gsearch.errors import GsearchError
from gsearch.workers import check_meters
from tests.search.conftest import MakeConfig

HOLD = """
import sys, time
from pathlib import Path
from gsearch.energy.meter_lock import MeterLock
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


def test_the_lock_folder_and_file_are_shared_by_every_user(tmp_path: Path) -> None:
    folder = tmp_path / "gsearch-meters"  # made by whoever measures first on this host
    with MeterLock("host-test", folder) as lock:
        assert lock.path.read_text() == f"pid {os.getpid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777  # like /tmp: sticky, all may add
    assert stat.S_IMODE(lock.path.stat().st_mode) == 0o666


def test_another_users_read_only_lock_file_still_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "host-test.lock").write_text("")
    real_open = os.open

    def denied(path: object, flags: int, *args: object) -> int:
        if flags & os.O_RDWR:  # as for a 0644 file of another user
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(os, "open", denied)
        held = MeterLock("host-test", tmp_path).__enter__()
    try:
        with pytest.raises(GsearchError, match="in use by another gsearch process"):
            MeterLock("host-test", tmp_path).__enter__()
    finally:
        held.__exit__(None, None, None)


def test_a_lock_folder_nobody_may_write_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(path: object, flags: int, *args: object) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(GsearchError) as caught:
        MeterLock("host-test", tmp_path).__enter__()
    message = str(caught.value)
    assert "\n" not in message
    assert (
        f"lock of energy meter host-test ({tmp_path / 'host-test.lock'}): Permission denied"
        in message
    )
    assert f"make {tmp_path} writable by every user (chmod 1777)" in message


def test_every_command_that_measures_holds_the_meter_before_its_first_reading(
    config: MakeConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    import gsearch.energy.calibrate
    import gsearch.profile
    from gsearch.cli import main
    from gsearch.energy import EnergySession
    from gsearch.profile import profile
    from gsearch.search import run_search

    readings: list[str] = []
    monkeypatch.setattr(EnergySession, "idle_power_w", lambda *a: readings.append("idle"))
    monkeypatch.setattr(
        gsearch.profile, "measure_candidates", lambda *a, **k: readings.append("profile")
    )
    monkeypatch.setattr(
        gsearch.energy.calibrate, "calibrate", lambda *a, **k: readings.append("calibrate")
    )
    with MeterLock(f"host-{socket.gethostname()}"):  # a search times this host's CPU
        with pytest.raises(GsearchError, match="in use by another gsearch process"):
            run_search(config(energy="time"))
        with pytest.raises(GsearchError, match="in use by another gsearch process"):
            profile("tiny_convnet", ["G=4"], [4], energy="time", device="cpu", cache_dir=None)
        argv = ["calibrate", "--model", "tiny_convnet", "--energy", "time", "--device", "cpu",
                "--batch", "4", "--resolution", "32", "--quiet"]  # fmt: skip
        assert main(argv) == 2
        assert "in use by another gsearch process" in capsys.readouterr().err
    assert readings == []  # refused before idle power or any window


def test_every_user_and_tmpdir_finds_the_same_lock_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GSEARCH_METER_LOCK_DIR"}
    env["TMPDIR"] = str(tmp_path)  # a user's own temporary folder
    shown = subprocess.run(
        [sys.executable, "-c", "from gsearch.energy.meter_lock import LOCK_DIR; print(LOCK_DIR)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert shown == "/tmp/gsearch-meters"
