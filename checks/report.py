"""Judging: run nagiosplugin resources through their contexts into one Report.

nagiosplugin's own ``Check`` turns performance data into strings as it goes; the
runtime needs them as values to print JSON, influx and Prometheus text too, so this
module walks the same Resource -> Metric -> Context -> Result path and keeps them.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from nagiosplugin import Context, Metric, Performance, Resource, Result, Results, Summary
from nagiosplugin.context import Contexts
from nagiosplugin.state import ServiceState, Unknown


@dataclass
class Report:
    """Everything a run found, ready to be printed in any format."""

    check: str
    target: str
    results: Results
    summary: str
    details: list[str] = field(default_factory=list)
    perfdata: list[Performance] = field(default_factory=list)

    @property
    def state(self) -> ServiceState:
        return self.results.most_significant_state if len(self.results) else Unknown


def evaluate(check: str, target: str, resources: Iterable[Resource],
             contexts: Iterable[Context], summary: Summary) -> Report:
    """Probe every resource and judge every metric it yields in its context."""
    registry = Contexts()
    for context in contexts:
        registry.add(context)
    results = Results()
    perfdata: list[Performance] = []
    for resource in resources:
        for metric in resource.probe():
            context = registry[metric.context]
            metric = metric.replace(contextobj=context, resource=resource)
            result = metric.evaluate()
            if isinstance(result, ServiceState):
                result = Result(result, metric=metric)
            results.add(result)
            performance = metric.performance()
            if performance is not None:
                perfdata.append(performance)
    return Report(check, target, results, _summarize(summary, results),
                  _lines(summary.verbose(results)), perfdata)


def single_result(check: str, target: str, state: ServiceState, text: str,
                  details: Iterable[str] = ()) -> Report:
    """A report that is one finding: a failure to ask, a usage error, a timeout."""
    return Report(check, target, Results(Result(state, text)), text, list(details))


def _summarize(summary: Summary, results: Results) -> str:
    if not len(results):
        return summary.empty() or ""
    if int(results.most_significant_state) == 0:
        return summary.ok(results) or ""
    return summary.problem(results) or ""


def _lines(text: str | list[str] | None) -> list[str]:
    if not text:
        return []
    return text.splitlines() if isinstance(text, str) else [line for line in text if line]


def metric_name(result: Result, default: str) -> str:
    metric: Metric | None = result.metric
    return metric.name if metric is not None else default
