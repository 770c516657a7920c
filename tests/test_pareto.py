from __future__ import annotations

import itertools
import random

import pytest

from gsearch.pareto import dominates, hypervolume, non_dominated, to_minimise


def test_dominance_and_front() -> None:
    assert dominates((1, 1), (1, 2)) and not dominates((1, 2), (1, 2))
    points = [(1, 5), (2, 2), (5, 1), (3, 3), (2, 2)]
    assert non_dominated(points) == [0, 1, 2, 4]
    assert to_minimise((10.0, 90.0, 4.2), (False, True, False)) == (10.0, -90.0, 4.2)


def test_hypervolume_of_boxes() -> None:
    assert hypervolume([(1, 1)], (3, 3)) == 4
    assert hypervolume([(1, 2), (2, 1)], (3, 3)) == 3
    assert hypervolume([(0, 0, 0)], (1, 2, 3)) == 6
    assert hypervolume([(5, 5)], (3, 3)) == 0  # outside the reference box


def test_hypervolume_matches_monte_carlo_in_3d() -> None:
    rng = random.Random(0)
    points = [tuple(rng.random() for _ in range(3)) for _ in range(12)]
    exact = hypervolume(points, (1, 1, 1))
    # A fine grid count of the dominated region.
    n = 40
    cells = sum(
        any(all(p[k] <= c[k] for k in range(3)) for p in points)
        for c in itertools.product(*[[(i + 0.5) / n for i in range(n)]] * 3)
    )
    assert exact == pytest.approx(cells / n**3, abs=0.02)
    # Dominated points add nothing.
    assert hypervolume([*points, (0.99, 0.99, 0.99)], (1, 1, 1)) == pytest.approx(exact)
