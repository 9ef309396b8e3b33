"""What a run found: results (a state and the words for it), performance data, the report.

nagiosplugin's vocabulary without its ceremony. A check that already knows a
finding's state and text makes the :class:`Result` directly (:meth:`Findings.add`);
a number is judged against Nagios ranges and becomes performance data in one step
(:meth:`Findings.measure`); :meth:`Findings.report` words the status line. It is the
project's own code rather than nagiosplugin's because a report must print as JSON,
influx and Prometheus text from the same values (nagiosplugin turns performance data
into strings as it goes), and because nagiosplugin's import alone costs more than an
``etcdctl`` run (docs/speed.md).
"""

from __future__ import annotations

from healthprobes.checks.runtime.states import CRITICAL, OK, UNKNOWN, WARNING

TYPE_CHECKING = False  # typing's own flag costs an import of typing
if TYPE_CHECKING:
    from collections.abc import Iterable

    from healthprobes.checks.runtime.ranges import Range


class Perf:
    """One performance data item: ``label=value[uom];[warn];[crit];[min];[max]``."""

    __slots__ = ("crit", "label", "max", "min", "uom", "value", "warn")

    def __init__(self, label: str, value: float, uom: str = "", warn: Range | None = None,
                 crit: Range | None = None, min: float | None = None,
                 max: float | None = None) -> None:
        self.label, self.value, self.uom = label, value, uom
        self.warn, self.crit, self.min, self.max = warn, crit, min, max


SUMMARY_LIMIT = 1500  # characters of the status line before the perfdata
TEXT_LIMIT = 1000  # characters of one result or one line of long output


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters: words a server supplied (member names, reasons,
    headers) can be any length, and Nagios keeps 8 KB of output in all."""
    if len(text) <= limit:
        return text
    return f"{text[:limit - 30]}... ({len(text) - limit + 30} more characters)"


class Result:
    """One judged finding: a state, the words for it, and the item it is about."""

    __slots__ = ("name", "state", "text")

    def __init__(self, state: int, text: str, name: str = "") -> None:
        self.state, self.text, self.name = state, clip(text, TEXT_LIMIT), clip(name, 200)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Result({self.state}, {self.text!r}, {self.name!r})"


class Report:
    """Everything a run found, ready to be printed in any format."""

    __slots__ = ("check", "details", "exit_codes", "failure", "perfdata", "results", "summary",
                 "target")

    def __init__(self, check: str, target: str, results: list[Result], summary: str,
                 details: list[str] | None = None, perfdata: list[Perf] | None = None) -> None:
        # Why the run itself failed, if it did: "usage", "probe" (the target could not be
        # asked), "timeout" (no result by -t) or "internal"; "" for a judged run.
        self.failure = ""
        # Exit codes in another tool's terms, where the check offers them: {"tool": code}.
        self.exit_codes: dict[str, int] = {}
        self.check, self.target, self.results = check, clip(target, TEXT_LIMIT), results
        self.summary = clip(summary, SUMMARY_LIMIT)
        self.details = [clip(line, TEXT_LIMIT) for line in details or []]
        self.perfdata = perfdata or []

    @property
    def state(self) -> int:
        return max((result.state for result in self.results), default=UNKNOWN)


def judge_number(value: float, warning: Range | None, critical: Range | None,
                 nan_state: int = OK) -> tuple[int, str]:
    """A number against optional ranges: the state and what it violated ("" if nothing).

    A threshold that was not given judges nothing (nagiosplugin's ScalarContext would
    call negative values critical against its empty default), and NaN gets its own
    state instead of silently passing every range.
    """
    if value != value:  # NaN
        return nan_state, "no value (NaN)"
    for state, threshold in ((CRITICAL, critical), (WARNING, warning)):
        if threshold is not None and not threshold.match(value):
            return state, threshold.violation
    return OK, ""


class Findings:
    """Results and performance data as a check collects them, in the order found."""

    __slots__ = ("perfdata", "results")

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.perfdata: list[Perf] = []

    def add(self, state: int, text: str, name: str = "") -> Result:
        """A finding whose state and words the check has already decided."""
        result = Result(state, text, name)
        self.results.append(result)
        return result

    def record(self, name: str, value: float, uom: str = "", min: float | None = None,
               max: float | None = None) -> None:
        """A number nothing judges (a count, a size, a time): performance data only, not
        an item of its own beside the findings."""
        self.perfdata.append(Perf(name, value, uom, None, None, min, max))

    def measure(self, name: str, value: float, uom: str = "", warning: Range | None = None,
                critical: Range | None = None, min: float | None = None,
                max: float | None = None, nan_state: int = OK,
                text: str | None = None) -> Result:
        """A number: judged against the ranges given (none: always OK) and kept as
        performance data with those ranges. ``text`` replaces "NAME is VALUE"."""
        state, violation = judge_number(value, warning, critical, nan_state)
        if value != value:
            words = f"{name} has no value (NaN)"
        else:
            words = text if text is not None else f"{name} is {_shown(value)}{uom}"
            if violation:
                words += f" ({violation})"
        self.perfdata.append(Perf(name, value, uom, warning, critical, min, max))
        return self.add(state, words, name)

    @property
    def state(self) -> int:
        return max((result.state for result in self.results), default=UNKNOWN)

    def report(self, check: str, target: str, ok: str, details: Iterable[str] = (),
               prefix: str = "") -> Report:
        """The report: ``ok`` as the status line when every result is OK, else the
        worst result's words (and how many more are not OK), after ``prefix``."""
        if not self.results:
            summary = "nothing was checked"
        elif self.state == OK:
            summary = ok
        else:
            summary = prefix + worst_text(self.results)
        return Report(check, target, self.results, summary, list(details), self.perfdata)


def _shown(value: object) -> str:
    from healthprobes.checks.runtime.numbers import format_number

    return format_number(value) if isinstance(value, (int, float)) else str(value)


def worst_first(results: list[Result]) -> list[Result]:
    """Results ordered CRITICAL-first: UNKNOWN sits below CRITICAL when naming causes."""
    rank = {CRITICAL: 0, WARNING: 2, UNKNOWN: 1, OK: 3}
    return sorted(results, key=lambda result: rank[result.state])


def worst_text(results: list[Result]) -> str:
    """The worst result's words, and how many more are not OK."""
    bad = worst_first(results)
    more = sum(1 for result in bad[1:] if result.state)
    return bad[0].text + (f" (+{more} more not OK)" if more else "")


def problem_lines(results: list[Result], verbose: int = 0) -> list[str]:
    """Long output: every result when verbose, else each problem when there are several."""
    from healthprobes.checks.runtime.states import state_name

    shown = results if verbose else [result for result in results if result.state]
    if not verbose and len(shown) < 2:
        return []  # the status line already says it
    return [f"{state_name(result.state)}: {result.text}" for result in shown]


def single_result(check: str, target: str, state: int, text: str,
                  details: Iterable[str] = ()) -> Report:
    """A report that is one finding: a failure to ask, a usage error, a timeout."""
    return Report(check, target, [Result(state, text)], text, list(details))
