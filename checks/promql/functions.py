"""PromQL's functions: a registry of what each one takes, and their arithmetic on plain
numbers (no parsing, no labels).

Adding a function is one FUNCTIONS entry plus its arithmetic: a range function gets
the samples of one series inside its window, an element-wise one gets one value, a
date function the civil date of one timestamp; the evaluator does the rest (selecting,
windows, labels, dropping the metric name). The few that work on whole vectors or on
labels (label_replace, sort, absent ...) name an evaluator method instead.

Rates: by default ``rate`` and ``increase`` are not extrapolated: the answer is the
increase between the oldest and the newest sample the window holds, divided by the
time between them (a check run every minute or two has few samples in a window, and
stretching them to the window's edges would invent data). With ``extrapolate`` they
are Prometheus' own: extrapolated to the window's edges as its engine does.
"""

from __future__ import annotations

import math
from itertools import pairwise

from healthprobes.checks.promql.floats import (
    ELEMENTWISE,
    INF,
    NAN,
    divide,
    kahan_add,
    kahan_sum,
    mean,
)

Points = list[tuple[float, float]]


class Window:
    """The samples of one series in (start, end], and how they were asked for."""

    __slots__ = ("end", "extrapolate", "points", "seconds", "start", "time")

    def __init__(self, points: Points, start: float, end: float, time: float,
                 extrapolate: bool = False) -> None:
        self.points, self.start, self.end = points, start, end
        self.seconds = end - start  # the range written in the selector
        self.time = time  # the evaluation time (predict_linear's "now")
        self.extrapolate = extrapolate

    def values(self) -> list[float]:
        return [value for _, value in self.points]


# --- counters and gauges over a window ---------------------------------------------------

def counter_resets(points: Points) -> int:
    return sum(1 for (_, before), (_, after) in pairwise(points) if after < before)


def _change(window: Window, counter: bool, per_second: bool) -> float | None:
    points = window.points
    if len(points) < 2:
        return None
    (first_time, first), (last_time, last) = points[0], points[-1]
    change = last - first
    if counter:
        # A counter that went down was reset (its process restarted): what it
        # counted since is its whole new value, so the value before the drop is added.
        change += sum(before for (_, before), (_, after) in pairwise(points) if after < before)
    sampled = last_time - first_time
    if not window.extrapolate:
        return divide(change, sampled) if per_second else change
    # Prometheus' extrapolation: stretch the change to the window's edges when the
    # first and last samples are within 1.1 average intervals of them, else by half
    # an interval; a counter is never stretched below zero.
    average = sampled / (len(points) - 1)
    threshold = average * 1.1
    to_start, to_end = first_time - window.start, window.end - last_time
    if to_start >= threshold:
        to_start = average / 2
    if counter and change > 0 and first >= 0:
        to_start = min(to_start, sampled * (first / change))
    if to_end >= threshold:
        to_end = average / 2
    factor = (sampled + to_start + to_end) / sampled if sampled else 1.0
    if per_second:
        factor /= window.seconds
    return change * factor


def rate(window: Window) -> float | None:
    return _change(window, counter=True, per_second=True)


def increase(window: Window) -> float | None:
    return _change(window, counter=True, per_second=False)


def delta(window: Window) -> float | None:
    return _change(window, counter=False, per_second=False)


def _instant_change(window: Window, per_second: bool) -> float | None:
    if len(window.points) < 2:
        return None
    (before_time, before), (after_time, after) = window.points[-2:]
    if after_time == before_time:
        return None
    change = after if per_second and after < before else after - before
    return change / (after_time - before_time) if per_second else change


def irate(window: Window) -> float | None:
    return _instant_change(window, per_second=True)


def idelta(window: Window) -> float | None:
    return _instant_change(window, per_second=False)


def changes(window: Window) -> float:
    return float(sum(1 for (_, before), (_, after) in pairwise(window.points)
                     if after != before and not (math.isnan(after) and math.isnan(before))))


def resets(window: Window) -> float:
    return float(counter_resets(window.points))


