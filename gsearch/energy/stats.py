"""Small statistics for repeated measurements: median intervals, spread, Kendall tau."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MedianInterval:
    """A median and a distribution-free confidence interval around it.

    Attributes:
        median: The sample median.
        low: Lower end of the interval.
        high: Upper end of the interval.
        confidence: The interval's actual coverage (binomial, exact). It is the smallest
            achievable level >= the one asked for; below 6 repeats no pair of order
            statistics reaches 95%, and the interval is [min, max] with its lower
            coverage (93.75% at 5 repeats, 0 for a single value).
    """

    median: float
    low: float
    high: float
    confidence: float


def _coverage(n: int, k: int) -> float:
    """P(x_(k) <= median <= x_(n-k+1)) for n draws of a continuous variable (1-based k)."""
    tail = sum(math.comb(n, i) for i in range(k)) / 2**n
    return 1.0 - 2.0 * tail


def median_interval(values: Sequence[float], confidence: float = 0.95) -> MedianInterval:
    """Median with an order-statistic confidence interval (no normality assumed).

    Outliers (a stray slow window) move such an interval far less than a t-interval,
    which is why it is used for repeated EPF windows.
    """
    if not values:
        raise ValueError("median_interval of no values")
    ordered = sorted(values)
    n = len(ordered)
    middle = n // 2
    median = ordered[middle] if n % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])
    if n == 1:
        return MedianInterval(median, median, median, 0.0)
    best_k = 1
    for k in range(1, n // 2 + 1):
        if _coverage(n, k) >= confidence:
            best_k = k
        else:
            break
    return MedianInterval(median, ordered[best_k - 1], ordered[n - best_k], _coverage(n, best_k))


def spread(values: Sequence[float]) -> float:
    """max / min - 1 of positive values (0.01 = the repeats differ by 1%)."""
    if not values:
        raise ValueError("spread of no values")
    low, high = min(values), max(values)
    if low <= 0:
        return math.inf
    return high / low - 1.0


def kendall_tau(first: Sequence[float], second: Sequence[float]) -> float:
    """Kendall's tau-b between two scorings of the same items (ties handled, scipy's).

    Returns:
        1 for the same order, -1 for the reversed order; nan when either side is constant
        or holds fewer than two items.
    """
    from scipy.stats import kendalltau  # scipy takes 0.3 s to import: only when ranking

    if len(first) != len(second):
        raise ValueError("kendall_tau needs two sequences of the same length")
    if len(first) < 2 or len(set(first)) < 2 or len(set(second)) < 2:
        return math.nan
    return float(kendalltau(first, second, variant="b").statistic)
