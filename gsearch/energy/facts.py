"""The device and software facts recorded with every EPF result."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

from gsearch import __version__


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def software_facts() -> dict[str, Any]:
    """torch, CUDA and cuDNN versions, and gsearch's own."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "gsearch": __version__,
        "python": platform.python_version(),
    }


def device_facts(device: torch.device, nvml_facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the device is, plus software versions.

    Args:
        device: ``cuda:N`` or ``cpu``.
        nvml_facts: From :meth:`gsearch.energy.nvml.NvmlMeter.facts` where NVML is open
            (driver, power limit, clocks, temperature, UUID).
    """
    facts: dict[str, Any] = {"device": str(device), **software_facts()}
    if device.type == "cuda":
        facts["gpu_name"] = torch.cuda.get_device_name(device.index or 0)
    else:
        facts["cpu_model"] = cpu_model()
        facts["threads"] = torch.get_num_threads()
    facts.update(nvml_facts or {})
    return facts


# Facts that say which device and software a measurement is valid for (the cache key);
# clocks and temperature vary from run to run and are recorded, not keyed.
IDENTITY_FACTS = (
    "device",
    "gpu_name",
    "gpu_uuid",
    "driver",
    "power_limit_w",
    "cpu_model",
    "threads",
    "torch",
    "cuda",
    "cudnn",
)


def identity(facts: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``facts`` that identifies device and software."""
    return {key: facts.get(key) for key in IDENTITY_FACTS}
