"""The judging options every PromQL check shares (check_metrics, check_etcd metrics):
thresholds per expression, what an empty or NaN answer means, where history is kept."""

from __future__ import annotations

from healthprobes.checks.runtime.options import APPEND, FLAG, Group, Option, parse_duration
from healthprobes.checks.runtime.ranges import parse_range
from healthprobes.checks.runtime.states import OK, parse_state


def judging_options(with_expressions: bool) -> Group:
    options = []
    if with_expressions:
        options += [
            Option("--expr", action=APPEND, metavar="PROMQL", multiline=True,
                   help="an expression to judge; repeatable"),
            Option("-w", "--warning", action=APPEND, convert=parse_range, metavar="RANGE",
                   help="warning range for the --expr before it (Nagios syntax)"),
            Option("-c", "--critical", action=APPEND, convert=parse_range, metavar="RANGE",
                   help="critical range for the --expr before it"),
            Option("--label", action=APPEND, metavar="NAME",
                   help="perfdata label for the --expr before it (series add their label "
                        "values: NAME_v1_v2)"),
            Option("--uom", action=APPEND, metavar="UNIT",
                   help="perfdata unit for the --expr before it: s, ms, %, B, c ..."),
            Option("--rules", metavar="FILE",
                   help="evaluate every alerting rule of this Prometheus rules file"),
        ]
    options += [
        Option("--empty-state", convert=parse_state, metavar="STATE",
               help="state when an expression returns no series (default: ok for a "
                    "condition, as an alert rule reads it: a comparison without bool "
                    "(x == 0), and/unless, absent(); unknown for anything else)"),
        Option("--nan-state", convert=parse_state, default=OK, metavar="STATE",
               help="state for a NaN result, e.g. a quantile with no new observations "
                    "(default: ok)"),
        Option("--first-run-state", convert=parse_state, default=OK, metavar="STATE",
               help="state while range functions collect their first samples (default: ok)"),
        Option("--state-dir", env="HEALTHPROBES_STATE_DIR", metavar="DIR",
               help="where histories are kept (default: $XDG_STATE_HOME/healthprobes or "
                    "~/.local/state/healthprobes; /tmp/healthprobes-UID without a home)"),
        Option("--extrapolate", action=FLAG,
               help="rate, increase and delta as Prometheus computes them: extrapolated "
                    "to the window's edges (default: the change between the oldest and "
                    "newest stored samples in the window, not extrapolated)"),
        Option("--max-state-age", convert=parse_duration, default=3600.0, metavar="DURATION",
               help="a history older than this is discarded and a new baseline taken "
                    "(default: 1h)"),
    ]
    return Group("judging", options)
