"""A PromQL evaluator for one scrape plus the history a state file keeps.

Parsing is promql-parser's (the Rust parser used by GreptimeDB, as a Python
extension), after the text's size is bounded (limits.py); this module evaluates its
tree as Prometheus' engine evaluates an instant query at the time of the scrape. The
stored history plays the part of Prometheus' database (store.py), so range functions,
offset, @ and subqueries read real earlier samples, and say "not enough history yet"
where those do not reach back far enough. Function arithmetic lives in functions.py,
aggregations in aggregations.py, operators and vector matching in binary.py.

The metric name is dropped where Prometheus drops it by default (arithmetic,
functions other than last/first_over_time, aggregation), at once, as a Prometheus
server without the experimental delayed name removal does.
"""

from __future__ import annotations

import math

from healthprobes.checks.promql import binary, functions, limits
from healthprobes.checks.promql.errors import NotEnoughHistory, QueryError, Unsupported
from healthprobes.checks.promql.store import LOOKBACK, Store, series_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.probes.exposition import Exposition

LabelSet = tuple[tuple[str, str], ...]  # sorted pairs; "__name__" included while kept
Vector = list[tuple[LabelSet, float]]
Points = list[tuple[float, float]]
SUBQUERY_STEP = 60.0  # a subquery without a step: Prometheus' default evaluation interval

__all__ = ["Evaluation", "NotEnoughHistory", "QueryError", "Unsupported", "metric_names",
           "needs_history", "parse", "range_windows", "series_key", "without_name"]

without_name = binary.without_name


def parse(text: str):
    """The parsed tree of a bounded expression; QueryError for anything else."""
    limits.check_text(text)
    try:
        import promql_parser
    except ImportError:  # pragma: no cover - a dependency of the package
        raise QueryError("the PromQL parser (pip install promql-parser) is missing") from None
    try:
        tree = promql_parser.parse(text)
    except (ValueError, RuntimeError) as error:
        raise QueryError(f"cannot parse {text!r}: {error}") from None
    limits.check_tree(tree, _children)
    return tree


def _children(node) -> list:
    kind = type(node).__name__
    if kind == "BinaryExpr":
        return [node.lhs, node.rhs]
    if kind in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
        return [node.expr]
    if kind == "AggregateExpr":
        return [node.expr] + ([node.param] if node.param is not None else [])
    if kind == "Call":
        return list(node.args)
    if kind == "MatrixSelector":
        return [node.vector_selector]
    return []


def _walk(tree):
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(_children(node))


def metric_names(tree) -> set[str] | None:
    """The metric names the expression selects; None if one selector has no name."""
    names: set[str] = set()
    for node in _walk(tree):
        if type(node).__name__ == "VectorSelector":
            if not node.name:
                return None
            names.add(node.name)
    return names


def range_windows(tree) -> list[float]:
    """The windows (seconds) of every range selector and subquery in the expression."""
    return [node.range.total_seconds() for node in _walk(tree)
            if type(node).__name__ in ("MatrixSelector", "SubqueryExpr")]


def needs_history(tree) -> bool:
    """Whether the expression reads samples from before this scrape."""
    for node in _walk(tree):
        kind = type(node).__name__
        if kind in ("MatrixSelector", "SubqueryExpr"):
            return True
        if kind == "VectorSelector" and (node.offset or _at_kind(node) == "At"):
            return True
    return False


def _at_kind(node) -> str | None:
    at = node.at
    return None if at is None else str(at.type).rsplit(".", 1)[-1]


def _unwrap(node):
    while type(node).__name__ == "ParenExpr":
        node = node.expr
    return node


def _seconds(delta) -> float:
    return 0.0 if delta is None else delta.total_seconds()


class Range:
    """A range vector: series with their samples in (start, end]."""

    __slots__ = ("end", "series", "start")

    def __init__(self, series: list[tuple[LabelSet, Points]], start: float, end: float) -> None:
        self.series, self.start, self.end = series, start, end


