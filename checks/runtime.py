"""The one place that parses, keeps the deadline, prints and exits.

Every check is a :class:`CheckProgram`; :func:`main` gives it the shared conventions:
usage errors are UNKNOWN (3) with a one-line reason, a target that cannot be asked is
CRITICAL (or ``--timeout-state``), an internal error is one UNKNOWN line, and a
watchdog prints the timeout result and ends the process at ``-t`` whatever is stuck
(DNS, a TLS handshake, a slow body), because callers kill plugins that overrun.

Start-up time is most of a health check's cost, so this module and what it imports
stay within what the interpreter has loaded anyway (no argparse, re, threading,
dataclasses, logging); a check imports its protocol client when it runs.
"""

from __future__ import annotations

import _thread
import os
import sys

from checks import __version__
from checks.cli import (
    COUNT,
    FLAG,
    HELP,
    VERSION,
    Group,
    HelpRequested,
    Option,
    Parser,
    UsageError,
    Values,
    parse_duration,
)
from checks.model import Report, single_result
from checks.output import COLLECTOR_FORMATS, FORMATS, render
from checks.states import CRITICAL, UNKNOWN, parse_state
from probes.deadline import Deadline
from probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from checks.cli import Command

ENV_FORMAT = "HEALTHPROBES_FORMAT"
ENV_PROBE = "HEALTHPROBES_PROBE"


def common_options() -> Group:
    return Group("common options (every healthprobes check)", [
        Option("-h", "--help", action=HELP, help="show this help and exit"),
        Option("-V", "--version", action=VERSION, help="show the version and exit"),
        Option("-v", "--verbose", action=COUNT,
               help="more detail in the long output; -vvv adds internal tracebacks"),
        Option("-t", "--timeout", convert=parse_duration, default=10.0, metavar="SECONDS",
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
    """What a check supplies; the runtime supplies everything else."""

    def __init__(self, name: str, prog: str, description: str,
                 run: Callable[[Values, Deadline], Report], target: Callable[[Values], str],
                 groups: Iterable[Group] = (), commands: Iterable[Command] = (),
                 validate: Callable[[Values], None] | None = None, epilog: str = "") -> None:
        self.name = name  # "grpc_health": the status line says GRPC_HEALTH
        self.prog, self.run, self.target, self.validate = prog, run, target, validate
        self.parser = Parser(prog, description, [*groups, common_options()], commands, epilog,
                             __version__)


class Outcome:
    __slots__ = ("exit_code", "text")

    def __init__(self, exit_code: int, text: str) -> None:
        self.exit_code, self.text = exit_code, text


def exit_code(state: int, fmt: str, probe: bool) -> int:
    if fmt in COLLECTOR_FORMATS:
        return 0  # Categraf drops the output of a command that exits non-zero
    if probe:
        return 0 if state <= 1 else 1
    return state


def process_age() -> float:
    """Seconds since this process started: the caller's clock began then, not at main().

    Read from /proc (start time in clock ticks since boot against the uptime); 0.0
    where that is not available.
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as uptime:
            now = float(uptime.read().split()[0])
        return max(0.0, now - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def probe_budget(timeout: float) -> Deadline:
    """The probes' deadline: what is left of the run, less a moment to judge and print."""
    left = timeout - process_age()
    return Deadline(max(0.05, left - min(0.3, max(0.1, left * 0.15))))


def state_for(error: ProbeError, timeout_state: int) -> int:
    if error.kind == ProbeError.CONFIG:
        return UNKNOWN
    return timeout_state if error.is_unreachable else CRITICAL


def sniff_output_mode(argv: list[str]) -> tuple[str, bool]:
    """Format and probe mode from raw arguments, for reporting a usage error in kind."""
    fmt = os.environ.get(ENV_FORMAT, "nagios").strip().lower()
    probe = os.environ.get(ENV_PROBE, "").strip().lower() in ("1", "true", "yes", "on")
    for index, arg in enumerate(argv):
        if arg in ("--format", "-format") and index + 1 < len(argv):
            fmt = argv[index + 1]
        elif arg.startswith(("--format=", "-format=")):
            fmt = arg.split("=", 1)[1]
        elif arg in ("--probe", "-probe"):
            probe = True
    return (fmt if fmt in FORMATS else "nagios"), probe


def parse_arguments(program: CheckProgram, argv: list[str]) -> Values:
    """Options, checked against each other; raises UsageError or HelpRequested."""
    args = program.parser.parse(argv)
    if program.validate is not None:
        program.validate(args)
    return args


def execute(program: CheckProgram, argv: list[str],
            on_parsed: Callable[[Values, str], None] | None = None) -> Outcome:
    """Parse, run and render; never raises for anything a user or target can cause."""
    try:
        args = parse_arguments(program, argv)
    except UsageError as error:
        fmt, probe = sniff_output_mode(argv)
        report = single_result(program.name, "", UNKNOWN, f"invalid arguments: {error}",
                               [f"Usage: {program.prog} [options]; see '{program.prog} --help'."])
        return Outcome(exit_code(UNKNOWN, fmt, probe), render(report, fmt, probe))
    target = program.target(args)
    if on_parsed is not None:
        on_parsed(args, target)
    try:
        report = program.run(args, probe_budget(args.timeout))
    except ProbeError as error:
        report = single_result(program.name, target, state_for(error, args.timeout_state),
                               str(error))
    except Exception as error:
        details = []
        if args.verbose >= 3:
            import traceback

            details = traceback.format_exc().splitlines()
        report = single_result(program.name, target, UNKNOWN,
                               f"internal error: {type(error).__name__}: {error}", details)
    return Outcome(exit_code(report.state, args.format, args.probe),
                   render(report, args.format, args.probe))


class _Emitter:
    """Prints exactly once, whether the check finishes or the watchdog fires first."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()

    def emit_and_exit(self, outcome: Outcome, wait: bool = True) -> None:
        if not self._lock.acquire(wait):
            return
        sys.stdout.write(outcome.text)
        sys.stdout.flush()
        # Skip interpreter teardown: gRPC channels can hang in __del__ there, and a
        # check that has printed its verdict has nothing left to do.
        os._exit(outcome.exit_code)


def _start_watchdog(program: CheckProgram, emitter: _Emitter, args: Values,
                    target: str) -> None:
    # A bare thread waiting on a lock: threading.Timer would cost an import of threading.
    never_released = _thread.allocate_lock()
    never_released.acquire()
    # Fire a moment early: writing the verdict and exiting take time too.
    delay = max(0.01, args.timeout - process_age() - 0.02)

    def watch() -> None:
        never_released.acquire(True, delay)
        text = f"{target}: no result within {args.timeout:g}s (the check's -t timeout)"
        report = single_result(program.name, target, args.timeout_state, text)
        emitter.emit_and_exit(Outcome(exit_code(report.state, args.format, args.probe),
                                      render(report, args.format, args.probe)), wait=False)

    _thread.start_new_thread(watch, ())


def main(program: CheckProgram, argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    emitter = _Emitter()
    try:
        outcome = execute(program, argv, lambda args, target: _start_watchdog(
            program, emitter, args, target))
    except HelpRequested as done:
        sys.stdout.write(str(done))
        sys.stdout.flush()
        os._exit(0)
    emitter.emit_and_exit(outcome)
