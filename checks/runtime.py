"""The one place that parses, keeps the deadline, prints and exits.

Every check is a :class:`CheckProgram`; :func:`main` gives it the shared conventions:
usage errors are UNKNOWN (3) with a one-line reason, a target that cannot be asked is
CRITICAL (or ``--timeout-state``), an internal error is one UNKNOWN line, and a
watchdog prints the timeout result and ends the process at ``-t`` whatever is stuck
(DNS, a TLS handshake, a slow body), because callers kill plugins that overrun.
"""

import argparse
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from nagiosplugin.state import ServiceState

from checks.options import UsageError, build_parser, sniff_output_mode
from checks.output import COLLECTOR_FORMATS, render
from checks.report import Report, single_result
from checks.thresholds import Critical, Unknown
from probes.deadline import Deadline
from probes.errors import ProbeError


@dataclass(frozen=True)
class CheckProgram:
    """What a check supplies; the runtime supplies everything else."""

    name: str  # "grpc_health": the status line says GRPC_HEALTH, metrics say check="..."
    prog: str  # the executable's name, for usage and --version
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Deadline], Report]
    target: Callable[[argparse.Namespace], str]
    validate: Callable[[argparse.Namespace], None] | None = None  # raise UsageError
    epilog: str = ""

    def parser(self) -> argparse.ArgumentParser:
        parser = build_parser(self.prog, self.description, self.epilog)
        self.add_arguments(parser)
        return parser


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    text: str


def exit_code(state: ServiceState, fmt: str, probe: bool) -> int:
    if fmt in COLLECTOR_FORMATS:
        return 0  # Categraf drops the output of a command that exits non-zero
    if probe:
        return 0 if int(state) <= 1 else 1
    return int(state)


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


def state_for(error: ProbeError, timeout_state: ServiceState) -> ServiceState:
    if error.kind == ProbeError.CONFIG:
        return Unknown
    return timeout_state if error.is_unreachable else Critical


def execute(program: CheckProgram, argv: list[str],
            on_parsed: Callable[[argparse.Namespace, str], None] | None = None) -> Outcome:
    """Parse, run and render; never raises for anything a user or target can cause."""
    try:
        args = program.parser().parse_args(argv)
        if program.validate is not None:
            program.validate(args)
    except UsageError as error:
        fmt, probe = sniff_output_mode(argv)
        report = single_result(program.name, "", Unknown, f"invalid arguments: {error}",
                               [f"Usage: {program.prog} [options]; see '{program.prog} --help'."])
        return Outcome(exit_code(Unknown, fmt, probe), render(report, fmt, probe))
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
        report = single_result(program.name, target, Unknown,
                               f"internal error: {type(error).__name__}: {error}", details)
    return Outcome(exit_code(report.state, args.format, args.probe),
                   render(report, args.format, args.probe))


class _Emitter:
    """Prints exactly once, whether the check finishes or the watchdog fires first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def emit_and_exit(self, outcome: Outcome, wait: bool = True) -> None:
        if not self._lock.acquire(blocking=wait):
            return
        sys.stdout.write(outcome.text)
        sys.stdout.flush()
        # Skip interpreter teardown: gRPC channels can hang in __del__ there, and a
        # check that has printed its verdict has nothing left to do.
        os._exit(outcome.exit_code)


def main(program: CheckProgram, argv: list[str] | None = None) -> NoReturn:
    argv = sys.argv[1:] if argv is None else argv
    emitter = _Emitter()

    def start_watchdog(args: argparse.Namespace, target: str) -> None:
        def fire() -> None:
            text = f"{target}: no result within {args.timeout:g}s (the check's -t timeout)"
            report = single_result(program.name, target, args.timeout_state, text)
            emitter.emit_and_exit(Outcome(exit_code(report.state, args.format, args.probe),
                                          render(report, args.format, args.probe)), wait=False)

        # Fire a moment early: writing the verdict and exiting take time too.
        timer = threading.Timer(max(0.01, args.timeout - process_age() - 0.02), fire)
        timer.daemon = True
        timer.start()

    try:
        outcome = execute(program, argv, start_watchdog)
    except SystemExit as done:  # --help and --version print and end here
        sys.stdout.flush()
        os._exit(done.code if isinstance(done.code, int) else 0)
    emitter.emit_and_exit(outcome)
    raise AssertionError("unreachable")