class Evaluation:
    """One expression evaluated at ``now`` over a scrape and the stored history.

    ``history`` maps series keys to earlier (time, value) points, oldest first;
    ``runs`` are the times of earlier runs and ``complete_since`` the time from which
    the history holds every run (both derived from the points when not given).
    After :meth:`run`, ``recorded`` holds the current value of every series a selector
    of the expression matches (the caller stores them for the next run), ``notes``
    what a reader should know (counter resets), ``short_windows`` the series whose
    window held too few samples to compute anything yet, and ``missing_history`` how
    many seconds back the expression reads where the history does not reach (or None).
    """

    def __init__(self, scrape: Exposition, now: float, history: dict[str, Points] | None = None,
                 runs: list[float] | None = None, complete_since: float | None = None,
                 extrapolate: bool = False) -> None:
        self.scrape, self.now, self.extrapolate = scrape, now, extrapolate
        self.store = Store(scrape, now, history or {}, runs, complete_since)
        self.recorded: dict[str, float] = {}
        self.notes: list[str] = []
        self.short_windows: list[str] = []
        self.missing_history: float | None = None
        self._matched: dict[int, list[str]] = {}
        self._nested = 0  # > 0 inside a subquery's steps

    def run(self, tree) -> Vector:
        """The expression's value as an instant vector (a scalar is one unlabelled sample)."""
        self._record(tree)
        try:
            value = self._eval(tree, self.now)
        except NotEnoughHistory as missing:
            self.missing_history = self.now - missing.args[0]
            return []
        if isinstance(value, float):
            return [((), value)]
        if isinstance(value, str):
            raise QueryError("the expression is a string; it must give numbers")
        if isinstance(value, Range):
            raise QueryError(f"{_describe(tree)} is a range vector; judge it through a "
                             "function such as rate() or max_over_time()")
        return value

    def oldest_time(self, tree) -> float:
        """The earliest time whose samples the expression may read (for keeping history)."""
        return min(self._oldest(tree, self.now), self.now)

    def _oldest(self, node, time: float) -> float:
        kind = type(node).__name__
        if kind == "VectorSelector":
            return self._reference(node, time) - LOOKBACK
        if kind == "MatrixSelector":
            return self._reference(node.vector_selector, time) - _seconds(node.range)
        if kind == "SubqueryExpr":
            return self._oldest(node.expr, self._reference(node, time) - _seconds(node.range))
        return min((self._oldest(child, time) for child in _children(node)), default=time)

    def _record(self, tree) -> None:
        for node in _walk(tree):
            if type(node).__name__ == "VectorSelector":
                for key in self._keys(node):
                    if key in self.store.current:
                        self.recorded[key] = self.store.current[key]

    # --- dispatch ---------------------------------------------------------------------

    def _eval(self, node, time: float):
        handler = getattr(self, f"_eval_{type(node).__name__}", None)
        if handler is None:
            raise Unsupported(_describe(node))
        return handler(node, time)

    def _eval_NumberLiteral(self, node, time: float) -> float:
        return float(node.val)

    def _eval_StringLiteral(self, node, time: float) -> str:
        return str(node.val)

    def _eval_ParenExpr(self, node, time: float):
        return self._eval(node.expr, time)

    def _eval_UnaryExpr(self, node, time: float):
        value = self._eval(node.expr, time)
        if isinstance(value, float):
            return -value
        return _unique([(without_name(labels), -number) for labels, number in value])

    # --- selectors --------------------------------------------------------------------

    def _keys(self, selector) -> list[str]:
        """The keys of the series the selector's matchers accept, in label order."""
        found = self._matched.get(id(selector))
        if found is not None:
            return found
        if selector.matchers.or_matchers:
            raise Unsupported(f"'or' inside a selector ({_describe(selector)})",
                              "not Prometheus syntax")
        tests = [_matcher(matcher) for matcher in selector.matchers.matchers]
        store = self.store
        found = sorted((key for key in store.keys(selector.name or None)
                        if all(test(dict(store.labels[key])) for test in tests)),
                       key=store.labels.__getitem__)
        self._matched[id(selector)] = found
        return found

    def _reference(self, node, time: float) -> float:
        """The time a selector or subquery reads at: its @ time (or ``time``) less offset."""
        kind = _at_kind(node)
        if kind == "At":
            time = node.at.at.timestamp()
        elif kind is not None:  # @ start() and @ end(): an instant query's own time
            time = self.now
        return time - _seconds(node.offset)

    def _eval_VectorSelector(self, node, time: float) -> Vector:
        reference = self._reference(node, time)
        result: Vector = []
        for key in self._keys(node):
            sample = self.store.at(key, reference)
            if sample is not None:
                result.append((self.store.labels[key], sample[1]))
        return result

    def _eval_MatrixSelector(self, node, time: float) -> Range:
        selector = node.vector_selector
        end = self._reference(selector, time)
        start = end - _seconds(node.range)
        if end < self.store.complete_since:
            raise NotEnoughHistory(start)
        series = [(self.store.labels[key], self.store.window(key, start, end))
                  for key in self._keys(selector)]
        return Range(series, start, end)

    def _eval_SubqueryExpr(self, node, time: float) -> Range:
        """The inner expression at every step in the window, aligned to multiples of
        the step as Prometheus aligns them; a step whose answer depends on samples
        from before the history is left out (the window then holds fewer points, as
        a range selector's does over a young history); none left is "not enough
        history yet"."""
        end = self._reference(node, time)
        width = _seconds(node.range)
        step = _seconds(node.step) or SUBQUERY_STEP
        step_ms, start_ms = round(step * 1000), round((end - width) * 1000)
        first = step_ms * (start_ms // step_ms)
        if first <= start_ms:
            first += step_ms
        points: dict[LabelSet, Points] = {}
        evaluated = 0
        self._nested += 1
        try:
            for moment_ms in range(first, round(end * 1000) + 1, step_ms):
                moment = moment_ms / 1000
                try:
                    value = self._eval(node.expr, moment)
                except NotEnoughHistory:
                    continue  # this step reads before the history: left out
                evaluated += 1
                if isinstance(value, float):
                    value = [((), value)]
                for labels, number in value:
                    points.setdefault(labels, []).append((moment, number))
        finally:
            self._nested -= 1
        if not evaluated:
            raise NotEnoughHistory(self._oldest(node.expr, first / 1000))
        return Range(list(points.items()), end - width, end)

    # --- functions --------------------------------------------------------------------

    def _eval_Call(self, node, time: float):
        name = node.func.name
        function = functions.FUNCTIONS.get(name)
        if function is None:
            raise Unsupported(f"the function {name}()")
        args = [_unwrap(arg) for arg in node.args]
        if function.kind == functions.RANGE:
            return self._call_range(name, function, args, time)
        if function.kind == functions.ELEMENT:
            numbers = [self._scalar(arg, time, name) for arg in args[1:]]
            return _unique([(without_name(labels), function.compute(value, *numbers))
                            for labels, value in self._vector(args[0], time, name)])
        if function.kind == functions.DATE:
            return self._call_date(function, args, time, name)
        if function.kind == functions.METHOD:
            return getattr(self, f"_fn_{function.compute}")(name, args, time)
        raise Unsupported(f"{name}()", function.compute)

    def _call_range(self, name: str, function, args, time: float) -> Vector:
        numbers = [self._scalar(arg, time, name) for index, arg in enumerate(args)
                   if index != function.range_arg]
        window_of = self._range(args[function.range_arg], time, name)
        result: Vector = []
        for labels, points in window_of.series:
            if not points:
                continue
            window = functions.Window(points, window_of.start, window_of.end, time,
                                      self.extrapolate)
            value = function.compute(window, *numbers)
            if value is None:
                if not self._nested:
                    self.short_windows.append(series_key(labels))
                continue
            if function.counter and not self._nested and functions.counter_resets(points):
                self.notes.append(f"{series_key(labels)}: counter reset corrected in {name}()")
            result.append((labels if function.keeps_name else without_name(labels), value))
        return _unique(result)

    def _call_date(self, function, args, time: float, name: str) -> Vector:
        from healthprobes.checks.promql.floats import go_int64

        if not args:
            return [((), function.compute(functions.civil_date(int(time))))]
        return _unique([(without_name(labels), function.compute(
                            functions.civil_date(go_int64(value))))
                        for labels, value in self._vector(args[0], time, name)])

    def _fn_absent(self, name: str, args, time: float) -> Vector:
        if self._vector(args[0], time, name):
            return []
        return [(_absent_labels(args[0]), 1.0)]

    def _fn_absent_over_time(self, name: str, args, time: float) -> Vector:
        if any(points for _, points in self._range(args[0], time, name).series):
            return []
        return [(_absent_labels(args[0]), 1.0)]

    def _fn_clamp(self, name: str, args, time: float) -> Vector:
        vector = self._vector(args[0], time, name)
        bounds = [self._scalar(arg, time, name) for arg in args[1:]]
        low, high = {"clamp": bounds, "clamp_min": [*bounds, math.inf],
                     "clamp_max": [-math.inf, *bounds]}[name][:2]
        if high < low:
            return []
        # Go's math.Max/Min: NaN wins either, so NaN samples stay NaN.
        return _unique([(without_name(labels), value if math.isnan(value)
                         else max(low, min(high, value))) for labels, value in vector])

    def _fn_histogram_quantile(self, name: str, args, time: float) -> Vector:
        from healthprobes.checks.promql.floats import parse_go_float

        q = self._scalar(args[0], time, name)
        groups: dict[LabelSet, list[tuple[float, float]]] = {}
        for labels, value in self._vector(args[1], time, name):
            bound = parse_go_float(dict(labels).get("le", ""))
            if bound is None:
                continue  # Prometheus skips series without a valid le
            rest = tuple(pair for pair in labels if pair[0] != "le")
            groups.setdefault(rest, []).append((bound, value))
        return _unique([(without_name(labels), functions.histogram_quantile(q, buckets))
                        for labels, buckets in groups.items()])

    def _fn_label_replace(self, name: str, args, time: float) -> Vector:
        from healthprobes.checks.promql import regex

        destination, template, source, pattern = (
            self._string(arg, time, name) for arg in args[1:5])
        compiled = regex.anchored(pattern, "label_replace()")
        if not destination:
            raise QueryError("invalid destination label name in label_replace(): ''")
        result: Vector = []
        for labels, value in self._vector(args[0], time, name):
            found = compiled.search(dict(labels).get(source, ""))
            if found is not None:
                labels = _with_label(labels, destination,
                                     regex.expand(template, found, compiled.groupindex))
            result.append((labels, value))
        return _unique(result)

    def _fn_label_join(self, name: str, args, time: float) -> Vector:
        destination, separator, *sources = (self._string(arg, time, name) for arg in args[1:])
        for label in (destination, *sources):
            if not label:
                raise QueryError("invalid label name '' in label_join()")
        result: Vector = []
        for labels, value in self._vector(args[0], time, name):
            present = dict(labels)
            joined = separator.join(present.get(source, "") for source in sources)
            result.append((_with_label(labels, destination, joined), value))
        return _unique(result)

    def _fn_sort(self, name: str, args, time: float) -> Vector:
        sign = -1.0 if name == "sort_desc" else 1.0
        return sorted(self._vector(args[0], time, name),
                      key=lambda sample: (math.isnan(sample[1]), sign * sample[1]))

    def _fn_sort_by_label(self, name: str, args, time: float) -> Vector:
        from functools import cmp_to_key

        names = [self._string(arg, time, name) for arg in args[1:]]
        descending = name.endswith("_desc")

        def compare(a, b) -> int:
            first, second = dict(a[0]), dict(b[0])
            for label in names:
                order = _natural_compare(first.get(label, ""), second.get(label, ""))
                if order:
                    return -order if descending else order
            order = (a[0] > b[0]) - (a[0] < b[0])
            return -order if descending else order

        return sorted(self._vector(args[0], time, name), key=cmp_to_key(compare))

    def _fn_scalar(self, name: str, args, time: float) -> float:
        vector = self._vector(args[0], time, name)
        return vector[0][1] if len(vector) == 1 else math.nan

    def _fn_vector(self, name: str, args, time: float) -> Vector:
        return [((), self._scalar(args[0], time, name))]

    def _fn_time(self, name: str, args, time: float) -> float:
        return time

    def _fn_pi(self, name: str, args, time: float) -> float:
        return math.pi

    def _fn_max_of(self, name: str, args, time: float) -> float:
        a, b = (self._scalar(arg, time, name) for arg in args)
        return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)

    def _fn_min_of(self, name: str, args, time: float) -> float:
        a, b = (self._scalar(arg, time, name) for arg in args)
        return math.nan if math.isnan(a) or math.isnan(b) else min(a, b)

    def _fn_timestamp(self, name: str, args, time: float) -> Vector:
        """The time of each sample a selector read (not the evaluation time), as
        Prometheus answers; of any other expression, the evaluation time."""
        node = args[0]
        if type(node).__name__ != "VectorSelector":
            return _unique([(without_name(labels), time)
                            for labels, _ in self._vector(node, time, name)])
        reference = self._reference(node, time)
        result: Vector = []
        for key in self._keys(node):
            sample = self.store.at(key, reference)
            if sample is not None:
                result.append((without_name(self.store.labels[key]), sample[0]))
        return _unique(result)

    # --- argument kinds ---------------------------------------------------------------

    def _vector(self, node, time: float, where: str) -> Vector:
        value = self._eval(node, time)
        if not isinstance(value, list):
            raise QueryError(f"{where}() needs an instant vector, not {_describe(node)}")
        return value

    def _scalar(self, node, time: float, where: str) -> float:
        value = self._eval(node, time)
        if not isinstance(value, float):
            raise QueryError(f"{where}() needs a number, not {_describe(node)}")
        return value

    def _string(self, node, time: float, where: str) -> str:
        value = self._eval(node, time)
        if not isinstance(value, str):
            raise QueryError(f"{where}() needs a string, not {_describe(node)}")
        return value

    def _range(self, node, time: float, where: str) -> Range:
        if type(node).__name__ not in ("MatrixSelector", "SubqueryExpr"):
            raise QueryError(f"{where}() needs a range vector (write name[5m]), not "
                             f"{_describe(node)}")
        return self._eval(node, time)

    # --- aggregation and operators ----------------------------------------------------

    def _eval_AggregateExpr(self, node, time: float) -> Vector:
        from healthprobes.checks.promql.aggregations import Grouping, aggregate

        operator = str(node.op)
        parameter = None
        if node.param is not None:
            parameter = self._eval(_unwrap(node.param), time)
        vector = self._vector(_unwrap(node.expr), time, operator)
        modifier = node.modifier
        grouping = Grouping(list(modifier.labels) if modifier is not None else [],
                            modifier is not None and str(modifier.type).endswith("Without"))
        return _unique(aggregate(operator, vector, grouping, parameter))

    def _eval_BinaryExpr(self, node, time: float):
        operator = str(node.op)
        left, right = self._eval(node.lhs, time), self._eval(node.rhs, time)
        matching = binary.Matching(node.modifier)
        if isinstance(left, float) and isinstance(right, float):
            return binary.scalars(operator, left, right)
        if not isinstance(left, (float, list)) or not isinstance(right, (float, list)):
            raise QueryError(f"'{operator}' needs numbers or instant vectors on both sides")
        if operator in binary.SET_OPERATORS:
            if isinstance(left, float) or isinstance(right, float):
                raise QueryError(f"'{operator}' works on instant vectors only")
            return _unique(binary.set_operation(operator, left, right, matching))
        if operator not in binary.ARITHMETIC and operator not in binary.COMPARISONS:
            raise Unsupported(f"the operator {operator}")
        if isinstance(left, float):
            return _unique(binary.with_scalar(operator, right, left, True, matching.as_bool))
        if isinstance(right, float):
            return _unique(binary.with_scalar(operator, left, right, False, matching.as_bool))
        return _unique(binary.vectors(operator, left, right, matching))


