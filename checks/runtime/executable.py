"""The second half of the runtime: the exec front end every executable shares.

argv in, one verdict printed, the exit code out: usage errors are UNKNOWN (3) with a
one-line reason, and a watchdog prints the timeout result and ends the process at
``-t`` whatever is stuck (DNS, a TLS handshake, a slow body), because callers kill
plugins that overrun. Judging is :mod:`healthprobes.checks.runtime.evaluation`'s.

Start-up time is most of a health check's cost, so this module and what it imports
stay within what the interpreter has loaded anyway (no argparse, re, threading,
dataclasses, logging); tests/test_import_budget.py holds every executable to that.
"""

from __future__ import annotations

import _thread
import os
import sys

from healthprobes.checks.runtime.evaluation import (
    evaluate,
    failed,
    parse_arguments,
    probe_deadline,
    timeout_report,
    usage_report,
)
from healthprobes.checks.runtime.options import HelpRequested, UsageError, parse_timeout
from healthprobes.checks.runtime.program import DEFAULT_TIMEOUT, ENV_FORMAT, ENV_PROBE
from healthprobes.checks.runtime.render import COLLECTOR_FORMATS, FORMATS, render
from healthprobes.checks.runtime.results import single_result
from healthprobes.checks.runtime.states import UNKNOWN
from healthprobes.probes.deadline import Deadline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from healthprobes.checks.runtime.options import Values
    from healthprobes.checks.runtime.program import CheckProgram
    from healthprobes.checks.runtime.results import Report


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


def outcome(report: Report, fmt: str, probe: bool, codes: str = "nagios") -> Outcome:
    """The text and exit code; ``codes`` names another tool's exit codes a check offers
    (check_grpc_health --exit-codes grpc-health-probe) for scripts written against it."""
    code = exit_code(report.state, fmt, probe)
    if codes != "nagios" and fmt not in COLLECTOR_FORMATS:
        code = report.exit_codes.get(codes, FAILED_RUN_CODES.get(report.failure, code))
    return Outcome(code, render(report, fmt, probe))


# What another tool's exit codes say when the run itself failed, whatever the tool: its
# usage error is 1 (grpc-health-probe, and most Go tools), a target that could not be
# asked 2 (grpc-health-probe's "connection failed").
FAILED_RUN_CODES = {"usage": 1, "probe": 2, "timeout": 2, "internal": 2}


def sniff_exit_codes(argv: list[str]) -> str:
    return sniffed(argv, "exit-codes") or "nagios"


def sniffed(argv: list[str], name: str) -> str | None:
    """The last value of ``--name`` (also ``-name``, ``--name=value``) in raw arguments,
    for what must be known before, or without, parsing them."""
    found = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg in (f"--{name}", f"-{name}") and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith((f"--{name}=", f"-{name}=")):
            found = arg.split("=", 1)[1]
    return found


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
    return probe_deadline(timeout - process_age())


def sniff_output_mode(argv: list[str]) -> tuple[str, bool]:
    """Format and probe mode from raw arguments, for reporting a usage error in kind."""
    fmt = sniffed(argv, "format") or os.environ.get(ENV_FORMAT, "nagios").strip().lower()
    probe = os.environ.get(ENV_PROBE, "").strip().lower() in ("1", "true", "yes", "on")
    probe = probe or any(arg in ("--probe", "-probe") for arg in argv)
    return (fmt if fmt in FORMATS else "nagios"), probe


def execute(program: CheckProgram, argv: list[str],
            on_parsed: Callable[[Values, str], None] | None = None) -> Outcome:
    """Parse, run and render; never raises for anything a user or target can cause."""
    fmt, probe = sniff_output_mode(argv)
    try:
        args = parse_arguments(program, argv)
    except UsageError as error:
        command = next((arg for arg in argv if arg in program.parser.commands), "")
        return outcome(usage_report(program, error, command), fmt, probe,
                       sniff_exit_codes(argv))
    except HelpRequested:
        raise
    except Exception as error:  # our own bug while reading options: one line, no traceback
        report = failed(single_result(program.name, "", UNKNOWN, f"internal error while "
                                      f"reading the options: {type(error).__name__}: {error}"),
                        "internal")
        return outcome(report, fmt, probe, sniff_exit_codes(argv))
    if on_parsed is not None:
        on_parsed(args, program.target(args))
    report = evaluate(program, args, probe_budget(args.timeout))
    return outcome(report, args.format, args.probe, getattr(args, "exit_codes", "nagios"))


class _Emitter:
    """Prints exactly once, whether the check finishes or the watchdog fires first."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()

    def emit_and_exit(self, result: Outcome, wait: bool = True) -> None:
        if not self._lock.acquire(wait):
            return
        sys.stdout.write(result.text)
        sys.stdout.flush()
        # Skip interpreter teardown: gRPC channels can hang in __del__ there, and a
        # check that has printed its verdict has nothing left to do.
        os._exit(result.exit_code)


def sniff_timeout(argv: list[str]) -> float:
    """``-t``/``--timeout`` from raw arguments, so the clock runs before any option is
    read (reading one may hang: a FIFO named as a password file); the default if absent
    or unreadable (parsing then reports it)."""
    found = sniffed(argv, "timeout")
    for index, arg in enumerate(argv):  # the short spellings: -t 5, -t5
        if arg == "--":
            break
        if arg == "-t" and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith("-t") and len(arg) > 2 and (arg[2].isdigit() or arg[2] == "."):
            found = arg[2:]
    try:
        return parse_timeout(found) if found is not None else DEFAULT_TIMEOUT
    except Exception:
        return DEFAULT_TIMEOUT


class _Watchdog:
    """Ends the process with the timeout verdict at ``-t``, counted from process start.

    It starts before the options are read, knowing only the sniffed timeout and output
    mode; once the options are parsed it words the verdict with the real settings and
    target.
    """

    def __init__(self, program: CheckProgram, emitter: _Emitter, argv: list[str]) -> None:
        self.program, self.emitter = program, emitter
        self.timeout = sniff_timeout(argv)
        self.fmt, self.probe = sniff_output_mode(argv)
        self.args: Values | None = None
        self.target = ""
        # A bare thread waiting on a lock: threading.Timer would cost an import of threading.
        self._never_released = _thread.allocate_lock()
        self._never_released.acquire()
        _thread.start_new_thread(self._watch, ())

    def parsed(self, args: Values, target: str) -> None:
        self.args, self.target = args, target

    def _watch(self) -> None:
        # Fire a moment early: writing the verdict and exiting take time too.
        self._never_released.acquire(True, max(0.01, self.timeout - process_age() - 0.02))
        args = self.args
        if args is None:  # still reading the options
            # A file named by an option that cannot be read in time (a FIFO, a hung
            # network mount) is the caller's configuration problem: UNKNOWN.
            report = single_result(self.program.name, "", UNKNOWN,
                                   f"no result within {self.timeout:g}s (the check's -t "
                                   "timeout) while reading the options")
            result = outcome(report, self.fmt, self.probe)
        else:
            result = outcome(timeout_report(self.program, args, self.target), args.format,
                             args.probe, getattr(args, "exit_codes", "nagios"))
        self.emitter.emit_and_exit(result, wait=False)


def main(program: CheckProgram, argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    emitter = _Emitter()
    watchdog = _Watchdog(program, emitter, argv)
    try:
        result = execute(program, argv, watchdog.parsed)
    except HelpRequested as done:
        sys.stdout.write(str(done))
        sys.stdout.flush()
        os._exit(0)
    emitter.emit_and_exit(result)
