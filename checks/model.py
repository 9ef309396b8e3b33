"""Judging: metrics go through contexts into results, results into one report.

This is nagiosplugin's model (Resource -> Metric -> Context -> Result -> Summary) in
a few small classes: a check yields metrics, a context judges each one and gives its
performance data, a summary words the outcome. It is its own code rather than
nagiosplugin's because the runtime must print JSON, influx and Prometheus text from
the same values (nagiosplugin turns performance data into strings as it goes) and
because nagiosplugin's import alone costs more than an ``etcdctl`` run.
"""

from __future__ import annotations

from checks.states import CRITICAL, OK, UNKNOWN, WARNING

TYPE_CHECKING = False  # typing's own flag costs an import of typing
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from checks.ranges import Range


class Metric:
    """One value a check saw: a number with a unit, or any fact for a verdict."""

    __slots__ = ("context", "max", "min", "name", "uom", "value")

    def __init__(self, name: str, value: object, uom: str = "", min: float | None = None,
                 max: float | None = None, context: str | None = None) -> None:
        self.name, self.value, self.uom = name, value, uom
        self.min, self.max = min, max
        self.context = context or name

    def __repr__(self) -> str:
        return f"Metric({self.name!r}, {self.value!r}{self.uom})"


class Perf:
    """One performance data item: ``label=value[uom];[warn];[crit];[min];[max]``."""

    __slots__ = ("crit", "label", "max", "min", "uom", "value", "warn")

    def __init__(self, label: str, value: float, uom: str = "", warn: Range | None = None,
                 crit: Range | None = None, min: float | None = None,
                 max: float | None = None) -> None:
        self.label, self.value, self.uom = label, value, uom
        self.warn, self.crit, self.min, self.max = warn, crit, min, max


class Result:
    """A judged metric: a state and the words for it."""

    __slots__ = ("metric", "state", "text")

    def __init__(self, state: int, text: str, metric: Metric | None = None) -> None:
        self.state, self.text, self.metric = state, text, metric

    @property
    def name(self) -> str:
        return self.metric.name if self.metric is not None else ""

    @property
    def context(self) -> str:
        return self.metric.context if self.metric is not None else ""

    def __str__(self) -> str:
        return self.text


class Context:
    """Judges the metrics that name it; by default everything is OK and has no perfdata."""

    def __init__(self, name: str) -> None:
        self.name = name

    def evaluate(self, metric: Metric) -> Result:
        return Result(OK, describe(metric), metric)

    def performance(self, metric: Metric) -> Perf | None:
        return None


def describe(metric: Metric) -> str:
    from checks.numbers import format_number

    value = metric.value
    shown = format_number(value) if isinstance(value, (int, float)) else str(value)
    return f"{metric.name} is {shown}{metric.uom}"


class ThresholdContext(Context):
    """A number against optional warning and critical ranges, with perfdata.

    A threshold that was not given judges nothing (nagiosplugin's ScalarContext would
    call negative values critical against its empty default), and NaN gets its own
    state instead of silently passing every range.
    """

    def __init__(self, name: str, warning: Range | None = None, critical: Range | None = None,
                 nan_state: int = OK, text: Callable[[Metric], str] = describe) -> None:
        super().__init__(name)
        self.warning, self.critical, self.nan_state, self.text = (
            warning, critical, nan_state, text)

    def evaluate(self, metric: Metric) -> Result:
        value = metric.value
        if isinstance(value, float) and value != value:  # NaN
            return Result(self.nan_state, f"{metric.name} has no value (NaN)", metric)
        for state, threshold in ((CRITICAL, self.critical), (WARNING, self.warning)):
            if threshold is not None and not threshold.match(value):
                return Result(state, f"{self.text(metric)} ({threshold.violation})", metric)
        return Result(OK, self.text(metric), metric)

    def performance(self, metric: Metric) -> Perf:
        return Perf(metric.name, metric.value, metric.uom, self.warning, self.critical,
                    metric.min, metric.max)


class VerdictContext(Context):
    """A fact judged by a function that returns (state, text); no performance data."""

    def __init__(self, name: str, judge: Callable[[Metric], tuple[int, str]]) -> None:
        super().__init__(name)
        self.judge = judge

    def evaluate(self, metric: Metric) -> Result:
        state, text = self.judge(metric)
        return Result(state, text, metric)


class Summary:
    """Words the outcome: the status line and the long output."""

    def ok(self, results: list[Result]) -> str:
        return "; ".join(result.text for result in results if result.text)

    def problem(self, results: list[Result]) -> str:
        bad = worst_first(results)
        more = sum(1 for result in bad[1:] if result.state)
        return bad[0].text + (f" (+{more} more not OK)" if more else "")

    def verbose(self, results: list[Result]) -> list[str]:
        return []

    def empty(self) -> str:
        return "nothing was checked"


def worst_first(results: list[Result]) -> list[Result]:
    """Results ordered CRITICAL-first: UNKNOWN sits below CRITICAL when naming causes."""
    rank = {CRITICAL: 0, WARNING: 2, UNKNOWN: 1, OK: 3}
    return sorted(results, key=lambda result: rank[result.state])


def problem_lines(results: list[Result], verbose: int = 0) -> list[str]:
    """Long output: every result when verbose, else each problem when there are several."""
    from checks.states import state_name

    shown = results if verbose else [result for result in results if result.state]
    if not verbose and len(shown) < 2:
        return []  # the status line already says it
    return [f"{state_name(result.state)}: {result.text}" for result in shown]


class Report:
    """Everything a run found, ready to be printed in any format."""

    __slots__ = ("check", "details", "perfdata", "results", "summary", "target")

    def __init__(self, check: str, target: str, results: list[Result], summary: str,
                 details: list[str] | None = None, perfdata: list[Perf] | None = None) -> None:
        self.check, self.target, self.results, self.summary = check, target, results, summary
        self.details = details or []
        self.perfdata = perfdata or []

    @property
    def state(self) -> int:
        return max((result.state for result in self.results), default=UNKNOWN)


def evaluate(check: str, target: str, metrics: Iterable[Metric], contexts: Iterable[Context],
             summary: Summary) -> Report:
    """Judge every metric in its context and word the outcome."""
    registry = {context.name: context for context in contexts}
    results: list[Result] = []
    perfdata: list[Perf] = []
    for metric in metrics:
        context = registry.get(metric.context)
        if context is None:
            raise KeyError(f"no context {metric.context!r} for metric {metric.name!r}")
        results.append(context.evaluate(metric))
        performance = context.performance(metric)
        if performance is not None:
            perfdata.append(performance)
    if not results:
        text = summary.empty()
    elif max(result.state for result in results) == OK:
        text = summary.ok(results)
    else:
        text = summary.problem(results)
    return Report(check, target, results, text, summary.verbose(results), perfdata)


def single_result(check: str, target: str, state: int, text: str,
                  details: Iterable[str] = ()) -> Report:
    """A report that is one finding: a failure to ask, a usage error, a timeout."""
    return Report(check, target, [Result(state, text)], text, list(details))
