"""The first half of the runtime: parsed options and a deadline in, a Report out.

Nothing here prints, exits or keeps process-wide state: the exec front end
(:mod:`healthprobes.checks.runtime.executable`) calls it once per process, and a
resident server may call it many times, from several threads, with its own deadline.
Every failure a user or a target can cause becomes a report: a target that cannot be
asked is CRITICAL (or ``--timeout-state``), our own bug one UNKNOWN line.
"""

from __future__ import annotations

from healthprobes.checks.runtime.results import single_result
from healthprobes.checks.runtime.states import CRITICAL, UNKNOWN
from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.options import UsageError, Values
    from healthprobes.checks.runtime.program import CheckProgram
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline


def parse_arguments(program: CheckProgram, argv: list[str]) -> Values:
    """Options, checked against each other; raises UsageError or HelpRequested."""
    args = program.parser.parse(argv)
    if program.validate is not None:
        program.validate(args)
    warning, critical = getattr(args, "warning", None), getattr(args, "critical", None)
    if hasattr(warning, "invert") and hasattr(critical, "invert"):  # two Ranges
        from healthprobes.checks.runtime.options import UsageError
        from healthprobes.checks.runtime.ranges import misordered

        problem = misordered(warning, critical)
        if problem:
            raise UsageError(f"-w/-c: {problem}")
    return args


def state_for(error: ProbeError, timeout_state: int) -> int:
    """The state of a target that could not be asked: our own unusable input is
    UNKNOWN, silence and refusal ``--timeout-state``, any other failure CRITICAL."""
    if error.kind == ProbeError.CONFIG:
        return UNKNOWN
    return timeout_state if error.is_unreachable else CRITICAL


def failed(report: Report, why: str) -> Report:
    report.failure = why
    return report


def usage_report(program: CheckProgram, error: UsageError, command: str = "") -> Report:
    usage = f"{program.prog} {command or 'COMMAND' if program.parser.commands else ''}".rstrip()
    return failed(single_result(program.name, "", UNKNOWN, f"invalid arguments: {error}",
                                [f"Usage: {usage} [options]; see '{usage} --help'."]), "usage")


def timeout_report(program: CheckProgram, args: Values, target: str) -> Report:
    """What a run that is still going at its deadline reports."""
    text = f"{target}: no result within {args.timeout:g}s (the check's -t timeout)"
    return failed(single_result(report_name(program, args), target, args.timeout_state, text),
                  "timeout")


def probe_deadline(left: float) -> Deadline:
    """The probes' deadline when ``left`` seconds remain for the whole answer: less a
    moment to judge and print (or send) the verdict."""
    from healthprobes.probes.deadline import Deadline

    return Deadline(max(0.05, left - min(0.3, max(0.1, left * 0.15))))


def report_name(program: CheckProgram, args: Values) -> str:
    """The name on the status line: the check, and the subcommand when it has them
    (ETCD_MEMBERS), also when the run failed before judging anything."""
    return f"{program.name}_{args.command}" if args.command else program.name


def evaluate(program: CheckProgram, args: Values, deadline: Deadline) -> Report:
    """Run the check; never raises for anything a user or a target can cause, and never
    lets a secret the run knows (``args.secrets``) into the report."""
    try:
        report = program.run(args, deadline)
    except ProbeError as error:
        report = failed(single_result(report_name(program, args), program.target(args),
                                      state_for(error, args.timeout_state), str(error)),
                        "probe")
    except Exception as error:
        details = []
        if args.verbose >= 3:
            import traceback

            details = traceback.format_exc().splitlines()
        report = failed(single_result(report_name(program, args), program.target(args),
                                      UNKNOWN, f"internal error: {type(error).__name__}: "
                                      f"{error}", details), "internal")
    secrets = getattr(args, "secrets", None)
    if secrets:
        from healthprobes.checks.runtime.secrets import scrub_report

        report = scrub_report(report, secrets)
    return report
