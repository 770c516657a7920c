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
    """Kendall's tau-b between two scorings of the same items (ties handled).

    Returns:
        1 for the same order, -1 for the reversed order; nan when either side is constant.
    """
    if len(first) != len(second):
        raise ValueError("kendall_tau needs two sequences of the same length")
    concordant = discordant = ties_first = ties_second = 0
    n = len(first)
    for i in range(n):
        for j in range(i + 1, n):
            a = first[i] - first[j]
            b = second[i] - second[j]
            if a == 0 and b == 0:
                continue
            if a == 0:
                ties_first += 1
            elif b == 0:
                ties_second += 1
            elif (a > 0) == (b > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt(
        (concordant + discordant + ties_first) * (concordant + discordant + ties_second)
    )
    if denominator == 0:
        return math.nan
    return (concordant - discordant) / denominator
