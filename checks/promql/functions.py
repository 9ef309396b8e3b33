"""The arithmetic of PromQL functions, on plain numbers: no parsing, no labels.

Range functions take the samples of one series inside its window, oldest first, as
(seconds, value) pairs. Unlike Prometheus, ``rate`` and ``increase`` do not
extrapolate to the window's edges: a plugin run every minute or two has too few
samples in a window for extrapolation to be right, so the answer is the increase
between the oldest and the newest sample the window holds (see check_metrics --help).
"""

from __future__ import annotations

import math
from itertools import pairwise

NAN = math.nan
INF = math.inf

Points = list[tuple[float, float]]


def counter_increase(points: Points) -> tuple[float, int]:
    """The increase from the first to the last point, and how many resets were corrected.

    A counter that goes down was reset (the process restarted): what it counted since
    the reset is its whole new value, as Prometheus counts it.
    """
    total, resets = 0.0, 0
    for (_, before), (_, after) in pairwise(points):
        if after < before:
            total += after
            resets += 1
        else:
            total += after - before
    return total, resets


def rate(points: Points) -> tuple[float, int]:
    increase, resets = counter_increase(points)
    return increase / (points[-1][0] - points[0][0]), resets


def increase(points: Points) -> tuple[float, int]:
    return counter_increase(points)


def irate(points: Points) -> tuple[float, int]:
    (before_time, before), (after_time, after) = points[-2], points[-1]
    if after < before:
        return after / (after_time - before_time), 1
    return (after - before) / (after_time - before_time), 0


def delta(points: Points) -> tuple[float, int]:
    return points[-1][1] - points[0][1], 0


# Name -> (function of the window's points, fewest points it needs).
RANGE_FUNCTIONS = {
    "rate": (rate, 2),
    "irate": (irate, 2),
    "increase": (increase, 2),
    "delta": (delta, 2),
    "avg_over_time": (lambda points: (sum(v for _, v in points) / len(points), 0), 1),
    "min_over_time": (lambda points: (min(v for _, v in points), 0), 1),
    "max_over_time": (lambda points: (max(v for _, v in points), 0), 1),
    "sum_over_time": (lambda points: (sum(v for _, v in points), 0), 1),
    "count_over_time": (lambda points: (float(len(points)), 0), 1),
    "last_over_time": (lambda points: (points[-1][1], 0), 1),
}

ELEMENTWISE = {
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
}


def histogram_quantile(quantile: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' bucket interpolation; ``buckets`` are (upper bound, cumulative count).

    NaN where there is nothing to interpolate: no ``+Inf`` bucket, fewer than two
    buckets, or no observations (for rates: none in the window).
    """
    if quantile < 0:
        return -INF
    if quantile > 1:
        return INF
    if math.isnan(quantile):
        return NAN
    buckets = sorted(buckets)
    if len(buckets) < 2 or buckets[-1][0] != INF:
        return NAN
    # Counts must not fall with rising bounds; rates of separate series can make them.
    fixed, highest = [], 0.0
    for bound, count in buckets:
        highest = max(highest, count)
        fixed.append((bound, highest))
    total = fixed[-1][1]
    if total <= 0 or math.isnan(total):
        return NAN
    rank = quantile * total
    index = next(i for i, (_, count) in enumerate(fixed) if count >= rank)
    if index == len(fixed) - 1:  # the rank is in +Inf: the highest finite bound
        return fixed[-2][0]
    if index == 0 and fixed[0][0] <= 0:
        return fixed[0][0]
    lower_bound = 0.0 if index == 0 else fixed[index - 1][0]
    lower_count = 0.0 if index == 0 else fixed[index - 1][1]
    upper_bound, upper_count = fixed[index]
    if upper_count == lower_count:
        return upper_bound
    return lower_bound + (upper_bound - lower_bound) * (rank - lower_count) / (
        upper_count - lower_count)


def arithmetic(op: str, left: float, right: float) -> float:
    """IEEE results where Python would raise: x/0 is ±Inf or NaN, as in Prometheus."""
    try:
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            return left / right
        if op == "%":
            return math.fmod(left, right)
        if op == "^":
            return math.pow(left, right)
    except ZeroDivisionError:
        if op == "/" and left != 0 and not math.isnan(left):
            return math.copysign(INF, left) * math.copysign(1.0, right)
        return NAN
    except (ValueError, OverflowError):
        return NAN if op == "%" else (INF if left > 0 else NAN)
    raise ValueError(f"unknown operator {op}")


def compare(op: str, left: float, right: float) -> bool:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == ">":
        return left > right
    if op == "<":
        return left < right
    if op == ">=":
        return left >= right
    if op == "<=":
        return left <= right
    raise ValueError(f"unknown comparison {op}")


COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")
ARITHMETIC = ("+", "-", "*", "/", "%", "^")
SET_OPERATORS = ("and", "or", "unless")