def _unique(vector: Vector) -> Vector:
    """Prometheus refuses a result with two series of one label set (two metrics that
    differ only in the name they just lost, say)."""
    seen: set[LabelSet] = set()
    for labels, _ in vector:
        if labels in seen:
            raise QueryError("vector cannot contain metrics with the same labelset: "
                             f"{series_key(labels)} twice")
        seen.add(labels)
    return vector


def _with_label(labels: LabelSet, name: str, value: str) -> LabelSet:
    changed = dict(labels)
    if value:
        changed[name] = value
    else:
        changed.pop(name, None)  # an empty value is no label
    return tuple(sorted(changed.items()))


def _absent_labels(node) -> LabelSet:
    """absent()'s labels: those set by exactly one equality matcher (a name matched
    twice, or by anything but '=', is left out)."""
    kind = type(node).__name__
    if kind == "MatrixSelector":
        node = node.vector_selector
    elif kind != "VectorSelector":
        return ()
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for matcher in node.matchers.matchers:
        if matcher.name == "__name__":
            continue
        if _match_op(matcher) == "Equal" and matcher.name not in seen:
            labels[matcher.name] = matcher.value
            seen.add(matcher.name)
        else:
            labels.pop(matcher.name, None)
    return tuple(sorted(labels.items()))


