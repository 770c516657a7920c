"""NVML meter: device mapping, counter and power polling, error translation (fake pynvml)."""

from __future__ import annotations

import time

import pynvml
import pytest
import torch
from fake_nvml import FakeGpu, FakeNvml, PowerTrace, SimDevice

from gsearch.energy.meter import SystemClock
from gsearch.energy.nvml import NvmlMeter, parse_visible_devices, resolve_nvml_handle
from gsearch.energy.select import open_meter
from gsearch.errors import GsearchError

UUIDS = [
    "GPU-0a1b2c3d-0000-0000-0000-000000000000",
    "GPU-0a1b9999-0000-0000-0000-000000000001",
    "GPU-7f000000-0000-0000-0000-000000000002",
]


@pytest.fixture
def three_gpus(monkeypatch):
    return FakeNvml([FakeGpu(uuid, name=f"GPU {i}") for i, uuid in enumerate(UUIDS)]).install(
        monkeypatch
    )


def test_parse_visible_devices_follows_cuda_rules():
    assert parse_visible_devices(None) is None
    assert parse_visible_devices("") == []
    assert parse_visible_devices("2, 0") == [2, 0]
    assert parse_visible_devices("GPU-0a1b,MIG-abc") == ["GPU-0a1b", "MIG-abc"]
    assert parse_visible_devices("1,bogus,0") == [1]  # CUDA stops at the first invalid entry
    assert parse_visible_devices("-1,0") == []


@pytest.mark.parametrize(
    ("visible", "torch_index", "nvml_index"),
    [
        (None, 1, 1),
        ("2,0", 0, 2),
        ("2,0", 1, 0),
        ("GPU-7f", 0, 2),  # unique UUID prefix
        (f"1,{UUIDS[0]}", 1, 0),
    ],
)
def test_torch_index_maps_to_nvml_index(three_gpus, visible, torch_index, nvml_index):
    assert resolve_nvml_handle(torch_index, visible=visible) == nvml_index


def test_torch_uuid_wins_over_the_environment(three_gpus):
    # torch's UUID has no "GPU-" prefix; integer entries would point elsewhere
    assert resolve_nvml_handle(0, visible="0", torch_uuid=UUIDS[2][4:]) == 2


@pytest.mark.parametrize(
    ("visible", "torch_index", "message"),
    [
        ("GPU-0a1b", 0, "matches 2 GPUs"),
        ("GPU-ffff", 0, "matches no GPU"),
        ("1", 1, "not visible"),
        ("7", 0, "does not exist"),
        (None, 5, "does not exist"),
    ],
)
def test_bad_device_mapping_is_one_line(three_gpus, visible, torch_index, message):
    with pytest.raises(GsearchError, match=message) as info:
        resolve_nvml_handle(torch_index, visible=visible)
    assert "\n" not in str(info.value)


def test_meter_reads_the_counter_in_joules(monkeypatch):
    device = SimDevice(PowerTrace(idle_w=100.0), tick_phase_s=0.0)
    nvml = FakeNvml([FakeGpu(UUIDS[0], sim=device)]).install(monkeypatch)
    clock_device = device

    class Clock:
        def now(self):
            return clock_device.now

        def sleep(self, seconds):
            clock_device.advance(seconds)

    meter = NvmlMeter(0, clock=Clock(), visible=None)
    assert meter.source == "nvml" and meter.tick_s == pytest.approx(0.1)
    device.advance(0.05)  # inside the first tick period
    meter.begin()
    device.advance(1.0)
    measurement = meter.end()
    assert measurement.unit == "J" and measurement.source == "nvml"
    assert measurement.joules == pytest.approx(100.0, rel=0.01)  # 10 ticks of 100 W
    facts = meter.facts()
    assert facts["gpu_name"] == "NVIDIA H200" and facts["driver"] == "580.159.04"
    assert facts["power_limit_w"] == 700.0 and facts["sm_clock_mhz"] == 1980
    assert facts["temperature_c"] == 41.0 and facts["energy_counter"] is True
    meter.close()
    meter.close()
    assert nvml.shutdowns == 1


def test_power_polling_where_the_counter_is_missing(monkeypatch):
    device = SimDevice(PowerTrace(idle_w=150.0), tick_phase_s=0.0)
    FakeNvml([FakeGpu(UUIDS[0], sim=device, has_counter=False)]).install(monkeypatch)
    meter = NvmlMeter(0, clock=SystemClock(), poll_s=0.005, visible=None)
    assert meter.source == "nvml-power" and meter.tick_s is None
    with pytest.raises(GsearchError, match="no NVML energy counter"):
        meter.read_counter_j()
    meter.begin()
    time.sleep(0.15)
    measurement = meter.end()
    assert measurement.source == "nvml-power"
    assert measurement.power_w == pytest.approx(150.0, rel=0.01)
    assert measurement.seconds == pytest.approx(0.15, abs=0.05)


def test_nvml_errors_become_one_line_gsearch_errors(monkeypatch):
    device = SimDevice()
    FakeNvml([FakeGpu(UUIDS[0], sim=device)]).install(monkeypatch)
    meter = NvmlMeter(0, clock=SystemClock(), visible=None)

    def lost(handle):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", lost)
    with pytest.raises(GsearchError, match="NVML could not read the energy counter: GPU is lost"):
        meter.begin()


def test_real_pynvml_without_a_driver_says_no_device():
    # The real library: this machine has no NVIDIA driver.
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present")
    with pytest.raises(GsearchError, match="NVML found no NVIDIA device"):
        NvmlMeter(0)


def test_energy_nvml_without_gpu_says_what_auto_would_choose(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(GsearchError) as info:
        open_meter(torch.device("cpu"), "nvml", rapl_root=tmp_path / "none")
    message = str(info.value)
    assert "NVML found no NVIDIA device" in message
    assert "--energy auto would choose 'time'" in message
    assert "\n" not in message


def test_auto_on_cuda_falls_back_to_time_without_nvml(monkeypatch, tmp_path):
    def no_library():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    meter, choice = open_meter(torch.device("cuda", 0), "auto", rapl_root=tmp_path)
    assert meter is not None and meter.source == "time" and choice.source == "time"
    assert "NVML found no NVIDIA device" in choice.reason
