"""What a check is: its name, its options, how it validates them and how it runs.

Every check is a :class:`CheckProgram`. The runtime gives it the shared conventions
(common options, the deadline, failures as one clear line, output formats, exit
codes) in exec mode (:mod:`healthprobes.checks.runtime.executable`) and to any caller
of :func:`healthprobes.checks.runtime.evaluation.evaluate`, such as a resident server.
"""

from __future__ import annotations

from healthprobes.checks import __version__
from healthprobes.checks.runtime.options import (
    COUNT,
    FLAG,
    HELP,
    VERSION,
    Group,
    Option,
    Parser,
    parse_timeout,
)
from healthprobes.checks.runtime.render import FORMATS
from healthprobes.checks.runtime.states import CRITICAL, parse_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from healthprobes.checks.runtime.options import Command, Values
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline

ENV_FORMAT = "HEALTHPROBES_FORMAT"
ENV_PROBE = "HEALTHPROBES_PROBE"
DEFAULT_TIMEOUT = 10.0


def common_options() -> Group:
    return Group("common options (every healthprobes check)", [
        Option("-h", "--help", action=HELP, help="show this help and exit"),
        Option("-V", "--version", action=VERSION, help="show the version and exit"),
        Option("-v", "--verbose", action=COUNT,
               help="more detail in the long output; -vvv adds internal tracebacks"),
        Option("-t", "--timeout", convert=parse_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS",
               help="deadline for the whole run: resolving, connecting, TLS, calls and output "
                    "(default: 10s; 250ms and 1m30s work too)"),
        Option("--timeout-state", convert=parse_state, default=CRITICAL, metavar="STATE",
               help="state when the target cannot be reached or does not answer in time: "
                    "ok, warning, critical (default) or unknown"),
        Option("--format", choices=FORMATS, default="nagios", env=ENV_FORMAT,
               help="nagios (default): status line, perfdata, long output; json: one object "
                    "for scripts; influx, prometheus: for Telegraf/Categraf, always exit 0 "
                    "with the state as a metric"),
        Option("--probe", action=FLAG, env=ENV_PROBE,
               help="Kubernetes exec probe mode: exit 0 for OK and WARNING, 1 for CRITICAL and "
                    "UNKNOWN, one short line of output"),
    ])


class CheckProgram:
    """What a check supplies; the runtime supplies everything else.

    ``run(args, deadline)`` asks the target and judges: it returns a Report, prints
    nothing, exits nothing and keeps no state between calls, so one program can be
    run many times and from several threads in one process.
    """

    def __init__(self, name: str, prog: str, description: str,
                 run: Callable[[Values, Deadline], Report], target: Callable[[Values], str],
                 groups: Iterable[Group] = (), commands: Iterable[Command] = (),
                 validate: Callable[[Values], None] | None = None, epilog: str = "") -> None:
        self.name = name  # "grpc_health": the status line says GRPC_HEALTH
        self.prog, self.run, self.target, self.validate = prog, run, target, validate
        self.parser = Parser(prog, description, [*groups, common_options()], commands, epilog,
                             __version__)
