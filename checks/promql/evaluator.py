"""A PromQL evaluator for one scrape plus the history a state file keeps.

Parsing is promql-parser's (the Rust parser used by GreptimeDB, as a Python
extension); this module evaluates its tree at one instant: the time of the scrape.
It covers what alerting rules use: selectors with label matchers, range functions
over a window (from the stored history), histogram_quantile, aggregations with
by/without, arithmetic, comparisons and set operators with on/ignoring and
group_left/right. Anything else raises Unsupported naming the part.
"""

from __future__ import annotations

import math
import re

from healthprobes.checks.promql import functions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.probes.exposition import Exposition

LabelSet = tuple[tuple[str, str], ...]  # sorted pairs; "__name__" included while kept
Vector = list[tuple[LabelSet, float]]
Points = list[tuple[float, float]]


class QueryError(ValueError):
    """The expression cannot be parsed or makes no sense (a range vector as result)."""


class Unsupported(QueryError):
    """Valid PromQL, outside the subset evaluated here."""


def parse(text: str):
    try:
        import promql_parser
    except ImportError:  # pragma: no cover - a dependency of the package
        raise QueryError("the PromQL parser (pip install promql-parser) is missing") from None
    try:
        return promql_parser.parse(text)
    except (ValueError, RuntimeError) as error:
        raise QueryError(f"cannot parse {text!r}: {error}") from None


