"""The per-layer gain benchmark's smoke form runs end to end (tiny_convnet, the CPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "per_layer_gain.py"


def _load():
    spec = importlib.util.spec_from_file_location("per_layer_gain", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_smoke_preset_measures_chooses_and_trains(tmp_path: Path) -> None:
    bench = _load()
    assert bench.main(["--preset", "smoke", "--out", str(tmp_path)]) == 0
    (case,) = json.loads((tmp_path / "per_layer_gain.json").read_text())["cases"]
    measured = case["measured"]
    # the per-layer picks and the constant policies were measured in one session
    assert case["best_constant"] in measured and case["best_per_layer"] in measured
    assert case["best_per_layer"].startswith("layers=")
    best, pick = measured[case["best_constant"]], measured[case["best_per_layer"]]
    assert case["gain"] == pytest.approx(1 - pick["epf"] / best["epf"])
    assert case["gain_low"] <= case["gain"] <= case["gain_high"]
    # the cheapest-g setting takes every layer's least calibrated cost
    cheapest = [min(by_g, key=by_g.get) for _, by_g in case["layer_costs"]]
    groups_of_cheapest = case["picks"]["cheapest g per layer"]
    assert groups_of_cheapest.startswith("layers=")
    assert len(cheapest) == len(case["groups"][case["best_per_layer"]])
    assert set(case["top1"]) >= {case["best_per_layer"], case["best_constant"]}


def test_the_cheapest_choice_follows_the_calibrated_table() -> None:
    bench = _load()

    class Table:
        def __init__(self, cheapest_g: int) -> None:
            self.cheapest_g = cheapest_g

        def epf(self, key: str) -> float:
            g = int(key.rsplit("-g", 1)[1])
            return 1.0 if g == self.cheapest_g else 2.0 + g

    picks = bench.per_layer_choices("tiny_convnet", 32, Table(4), [])
    # G = m / g for each layer: m is 16, 32, 64 in tiny_convnet's grouped layers
    assert picks == {"cheapest g per layer": "layers=4,8,16"}
