"""A report as the kubelet and Prometheus read it.

The kubelet reads the status code (200 for OK and WARNING, 503 otherwise) and keeps
the body as the probe's event text: the short status line ``--probe`` prints.
Prometheus reads the text format: blackbox_exporter's ``probe_success`` and
``probe_duration_seconds``, so its dashboards and alerts carry over, then exactly
what ``--format prometheus`` prints.
"""

from __future__ import annotations

from healthprobes.checks.runtime.numbers import format_number
from healthprobes.checks.runtime.render import render
from healthprobes.checks.runtime.states import WARNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.results import Report

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
PLAIN_TEXT = "text/plain; charset=utf-8"


def succeeded(report: Report) -> bool:
    return report.state <= WARNING


def kubelet_answer(report: Report) -> tuple[int, str]:
    """The status code and body for an httpGet probe."""
    return (200 if succeeded(report) else 503), render(report, "nagios", probe=True)


def prometheus_answer(report: Report, seconds: float) -> str:
    return "\n".join([
        "# HELP probe_success Whether the probe succeeded: 1 for OK and WARNING, 0 otherwise.",
        "# TYPE probe_success gauge",
        f"probe_success {1 if succeeded(report) else 0}",
        "# HELP probe_duration_seconds How long the probe took, in seconds.",
        "# TYPE probe_duration_seconds gauge",
        f"probe_duration_seconds {format_number(round(seconds, 6))}",
    ]) + "\n" + render(report, "prometheus")
