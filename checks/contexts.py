"""Contexts shared by the checks: thresholds on numbers, and verdicts on facts."""

import math
from collections.abc import Callable

from nagiosplugin import Context, Critical, Metric, Ok, Performance, Range, Result, Warn
from nagiosplugin.state import ServiceState

from checks.perfdata import clean_label


class ThresholdContext(Context):
    """A number against optional warning and critical ranges.

    Unlike nagiosplugin's ScalarContext, a threshold that was not given judges
    nothing (ScalarContext's empty range 0:inf would call negative values critical),
    and a NaN gets its own state instead of silently passing every range.
    """

    def __init__(self, name: str, warning: Range | None = None, critical: Range | None = None,
                 fmt_metric: str | Callable = "{name} is {valueunit}",
                 nan_state: ServiceState | None = None) -> None:
        super().__init__(name, fmt_metric)
        self.warning = warning
        self.critical = critical
        self.nan_state = nan_state

    def evaluate(self, metric: Metric, resource: object) -> Result:
        value = metric.value
        if isinstance(value, float) and math.isnan(value):
            return Result(self.nan_state or Ok, "no value (NaN)", metric)
        if self.critical is not None and not self.critical.match(value):
            return Result(Critical, self.critical.violation, metric)
        if self.warning is not None and not self.warning.match(value):
            return Result(Warn, self.warning.violation, metric)
        return Result(Ok, None, metric)

    def performance(self, metric: Metric, resource: object) -> Performance:
        # Labels come from the target (service names, series labels): nagiosplugin
        # raises on '=' and "'", so they are cleaned here rather than trusted.
        return Performance(clean_label(metric.name), metric.value, metric.uom or "",
                           self.warning or "", self.critical or "", metric.min, metric.max)


class VerdictContext(Context):
    """A fact judged by a function that returns (state, text); no performance data."""

    def __init__(self, name: str, judge: Callable[[Metric], tuple[ServiceState, str]]) -> None:
        super().__init__(name)
        self.judge = judge

    def evaluate(self, metric: Metric, resource: object) -> Result:
        state, text = self.judge(metric)
        return Result(state, text, metric)

    def describe(self, metric: Metric) -> None:
        return None  # the verdict's text says it all