def linear_regression(points: Points, intercept_time: float) -> tuple[float, float]:
    """Least squares over the points: the slope per second and the value at
    ``intercept_time``; compensated sums, with x measured from intercept_time."""
    first = points[0][1]
    constant = all(value == first for _, value in points)
    if constant:
        return (NAN, NAN) if math.isinf(first) else (0.0, first)
    sums = {"x": (0.0, 0.0), "y": (0.0, 0.0), "xy": (0.0, 0.0), "xx": (0.0, 0.0)}
    for time, value in points:
        x = time - intercept_time
        for name, term in (("x", x), ("y", value), ("xy", x * value), ("xx", x * x)):
            sums[name] = kahan_add(term, *sums[name])
    count = len(points)
    sum_x, sum_y, sum_xy, sum_xx = (total + compensation
                                    for total, compensation in sums.values())
    covariance = sum_xy - sum_x * sum_y / count
    variance = sum_xx - sum_x * sum_x / count
    slope = divide(covariance, variance)
    return slope, sum_y / count - slope * sum_x / count


def deriv(window: Window) -> float | None:
    if len(window.points) < 2:
        return None
    return linear_regression(window.points, window.points[0][0])[0]


def predict_linear(window: Window, seconds: float) -> float | None:
    """The value ``seconds`` after the evaluation time on the window's regression line."""
    if len(window.points) < 2:
        return None
    slope, intercept = linear_regression(window.points, window.time)
    return slope * seconds + intercept


def double_exponential_smoothing(window: Window, smoothing: float, trend: float) -> float | None:
    from healthprobes.checks.promql.errors import QueryError

    if not 0 < smoothing < 1:
        raise QueryError(f"invalid smoothing factor: 0 < sf < 1 expected, got {smoothing:g}")
    if not 0 < trend < 1:
        raise QueryError(f"invalid trend factor: 0 < tf < 1 expected, got {trend:g}")
    values = window.values()
    if len(values) < 2:
        return None
    previous, level, slope = 0.0, values[0], values[1] - values[0]
    for index, value in enumerate(values[1:], start=1):
        if index > 1:
            slope = trend * (level - previous) + (1 - trend) * slope
        previous, level = level, smoothing * value + (1 - smoothing) * (level + slope)
    return level


# --- aggregations over time ---------------------------------------------------------------

