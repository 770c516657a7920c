"""A calibration file written without measuring: for tests of what reads one."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from gsearch.calibration_plan import calibration_target
from gsearch.energy.calibrate import ANCHOR, REST, Calibration, calibration_key, calibration_path
from gsearch.energy.epf import EpfProtocol, default_protocol
from gsearch.energy.steps import StepConfig


def write_calibration(
    directory: Path,
    facts: dict[str, Any],
    source: str,
    *,
    model: str = "tiny_convnet",
    space: Any | None = None,
    step: StepConfig | None = None,
    protocol: EpfProtocol | None = None,
    drop: Iterable[str] = (),
    key_changes: dict[str, Any] | None = None,
) -> Calibration:
    """A complete calibration of ``model`` over ``space`` (every layer 1 unit, g-cheaper),
    without the layer keys in ``drop``; ``key_changes`` edits its key as an older or
    other gsearch would have written it."""
    step = step or StepConfig(batch=2, resolution=32, num_classes=10)
    if not str(facts.get("device", "")).startswith("cuda"):
        step = replace(step, mode="eager")
    target = calibration_target(
        model, space, resolution=step.resolution, num_classes=step.num_classes
    )
    protocol = protocol or default_protocol(source)
    key = calibration_key(
        model, facts, step, protocol, source, num_classes=step.num_classes, width=1.0
    )
    key.update(key_changes or {})
    key = json.loads(json.dumps(key, default=str))
    unit = "ms" if source == "time" else "mJ"
    dropped = set(drop)
    layers = {
        layer.key: {"epf": 1.0 + 1.0 / layer.groups}
        for layer in (*target.layers, *target.anchor_layers)
        if layer.key not in dropped
    }
    calibration = Calibration(
        model=model,
        key=key,
        unit=unit,
        source=source,
        facts=dict(facts),
        layers=layers,
        networks={REST: {"epf": 5.0}, ANCHOR: {"epf": 9.0}},
        anchor_policy=target.anchor_policy,
        anchor_layers=tuple(layer.key for layer in target.anchor_layers),
        device_s=1.0,
        shapes={layer.key: asdict(layer) for layer in target.layers},
    )
    path = calibration_path(directory, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration.to_dict(), default=str))
    return replace(calibration, path=path)
