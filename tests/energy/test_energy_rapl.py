"""RAPL meter on a fake powercap tree: package domains, wraparound, unreadable counters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gsearch.energy.rapl import POWERCAP_ROOT, RaplMeter, find_package_domains
from gsearch.energy.select import open_meter
from gsearch.errors import GsearchError


class StepClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def _zone(root: Path, name: str, label: str, energy_uj: int, max_uj: int = 1_000_000) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(f"{label}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


@pytest.fixture
def powercap(tmp_path: Path) -> Path:
    root = tmp_path / "powercap"
    _zone(root, "intel-rapl:0", "package-0", 900_000)
    _zone(root, "intel-rapl:1", "package-1", 10_000)
    _zone(root, "intel-rapl:0:0", "core", 5)  # a subzone: not a package
    _zone(root, "intel-rapl:2", "psys", 5)  # platform, not a package
    return root


def test_finds_package_domains_only(powercap):
    domains, reason = find_package_domains(powercap)
    assert [d.name for d in domains] == ["package-0", "package-1"]
    assert "package-0" in reason


def test_energy_sums_packages_and_survives_wraparound(powercap):
    clock = StepClock()
    meter = RaplMeter(powercap, clock)
    meter.begin()
    (powercap / "intel-rapl:0" / "energy_uj").write_text("400000\n")  # wrapped: +500 000 uJ
    (powercap / "intel-rapl:1" / "energy_uj").write_text("260000\n")  # +250 000 uJ
    clock.sleep(2.0)
    measurement = meter.end()
    assert measurement.source == "rapl" and measurement.unit == "J"
    assert measurement.joules == pytest.approx(0.75)
    assert measurement.seconds == pytest.approx(2.0)
    assert measurement.power_w == pytest.approx(0.375)


def test_unreadable_counter_means_not_available(tmp_path):
    root = tmp_path / "powercap"
    zone = _zone(root, "intel-rapl:0", "package-0", 1)
    (zone / "energy_uj").unlink()
    (zone / "energy_uj").mkdir()  # reading it fails like a root-only file does
    domains, reason = find_package_domains(root)
    assert domains == [] and "is not readable" in reason
    with pytest.raises(GsearchError, match="RAPL is not available"):
        RaplMeter(root)


def test_missing_powercap(tmp_path):
    domains, reason = find_package_domains(tmp_path / "absent")
    assert domains == [] and "does not exist" in reason


def test_requested_rapl_where_absent_is_an_error_naming_what_auto_would_choose(tmp_path):
    with pytest.raises(GsearchError) as info:
        open_meter(torch.device("cpu"), "rapl", rapl_root=tmp_path / "absent")
    message = str(info.value)
    assert "does not exist" in message and "--energy auto would choose 'time'" in message
    assert "\n" not in message


def test_auto_without_rapl_measures_time(tmp_path):
    meter, choice = open_meter(torch.device("cpu"), "auto", rapl_root=tmp_path / "absent")
    assert meter is not None and meter.source == "time" and meter.unit == "ms"
    assert choice.source == "time" and "does not exist" in choice.reason


def test_auto_on_cpu_picks_rapl_where_readable(powercap):
    meter, choice = open_meter(torch.device("cpu"), "auto", rapl_root=powercap)
    assert isinstance(meter, RaplMeter) and choice.source == "rapl"


def test_this_machines_powercap_is_judged_without_error():
    # The real tree: readable or not, the answer is a list and a reason, never an exception.
    domains, reason = find_package_domains(POWERCAP_ROOT)
    assert isinstance(domains, list) and reason