def quantile(q: float, values: list[float]) -> float:
    """The q-quantile, interpolating between the two nearest ranks (NaN sorts first)."""
    if not values or math.isnan(q):
        return NAN
    if q < 0:
        return -INF
    if q > 1:
        return INF
    ordered = sorted(values, key=lambda value: (not math.isnan(value), value))
    rank = q * (len(ordered) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def variance(values: list[float]) -> float:
    """Welford's running variance with compensated sums, as Prometheus computes it."""
    count = 0
    mean_total = mean_compensation = aux_total = aux_compensation = 0.0
    for value in values:
        count += 1
        difference = value - (mean_total + mean_compensation)
        mean_total, mean_compensation = kahan_add(difference / count, mean_total,
                                                  mean_compensation)
        aux_total, aux_compensation = kahan_add(
            difference * (value - (mean_total + mean_compensation)), aux_total,
            aux_compensation)
    return (aux_total + aux_compensation) / count


def median_absolute_deviation(values: list[float]) -> float:
    if any(math.isnan(value) for value in values):
        return NAN
    middle = quantile(0.5, values)
    return quantile(0.5, [abs(value - middle) for value in values])


def round_to(value: float, nearest: float = 1.0) -> float:
    """round(v, to_nearest): ties go up; scaled by the inverse, as Prometheus does it
    (fewer floating point surprises than dividing by to_nearest)."""
    inverse = divide(1.0, nearest)
    scaled = value * inverse + 0.5
    floored = float(math.floor(scaled)) if math.isfinite(scaled) else scaled
    return divide(floored, inverse)


def _extreme(window: Window, better, time_of: bool) -> float:
    best_time, best = window.points[0]
    for time, value in window.points:
        if better(value, best) or math.isnan(best):
            best_time, best = time, value
    return best_time if time_of else best


def _over_time(compute):
    """A range function of the window's values alone."""
    return lambda window: compute(window.values())


# --- the registry ---------------------------------------------------------------------------

RANGE, ELEMENT, DATE, METHOD, REFUSED = "range", "element", "date", "method", "refused"


class Function:
    """How the evaluator calls one PromQL function.

    ``kind`` RANGE: ``compute(window, *numbers)`` per series of the range argument at
    ``range_arg``, None when the window holds too few samples; ELEMENT:
    ``compute(value, *numbers)`` per sample; DATE: ``compute(date)`` per sample (or of
    time() without an argument); METHOD: the evaluator method named ``compute``;
    REFUSED: ``compute`` says why it cannot be answered here.
    """

    __slots__ = ("compute", "counter", "keeps_name", "kind", "range_arg")

    def __init__(self, kind: str, compute, range_arg: int = 0, keeps_name: bool = False,
                 counter: bool = False) -> None:
        self.kind, self.compute, self.range_arg = kind, compute, range_arg
        self.keeps_name = keeps_name  # last_over_time keeps the metric name, as offset does
        self.counter = counter  # counter resets are worth a note


def _range(compute, **options) -> Function:
    return Function(RANGE, compute, **options)


_NATIVE = "native histograms: the text exposition format has none"

FUNCTIONS: dict[str, Function] = {
    # Rates and changes over a window.
    "rate": _range(rate, counter=True),
    "increase": _range(increase, counter=True),
    "irate": _range(irate, counter=True),
    "delta": _range(delta),
    "idelta": _range(idelta),
    "changes": _range(changes),
    "resets": _range(resets),
    "deriv": _range(deriv),
    "predict_linear": _range(predict_linear),
    "double_exponential_smoothing": _range(double_exponential_smoothing),
    # Aggregations over time.
    "avg_over_time": _range(_over_time(mean)),
    "sum_over_time": _range(_over_time(kahan_sum)),
    "count_over_time": _range(lambda window: float(len(window.points))),
    "min_over_time": _range(lambda window: _extreme(window, lambda a, b: a < b, False)),
    "max_over_time": _range(lambda window: _extreme(window, lambda a, b: a > b, False)),
    "last_over_time": _range(lambda window: window.points[-1][1], keeps_name=True),
    "first_over_time": _range(lambda window: window.points[0][1], keeps_name=True),
    "quantile_over_time": _range(lambda window, q: quantile(q, window.values()), range_arg=1),
    "stddev_over_time": _range(_over_time(lambda values: math.sqrt(variance(values)))),
    "stdvar_over_time": _range(_over_time(variance)),
    "mad_over_time": _range(_over_time(median_absolute_deviation)),
    "present_over_time": _range(lambda window: 1.0),
    "ts_of_min_over_time": _range(lambda window: _extreme(window, lambda a, b: a <= b, True)),
    "ts_of_max_over_time": _range(lambda window: _extreme(window, lambda a, b: a >= b, True)),
    "ts_of_first_over_time": _range(lambda window: window.points[0][0]),
    "ts_of_last_over_time": _range(lambda window: window.points[-1][0]),
    "absent_over_time": Function(METHOD, "absent_over_time"),
    # Element-wise arithmetic (the metric name is dropped).
    **{name: Function(ELEMENT, compute) for name, compute in ELEMENTWISE.items()},
    "round": Function(ELEMENT, round_to),
    "clamp": Function(METHOD, "clamp"),
    "clamp_min": Function(METHOD, "clamp"),
    "clamp_max": Function(METHOD, "clamp"),
    # Dates, of the sample values (Unix seconds) or of the evaluation time; UTC.
    "year": Function(DATE, lambda date: float(date[0])),
    "month": Function(DATE, lambda date: float(date[1])),
    "day_of_month": Function(DATE, lambda date: float(date[2])),
    "hour": Function(DATE, lambda date: float(date[3])),
    "minute": Function(DATE, lambda date: float(date[4])),
    "day_of_week": Function(DATE, lambda date: float(date[5])),
    "day_of_year": Function(DATE, lambda date: float(date[6])),
    "days_in_month": Function(DATE, lambda date: float(date[7])),
    # Whole vectors, labels, scalars.
    "histogram_quantile": Function(METHOD, "histogram_quantile"),
    "label_replace": Function(METHOD, "label_replace"),
    "label_join": Function(METHOD, "label_join"),
    "sort": Function(METHOD, "sort"),
    "sort_desc": Function(METHOD, "sort"),
    "sort_by_label": Function(METHOD, "sort_by_label"),
    "sort_by_label_desc": Function(METHOD, "sort_by_label"),
    "absent": Function(METHOD, "absent"),
    "scalar": Function(METHOD, "scalar"),
    "vector": Function(METHOD, "vector"),
    "time": Function(METHOD, "time"),
    "timestamp": Function(METHOD, "timestamp"),
    "pi": Function(METHOD, "pi"),
    "max_of": Function(METHOD, "max_of"),
    "min_of": Function(METHOD, "min_of"),
    # Out of reach of a text scrape.
    "histogram_count": Function(REFUSED, _NATIVE),
    "histogram_sum": Function(REFUSED, _NATIVE),
    "histogram_avg": Function(REFUSED, _NATIVE),
    "histogram_fraction": Function(REFUSED, _NATIVE),
    "histogram_stddev": Function(REFUSED, _NATIVE),
    "histogram_stdvar": Function(REFUSED, _NATIVE),
    "histogram_quantiles": Function(REFUSED, "an experimental function not evaluated here"),
    "info": Function(REFUSED, "info metrics are joined by a Prometheus server, not a scrape"),
    "start_timestamp": Function(REFUSED, "the text exposition format carries no start "
                                         "timestamps"),
}


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' interpolation in classic buckets; ``buckets`` are (upper bound,
    cumulative count) in any order. NaN where there is nothing to interpolate: no
    +Inf bucket, fewer than two buckets, no observations."""
    if math.isnan(q):
        return NAN
    if q < 0:
        return -INF
    if q > 1:
        return INF
    ordered = sorted(buckets, key=lambda bucket: bucket[0])
    if not ordered or ordered[-1][0] != INF:
        return NAN
    merged: list[list[float]] = []  # "1" and "1.0" are one bound: their counts add up
    for bound, count in ordered:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    _make_monotonic(merged)
    if len(merged) < 2:
        return NAN
    observations = merged[-1][1]
    if observations == 0 or math.isnan(observations):
        return NAN
    rank = q * observations
    index = next((i for i, (_, count) in enumerate(merged[:-1]) if count >= rank),
                 len(merged) - 1)
    if index == len(merged) - 1:
        return merged[-2][0]  # the rank is in the +Inf bucket: the highest finite bound
    if index == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[index][0], merged[index][1]
    if index > 0:
        start = merged[index - 1][0]
        count -= merged[index - 1][1]
        rank -= merged[index - 1][1]
    return start + (end - start) * (rank / count)


def _make_monotonic(buckets: list[list[float]]) -> None:
    """Counts must not fall with rising bounds (rates of separate series, float error):
    a fall is raised to the count before it; relative differences below 1e-12 count
    as equal, whichever way they go."""
    previous = buckets[0][1]
    for bucket in buckets[1:]:
        current = bucket[1]
        if current == previous:
            continue
        if _almost_equal(previous, current):
            bucket[1] = previous
            continue
        if current < previous:
            bucket[1] = previous
            continue
        previous = current


def _almost_equal(a: float, b: float, tolerance: float = 1e-12) -> bool:
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return a == b
    difference = abs(a - b)
    magnitude = abs(a) + abs(b)
    if a == 0 or b == 0 or magnitude < 2.2250738585072014e-308:
        return difference < tolerance * 2.2250738585072014e-308
    return difference / min(magnitude, 1.7976931348623157e308) < tolerance


def civil_date(seconds: int) -> tuple[int, int, int, int, int, int, int, int]:
    """(year, month, day, hour, minute, weekday with Sunday 0, day of year, days in the
    month) of Unix seconds, UTC, for any integer (no datetime range limits)."""
    days, rest = divmod(seconds, 86400)
    hour, minute = rest // 3600, rest % 3600 // 60
    weekday = (days + 4) % 7  # 1970-01-01 was a Thursday
    # Days to a proleptic Gregorian civil date (eras of 400 years from 0000-03-01).
    shifted = days + 719468
    era = shifted // 146097
    day_of_era = shifted - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524
                   - day_of_era // 146096) // 365
    day_of_year_march = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_march = (5 * day_of_year_march + 2) // 153
    day = day_of_year_march - (153 * month_march + 2) // 5 + 1
    month = month_march + 3 if month_march < 10 else month_march - 9
    year = year_of_era + era * 400 + (month <= 2)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    lengths = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    day_of_year = sum(lengths[:month - 1]) + day
    return year, month, day, hour, minute, weekday, day_of_year, lengths[month - 1]
