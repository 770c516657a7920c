"""Median intervals, spread and Kendall tau."""

from __future__ import annotations

import math

import pytest

from gsearch.energy.stats import kendall_tau, median_interval, spread


def test_five_repeats_give_min_max_with_its_true_coverage():
    interval = median_interval([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (interval.median, interval.low, interval.high) == (3.0, 1.0, 5.0)
    assert interval.confidence == pytest.approx(1 - 2 / 32)


def test_larger_samples_reach_95_percent_with_inner_order_statistics():
    values = list(range(1, 21))
    interval = median_interval(values)
    assert interval.confidence >= 0.95
    assert (interval.low, interval.high) == (6, 15)  # the classic n=20 pair
    assert interval.median == 10.5


def test_an_outlier_barely_moves_the_interval():
    calm = median_interval([100.0 + i * 0.1 for i in range(10)])
    stray = median_interval([100.0 + i * 0.1 for i in range(9)] + [168.0])
    assert stray.high - stray.low == pytest.approx(calm.high - calm.low, abs=0.11)


def test_single_value_and_spread():
    assert median_interval([7.0]).confidence == 0.0
    assert spread([100.0, 101.0, 100.5]) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        median_interval([])


def test_kendall_tau():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert math.isnan(kendall_tau([1, 1], [1, 2]))
