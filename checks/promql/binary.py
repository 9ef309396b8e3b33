"""PromQL's binary operators: arithmetic, comparisons and set operators, between
scalars and instant vectors, with on/ignoring, group_left/group_right and fill.

The result labels follow Prometheus: arithmetic (and ``bool``) drops the metric name,
a filtering comparison keeps the left-hand series as it was; one-to-one matching
keeps only the on() labels, or drops the ignoring() ones; group_x copies its listed
labels from the "one" side. Two series on the "one" side with one match signature,
or two results with one label set, are errors, as in Prometheus.
"""

from __future__ import annotations

import math

from healthprobes.checks.promql.errors import QueryError
from healthprobes.checks.promql.floats import divide, modulo, power

LabelSet = tuple[tuple[str, str], ...]
Vector = list[tuple[LabelSet, float]]

ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
              "/": divide, "%": modulo, "^": power, "atan2": math.atan2}
COMPARISONS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
               ">": lambda a, b: a > b, "<": lambda a, b: a < b,
               ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}
SET_OPERATORS = ("and", "or", "unless")


def without_name(labels: LabelSet) -> LabelSet:
    return tuple(pair for pair in labels if pair[0] != "__name__")


class Matching:
    """A binary expression's modifier, read once from the parser's BinModifier."""

    def __init__(self, modifier) -> None:
        self.card = str(modifier.card).rsplit(".", 1)[-1] if modifier is not None else "OneToOne"
        self.as_bool = bool(modifier and modifier.return_bool)
        matching = modifier.matching if modifier is not None else None
        self.on = matching is not None and str(matching.type).endswith("Include")
        self.names = frozenset(matching.labels) if matching is not None else frozenset()
        self.include = list(modifier.group_labels or []) if modifier is not None else []
        fill = getattr(modifier, "fill_values", None) if modifier is not None else None
        self.fill_left = None if fill is None else fill.lhs
        self.fill_right = None if fill is None else fill.rhs

    def signature(self, labels: LabelSet) -> LabelSet:
        if self.on:
            return tuple(pair for pair in labels if pair[0] in self.names)
        return tuple(pair for pair in labels
                     if pair[0] not in self.names and pair[0] != "__name__")


def scalars(operator: str, left: float, right: float) -> float:
    if operator in COMPARISONS:
        return float(COMPARISONS[operator](left, right))
    return ARITHMETIC[operator](left, right)


def with_scalar(operator: str, vector: Vector, scalar: float, scalar_left: bool,
                as_bool: bool) -> Vector:
    result: Vector = []
    compare = COMPARISONS.get(operator)
    for labels, value in vector:
        left, right = (scalar, value) if scalar_left else (value, scalar)
        if compare is None:
            result.append((without_name(labels), ARITHMETIC[operator](left, right)))
        elif as_bool:
            result.append((without_name(labels), float(compare(left, right))))
        elif compare(left, right):
            result.append((labels, value))  # a filter keeps the vector's own sample
    return result


def set_operation(operator: str, left: Vector, right: Vector, matching: Matching) -> Vector:
    if operator == "and":
        if not left or not right:
            return []
        present = {matching.signature(labels) for labels, _ in right}
        return [sample for sample in left if matching.signature(sample[0]) in present]
    if operator == "unless":
        if not left or not right:
            return list(left)
        present = {matching.signature(labels) for labels, _ in right}
        return [sample for sample in left if matching.signature(sample[0]) not in present]
    present = {matching.signature(labels) for labels, _ in left}
    return left + [sample for sample in right if matching.signature(sample[0]) not in present]


def vectors(operator: str, left: Vector, right: Vector, matching: Matching) -> Vector:
    """Arithmetic or a comparison between two vectors, matched by signature."""
    fill_left, fill_right = matching.fill_left, matching.fill_right
    if (not left and not right) or ((not left or not right)
                                    and fill_left is None and fill_right is None):
        return []
    swapped = matching.card == "OneToMany"
    if swapped:  # the "one" side is always handled as the right-hand side below
        left, right = right, left
    one: dict[LabelSet, tuple[LabelSet, float]] = {}
    for labels, value in right:
        signature = matching.signature(labels)
        if signature in one:
            side = "left" if swapped else "right"
            first, second = sorted((_text(labels), _text(one[signature][0])))
            raise QueryError(f"found duplicate series for the match group {_text(signature)} "
                             f"on the {side} hand-side of the operation: [{first}, {second}]; "
                             "many-to-many matching not allowed: matching labels must be "
                             "unique on one side")
        one[signature] = (labels, value)
    compare = COMPARISONS.get(operator)
    matched: dict[LabelSet, set[LabelSet]] = {}
    result: Vector = []

    def combine(many_sample, one_sample, signature) -> None:
        (many_labels, many_value), (one_labels, one_value) = many_sample, one_sample
        a, b = (one_value, many_value) if swapped else (many_value, one_value)
        if compare is None:
            value, keep = ARITHMETIC[operator](a, b), True
        else:
            value, keep = a, compare(a, b)
            if matching.as_bool:
                value, keep = float(keep), True
        labels = _result_labels(many_labels, one_labels, matching,
                                drop_name=compare is None or matching.as_bool)
        seen = matched.setdefault(signature, set())
        if matching.card == "OneToOne":
            if seen:
                raise QueryError("multiple matches for labels: many-to-one matching must be "
                                 "explicit (group_left/group_right)")
            seen.add(labels)
        else:
            if labels in seen:
                raise QueryError("multiple matches for labels: grouping labels must ensure "
                                 "unique matches")
            seen.add(labels)
        if keep:
            result.append((labels, value))

    for sample in left:
        signature = matching.signature(sample[0])
        partner = one.get(signature)
        if partner is None:
            if fill_right is None:
                continue
            partner = (_fill_labels(sample[0], matching), fill_right)
        combine(sample, partner, signature)
    if fill_left is not None:
        for sample in right:
            signature = matching.signature(sample[0])
            if matched.get(signature):
                continue
            combine((_fill_labels(sample[0], matching), fill_left), sample, signature)
    return result


def _fill_labels(labels: LabelSet, matching: Matching) -> LabelSet:
    """The labels a filled-in sample stands in with: its partner's matching labels."""
    if matching.on:
        return tuple(pair for pair in labels if pair[0] in matching.names)
    return tuple(pair for pair in labels
                 if pair[0] not in matching.names and pair[0] != "__name__")


def _result_labels(many: LabelSet, one: LabelSet, matching: Matching,
                   drop_name: bool) -> LabelSet:
    labels = dict(without_name(many) if drop_name else many)
    if matching.card == "OneToOne":
        if matching.on:
            labels = {name: value for name, value in labels.items() if name in matching.names}
        else:
            for name in matching.names:
                labels.pop(name, None)
    if matching.include:
        extra = dict(one)
        for name in matching.include:
            if extra.get(name):
                labels[name] = extra[name]
            else:
                labels.pop(name, None)
    return tuple(sorted(labels.items()))


def _text(labels: LabelSet) -> str:
    return "{" + ", ".join(f'{name}="{value}"' for name, value in labels) + "}"
