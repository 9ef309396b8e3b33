"""PromQL's aggregation operators over one instant vector, grouped by/without labels.

Groups come out in the order their first series came in. sum and avg use compensated
(Kahan) sums, avg switching to an incremental mean where a sum would overflow; min and
max prefer any number to NaN; topk and bottomk keep Prometheus' choice among equal
values (a binary heap, replayed exactly as Go's container/heap runs).
"""

from __future__ import annotations

import math

from healthprobes.checks.promql.errors import QueryError, Unsupported
from healthprobes.checks.promql.floats import format_plain, kahan_add, mean
from healthprobes.checks.promql.functions import quantile

LabelSet = tuple[tuple[str, str], ...]
Vector = list[tuple[LabelSet, float]]

MAX_INT64 = 9.223372036854775807e18


class Grouping:
    """by (...) or without (...), or neither (one group)."""

    def __init__(self, names: list[str], without: bool) -> None:
        self.names, self.without = frozenset(names), without

    def key(self, labels: LabelSet) -> LabelSet:
        if self.without:
            return tuple(pair for pair in labels
                         if pair[0] not in self.names and pair[0] != "__name__")
        return tuple(pair for pair in labels if pair[0] in self.names)


def aggregate(operator: str, vector: Vector, grouping: Grouping, parameter=None) -> Vector:
    """The aggregation's result; ``parameter`` is k, the quantile or the label name."""
    if operator == "count_values":
        return _count_values(vector, grouping, parameter)
    if operator in ("topk", "bottomk", "limitk"):
        return _select_k(operator, vector, grouping, parameter)
    if operator == "limit_ratio":
        raise Unsupported("limit_ratio()", "it samples series by a hash of their labels")
    if operator not in _SIMPLE:
        raise Unsupported(f"the aggregation {operator}()")
    groups: dict[LabelSet, list[float]] = {}
    for labels, value in vector:
        groups.setdefault(grouping.key(labels), []).append(value)
    if operator == "quantile":
        return [(key, quantile(parameter, values)) for key, values in groups.items()]
    compute = _SIMPLE[operator]
    return [(key, compute(values)) for key, values in groups.items()]


def _sum(values: list[float]) -> float:
    total, compensation = values[0], 0.0
    for value in values[1:]:
        total, compensation = kahan_add(value, total, compensation)
    return total + compensation


def _extreme(values: list[float], replaces) -> float:
    best = values[0]
    for value in values[1:]:
        if replaces(best, value) or math.isnan(best):
            best = value
    return best


def _variance(values: list[float]) -> float:
    """Welford's method as Prometheus runs it: NaN as soon as the first value is not
    finite (the running sum starts at NaN then)."""
    first = values[0]
    running_mean, total = first, (math.nan if not math.isfinite(first) else 0.0)
    for count, value in enumerate(values[1:], start=2):
        difference = value - running_mean
        running_mean += difference / count
        total += difference * (value - running_mean)
    return total / len(values)


_SIMPLE = {
    "sum": _sum,
    "avg": mean,
    "count": lambda values: float(len(values)),
    "group": lambda values: 1.0,
    "min": lambda values: _extreme(values, lambda best, value: best > value),
    "max": lambda values: _extreme(values, lambda best, value: best < value),
    "stdvar": _variance,
    "stddev": lambda values: math.sqrt(_variance(values)),
    "quantile": None,  # needs its parameter: handled in aggregate()
}


def _count_values(vector: Vector, grouping: Grouping, label) -> Vector:
    if not isinstance(label, str):
        raise QueryError("count_values() needs a label name (a string) first")
    if not label:
        raise QueryError(f"invalid label name {label!r} for count_values()")
    if not grouping.without:
        grouping = Grouping([*grouping.names, label], without=False)
    counts: dict[LabelSet, int] = {}
    for labels, value in vector:
        with_value = dict(labels)
        with_value[label] = format_plain(value)
        key = grouping.key(tuple(sorted(with_value.items())))
        counts[key] = counts.get(key, 0) + 1
    return [(key, float(count)) for key, count in counts.items()]


def _select_k(operator: str, vector: Vector, grouping: Grouping, parameter) -> Vector:
    if not isinstance(parameter, float):
        raise QueryError(f"{operator}() needs a number first")
    if parameter < 1:  # NaN compares false: it is refused below
        return []
    if math.isnan(parameter):
        raise QueryError(f"{operator}(): the parameter value is NaN")
    if parameter >= MAX_INT64:
        raise QueryError(f"{operator}(): the scalar value {parameter:g} overflows int64")
    k = min(int(parameter), len(vector))
    groups: dict[LabelSet, list[tuple[LabelSet, float]]] = {}
    for sample in vector:
        heap = groups.setdefault(grouping.key(sample[0]), [])
        if operator == "limitk":
            if len(heap) < k:
                heap.append(sample)
        elif operator == "topk":
            _offer(heap, sample, k, _less_topk)
        else:
            _offer(heap, sample, k, _less_bottomk)
    result: Vector = []
    for heap in groups.values():
        if operator == "topk":
            heap = sorted(heap, key=lambda sample: (math.isnan(sample[1]), -sample[1]))
        elif operator == "bottomk":
            heap = sorted(heap, key=lambda sample: (math.isnan(sample[1]), sample[1]))
        result.extend(heap)
    return result


def _less_topk(a: float, b: float) -> bool:
    """The order of topk's heap: the smallest on top, NaN below every number."""
    return math.isnan(a) or a < b


def _less_bottomk(a: float, b: float) -> bool:
    return math.isnan(a) or a > b


def _offer(heap: list, sample, k: int, less) -> None:
    """Keep the k best samples in ``heap``, a binary heap ordered by ``less`` (the
    worst kept sample on top), pushing and fixing exactly as Go's container/heap."""
    if len(heap) < k:
        heap.append(sample)
        _up(heap, len(heap) - 1, less)
        return
    top = heap[0][1]
    if (less(top, sample[1]) and not math.isnan(sample[1])) or (
            math.isnan(top) and not math.isnan(sample[1])):
        heap[0] = sample
        if k > 1 and not _down(heap, 0, less):
            _up(heap, 0, less)


def _up(heap: list, index: int, less) -> None:
    while index > 0:
        parent = (index - 1) // 2
        if not less(heap[index][1], heap[parent][1]):
            break
        heap[parent], heap[index] = heap[index], heap[parent]
        index = parent


def _down(heap: list, start: int, less) -> bool:
    index, size = start, len(heap)
    while True:
        child = 2 * index + 1
        if child >= size:
            break
        if child + 1 < size and less(heap[child + 1][1], heap[child][1]):
            child += 1
        if not less(heap[child][1], heap[index][1]):
            break
        heap[index], heap[child] = heap[child], heap[index]
        index = child
    return index > start