def series_key(labels: LabelSet) -> str:
    """``name{a="b"}``: how a series is written in messages and in the state file."""
    name = dict(labels).get("__name__", "")
    rest = ",".join(f'{key}="{value}"' for key, value in labels if key != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def without_name(labels: LabelSet) -> LabelSet:
    return tuple(pair for pair in labels if pair[0] != "__name__")


def metric_names(tree) -> set[str] | None:
    """The metric names the expression selects; None if one selector has no name."""
    names: set[str] = set()
    complete = True

    def visit(node) -> None:
        nonlocal complete
        kind = type(node).__name__
        if kind == "VectorSelector":
            if node.name:
                names.add(node.name)
            else:
                complete = False
        elif kind == "MatrixSelector":
            visit(node.vector_selector)
        for child in _children(node):
            visit(child)

    visit(tree)
    return names if complete else None


def range_windows(tree) -> list[float]:
    """The windows (seconds) of every range selector in the expression."""
    found: list[float] = []

    def visit(node) -> None:
        if type(node).__name__ == "MatrixSelector":
            found.append(node.range.total_seconds())
        for child in _children(node):
            visit(child)

    visit(tree)
    return found


def _children(node) -> list:
    kind = type(node).__name__
    if kind == "BinaryExpr":
        return [node.lhs, node.rhs]
    if kind in ("ParenExpr", "UnaryExpr", "AggregateExpr", "SubqueryExpr"):
        extra = [node.param] if kind == "AggregateExpr" and node.param is not None else []
        return [node.expr, *extra]
    if kind == "Call":
        return list(node.args)
    return []


class Evaluation:
    """One expression evaluated at ``now`` over a scrape and the stored history.

    ``history`` maps series keys to earlier (time, value) points, oldest first.
    After :meth:`run`, ``recorded`` holds the current value of every series a range
    selector read (the caller stores them for the next run), ``notes`` what a reader
    should know (counter resets), and ``short_windows`` the series whose window held
    too few points to compute anything yet.
    """

    def __init__(self, scrape: Exposition, now: float,
                 history: dict[str, Points] | None = None) -> None:
        self.scrape, self.now, self.history = scrape, now, history or {}
        self.recorded: dict[str, float] = {}
        self.notes: list[str] = []
        self.short_windows: list[str] = []

    def run(self, tree) -> Vector:
        """The expression's value as an instant vector (a scalar is one unlabelled sample)."""
        value = self._eval(tree)
        if isinstance(value, float):
            return [((), value)]
        if isinstance(value, str):
            raise QueryError("the expression is a string; it must give numbers")
        return value

    # --- dispatch ---------------------------------------------------------------

    def _eval(self, node):
        kind = type(node).__name__
        handler = getattr(self, f"_eval_{kind}", None)
        if handler is None:
            raise Unsupported(f"{_describe(node)} is not supported")
        return handler(node)

    def _eval_NumberLiteral(self, node) -> float:
        return float(node.val)

    def _eval_StringLiteral(self, node) -> str:
        return str(node.val)

    def _eval_ParenExpr(self, node):
        return self._eval(node.expr)

    def _eval_UnaryExpr(self, node):
        value = self._eval(node.expr)
        if isinstance(value, float):
            return -value
        return [(without_name(labels), -number) for labels, number in value]

    def _eval_MatrixSelector(self, node):
        raise QueryError(f"{node} is a range vector; judge it through a function such as "
                         "rate() or max_over_time()")

    def _eval_SubqueryExpr(self, node):
        raise Unsupported(f"the subquery {node} is not supported (a plugin run has no "
                          "history of expressions, only of scraped series)")

    # --- selectors ---------------------------------------------------------------

    def _eval_VectorSelector(self, node) -> Vector:
        return [(labels, value) for labels, value in self._select(node)]

    def _select(self, selector) -> Vector:
        if selector.offset is not None or selector.at is not None:
            raise Unsupported(f"offset and @ ({selector}) are not supported: a scrape has "
                              "only the present")
        if selector.matchers.or_matchers:
            raise Unsupported(f"'or' inside a selector ({selector}) is not supported")
        tests = [_matcher(matcher) for matcher in selector.matchers.matchers]
        names = [selector.name] if selector.name else list(self.scrape.samples)
        chosen: Vector = []
        for name in names:
            for labels, value in self.scrape.samples.get(name, {}).items():
                full = tuple(sorted((*labels, ("__name__", name))))
                lookup = dict(full)
                if all(test(lookup) for test in tests):
                    chosen.append((full, value))
        return chosen

    def _window(self, node) -> list[tuple[LabelSet, Points]]:
        """Each selected series with its points inside the window, oldest first."""
        if type(node).__name__ == "SubqueryExpr":
            return self._eval_SubqueryExpr(node)
        if type(node).__name__ != "MatrixSelector":
            raise QueryError(f"{_describe(node)} is not a range vector (write name[5m])")
        width = node.range.total_seconds()
        start = self.now - width
        series = []
        for labels, value in self._select(node.vector_selector):
            key = series_key(labels)
            self.recorded[key] = value
            points = [(time, number) for time, number in self.history.get(key, [])
                      if start < time < self.now]
            points.append((self.now, value))
            series.append((labels, points))
        return series

    # --- functions -----------------------------------------------------------------

    def _eval_Call(self, node):
        name = node.func.name
        args = list(node.args)
        if name in functions.RANGE_FUNCTIONS:
            compute, needed = functions.RANGE_FUNCTIONS[name]
            result: Vector = []
            for labels, points in self._window(args[0]):
                if len(points) < needed:
                    self.short_windows.append(series_key(labels))
                    continue
                value, resets = compute(points)
                if resets:
                    self.notes.append(f"{series_key(labels)}: counter reset corrected in "
                                      f"{name}()")
                result.append((without_name(labels), value))
            return result
        if name == "histogram_quantile":
            return self._histogram_quantile(args)
        if name in functions.ELEMENTWISE:
            apply = functions.ELEMENTWISE[name]
            return [(without_name(labels), float(apply(value)) if math.isfinite(value)
                     else value) for labels, value in self._vector(args[0], name)]
        if name in ("clamp", "clamp_min", "clamp_max"):
            return self._clamp(name, args)
        if name == "absent":
            return self._absent(args[0])
        if name == "scalar":
            vector = self._vector(args[0], name)
            return vector[0][1] if len(vector) == 1 else math.nan
        if name == "vector":
            return [((), self._scalar(args[0], name))]
        if name == "time":
            return self.now
        raise Unsupported(f"the function {name}() is not supported")

    def _histogram_quantile(self, args) -> Vector:
        quantile = self._scalar(args[0], "histogram_quantile")
        groups: dict[LabelSet, list[tuple[float, float]]] = {}
        for labels, value in self._vector(args[1], "histogram_quantile"):
            bound_text = dict(labels).get("le")
            if bound_text is None:
                continue  # Prometheus ignores series without le
            try:
                bound = float(bound_text)  # "1" and "1.0" are the same bucket
            except ValueError:
                continue
            rest = tuple(pair for pair in labels if pair[0] not in ("le", "__name__"))
            groups.setdefault(rest, []).append((bound, value))
        return [(labels, functions.histogram_quantile(quantile, buckets))
                for labels, buckets in groups.items()]

    def _clamp(self, name: str, args) -> Vector:
        vector = self._vector(args[0], name)
        low, high = -math.inf, math.inf
        if name == "clamp":
            low, high = self._scalar(args[1], name), self._scalar(args[2], name)
        elif name == "clamp_min":
            low = self._scalar(args[1], name)
        else:
            high = self._scalar(args[1], name)
        if low > high:
            return []
        return [(without_name(labels), value if math.isnan(value) else max(low, min(high, value)))
                for labels, value in vector]

    def _absent(self, node) -> Vector:
        if self._vector(node, "absent"):
            return []
        labels: list[tuple[str, str]] = []
        if type(node).__name__ == "VectorSelector":
            labels = [(m.name, m.value) for m in node.matchers.matchers
                      if str(m.op).endswith("Equal") and not str(m.op).endswith("NotEqual")
                      and m.name != "__name__"]
        return [(tuple(sorted(labels)), 1.0)]

    def _vector(self, node, where: str) -> Vector:
        value = self._eval(node)
        if not isinstance(value, list):
            raise QueryError(f"{where}() needs an instant vector, not {_describe(node)}")
        return value

    def _scalar(self, node, where: str) -> float:
        value = self._eval(node)
        if not isinstance(value, float):
            raise QueryError(f"{where}() needs a number, not {_describe(node)}")
        return value

    # --- aggregation -----------------------------------------------------------------

    def _eval_AggregateExpr(self, node) -> Vector:
        operator = str(node.op)
        if operator not in ("sum", "min", "max", "avg", "count", "group"):
            raise Unsupported(f"the aggregation {operator}() is not supported")
        vector = self._vector(node.expr, operator)
        modifier = node.modifier
        keep = None if modifier is None else set(modifier.labels)
        by = modifier is not None and str(modifier.type).endswith("By")
        groups: dict[LabelSet, list[float]] = {}
        for labels, value in vector:
            if modifier is None:
                key: LabelSet = ()
            elif by:
                key = tuple(pair for pair in labels if pair[0] in keep)  # type: ignore[operator]
            else:
                key = tuple(pair for pair in labels
                            if pair[0] not in keep and pair[0] != "__name__")  # type: ignore[operator]
            groups.setdefault(key, []).append(value)
        return [(key, _aggregate(operator, values)) for key, values in groups.items()]

    # --- binary operators ---------------------------------------------------------------

    def _eval_BinaryExpr(self, node):
        operator = str(node.op)
        left, right = self._eval(node.lhs), self._eval(node.rhs)
        modifier = node.modifier
        as_bool = bool(modifier and modifier.return_bool)
        if isinstance(left, float) and isinstance(right, float):
            if operator in functions.COMPARISONS:
                return float(functions.compare(operator, left, right))
            return functions.arithmetic(operator, left, right)
        if operator in functions.SET_OPERATORS:
            if isinstance(left, float) or isinstance(right, float):
                raise QueryError(f"'{operator}' works on vectors only")
            return _set_operation(operator, left, right, modifier)
        if isinstance(left, float) or isinstance(right, float):
            return _with_scalar(operator, left, right, as_bool)
        return _vector_match(operator, left, right, modifier, as_bool)


def _aggregate(operator: str, values: list[float]) -> float:
    if operator == "sum":
        return math.fsum(values)
    if operator == "min":
        return min(values, key=lambda value: (math.isnan(value), value))
    if operator == "max":
        return max(values, key=lambda value: (not math.isnan(value), value))
    if operator == "avg":
        return math.fsum(values) / len(values)
    if operator == "count":
        return float(len(values))
    return 1.0  # group


def _with_scalar(operator: str, left, right, as_bool: bool) -> Vector:
    scalar_left = isinstance(left, float)
    vector = right if scalar_left else left
    result: Vector = []
    for labels, value in vector:
        a, b = (left, value) if scalar_left else (value, right)
        if operator in functions.COMPARISONS:
            passed = functions.compare(operator, a, b)
            if as_bool:
                result.append((without_name(labels), float(passed)))
            elif passed:
                result.append((labels, value))
        else:
            result.append((without_name(labels), functions.arithmetic(operator, a, b)))
    return result


def _signature(labels: LabelSet, modifier) -> LabelSet:
    matching = modifier.matching if modifier is not None else None
    if matching is None:
        return without_name(labels)
    names = set(matching.labels)
    if str(matching.type).endswith("Include"):  # on(...)
        return tuple(pair for pair in labels if pair[0] in names)
    return tuple(pair for pair in labels if pair[0] not in names and pair[0] != "__name__")


def _set_operation(operator: str, left: Vector, right: Vector, modifier) -> Vector:
    right_signatures = {_signature(labels, modifier) for labels, _ in right}
    if operator == "and":
        return [(labels, value) for labels, value in left
                if _signature(labels, modifier) in right_signatures]
    if operator == "unless":
        return [(labels, value) for labels, value in left
                if _signature(labels, modifier) not in right_signatures]
    left_signatures = {_signature(labels, modifier) for labels, _ in left}
    return left + [(labels, value) for labels, value in right
                   if _signature(labels, modifier) not in left_signatures]


def _vector_match(operator: str, left: Vector, right: Vector, modifier, as_bool: bool) -> Vector:
    card = str(modifier.card) if modifier is not None else "OneToOne"
    group_right = card.endswith("OneToMany")
    many, one = (right, left) if group_right else (left, right)
    one_side: dict[LabelSet, tuple[LabelSet, float]] = {}
    for labels, value in one:
        signature = _signature(labels, modifier)
        if signature in one_side:
            raise QueryError(f"several series on one side match {series_key(signature)}: "
                             "add on(...)/ignoring(...) or group_left/group_right")
        one_side[signature] = (labels, value)
    is_comparison = operator in functions.COMPARISONS
    result: Vector = []
    seen: set[LabelSet] = set()
    for labels, value in many:
        signature = _signature(labels, modifier)
        match = one_side.get(signature)
        if match is None:
            continue
        other_labels, other = match
        a, b = (other, value) if group_right else (value, other)
        out_labels = labels if is_comparison and not as_bool else without_name(labels)
        if card.endswith(("ManyToOne", "OneToMany")) and modifier.group_labels:
            extra = dict(other_labels)
            merged = dict(out_labels)
            for name in modifier.group_labels:
                if name in extra:
                    merged[name] = extra[name]
                else:
                    merged.pop(name, None)
            out_labels = tuple(sorted(merged.items()))
        elif not card.endswith(("ManyToOne", "OneToMany")):
            if signature in seen:
                raise QueryError(f"several series on one side match {series_key(signature)}: "
                                 "use group_left or group_right")
            seen.add(signature)
        if is_comparison:
            passed = functions.compare(operator, a, b)
            if as_bool:
                result.append((out_labels, float(passed)))
            elif passed:
                result.append((out_labels, a))  # the left-hand value, as Prometheus keeps it
        else:
            result.append((out_labels, functions.arithmetic(operator, a, b)))
    return result


def _matcher(matcher):
    op = str(matcher.op)
    name, expected = matcher.name, matcher.value
    if op.endswith("NotEqual"):
        return lambda labels: labels.get(name, "") != expected
    if op.endswith("Equal"):
        return lambda labels: labels.get(name, "") == expected
    try:
        pattern = re.compile(expected)
    except re.error as error:
        raise QueryError(f"invalid regular expression {expected!r}: {error}") from None
    if op.endswith("NotRe"):
        return lambda labels: pattern.fullmatch(labels.get(name, "")) is None
    return lambda labels: pattern.fullmatch(labels.get(name, "")) is not None


def _describe(node) -> str:
    text = str(node)
    return text if len(text) <= 60 else text[:57] + "..."