def _match_op(matcher) -> str:
    return str(matcher.op).rsplit(".", 1)[-1]


def _matcher(matcher):
    op, name, expected = _match_op(matcher), matcher.name, matcher.value
    if op == "NotEqual":
        return lambda labels: labels.get(name, "") != expected
    if op == "Equal":
        return lambda labels: labels.get(name, "") == expected
    from healthprobes.checks.promql import regex

    pattern = regex.anchored(expected, f"the matcher {name}{'=~' if op == 'Re' else '!~'}")
    if op == "NotRe":
        return lambda labels: pattern.search(labels.get(name, "")) is None
    return lambda labels: pattern.search(labels.get(name, "")) is not None


def _natural_compare(a: str, b: str) -> int:
    """Natural order: runs of digits compare as numbers ("a9" < "a10"), the rest by
    code point; -1, 0 or 1."""
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i].isdigit() and b[j].isdigit() and a[i].isascii() and b[j].isascii():
            i_end, j_end = i, j
            while i_end < len(a) and a[i_end].isascii() and a[i_end].isdigit():
                i_end += 1
            while j_end < len(b) and b[j_end].isascii() and b[j_end].isdigit():
                j_end += 1
            first, second = a[i:i_end].lstrip("0") or "0", b[j:j_end].lstrip("0") or "0"
            if (len(first), first) != (len(second), second):
                return -1 if (len(first), first) < (len(second), second) else 1
            i, j = i_end, j_end
            continue
        if a[i] != b[j]:
            return -1 if a[i] < b[j] else 1
        i += 1
        j += 1
    return (len(a) - i > 0) - (len(b) - j > 0)


def _describe(node) -> str:
    text = str(node)
    return text if len(text) <= 60 else text[:57] + "..."
