"""The model meter: Eq. 1 in model units, never joules."""

from __future__ import annotations

import pytest
import torch

from gsearch.costmodel import model_score_per_frame, network_score, score_per_frame
from gsearch.count import layer_rows
from gsearch.energy.model import ModelMeter
from gsearch.errors import GsearchError
from gsearch.models import create_model


class Row:
    def __init__(self, macs: int, activations: int, params: int) -> None:
        self.macs, self.activations, self.params = macs, activations, params


def test_batch_one_is_the_papers_eq1_sum():
    rows = [Row(100, 30, 6), Row(400, 50, 14)]
    expected = (100**0.5) * (36**0.5) + (400**0.5) * (64**0.5)
    assert score_per_frame(rows, 1, 0.5) == pytest.approx(expected)


def test_weights_are_shared_by_a_batch():
    rows = [Row(100, 30, 600)]
    one, many = score_per_frame(rows, 1), score_per_frame(rows, 64)
    assert many < one
    assert many == pytest.approx((6400**0.5) * ((64 * 30 + 600) ** 0.5) / 64)


def test_score_of_a_registered_model_matches_count_and_costmodel():
    with torch.device("meta"):
        model = create_model("tiny_convnet", "G=1")
    rows = layer_rows(create_model("tiny_convnet", "G=1"), 32)
    assert model_score_per_frame(model, 32) == pytest.approx(network_score(rows))


def test_meter_reports_model_units_not_joules():
    clock_times = iter([0.0, 0.5])

    class Clock:
        def now(self):
            return next(clock_times)

        def sleep(self, seconds):
            pass

    meter = ModelMeter(2.5, Clock())
    meter.begin()
    meter.observe_frames(4)
    meter.observe_frames(4)
    measurement = meter.end()
    assert measurement.energy == pytest.approx(20.0)
    assert measurement.unit == "model" and measurement.source == "model"
    assert measurement.power_w is None
    with pytest.raises(GsearchError, match="not joules"):
        _ = measurement.joules
    with pytest.raises(GsearchError):
        meter.read_counter_j()


def test_bad_input_is_refused():
    with pytest.raises(GsearchError):
        ModelMeter(0.0)
    with pytest.raises(GsearchError):
        score_per_frame([Row(1, 1, 1)], 0)
