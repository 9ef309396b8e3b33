"""check_etcd health: what etcd itself says of its health, per endpoint.

``/health`` on every 3.x server; ``/livez`` and ``/readyz`` on 3.4.29+/3.5.11+. The
presets mirror the probes kubeadm puts on its etcd static pods, falling back to the
``/health`` forms kubeadm used before Kubernetes 1.31 on servers without the newer
endpoints.
"""

from __future__ import annotations

from healthprobes.checks.etcd.connection import Connector
from healthprobes.checks.etcd.judging import error_state, error_text, short_name
from healthprobes.checks.runtime.options import (
    APPEND,
    FLAG,
    Command,
    Group,
    Option,
    UsageError,
    Values,
    choice_list,
)
from healthprobes.checks.runtime.ranges import parse_range
from healthprobes.checks.runtime.results import Findings, Report, Result
from healthprobes.checks.runtime.states import CRITICAL, OK, UNKNOWN, state_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.etcd import EtcdSession, HealthAnswer

ENDPOINT_TYPES = ("health", "livez", "readyz")
PRESETS = ("liveness", "readiness", "startup")

EPILOG = """\
presets (Kubernetes probes, as kubeadm sets them on etcd):
  liveness    /livez; on older servers /health?exclude=NOSPACE&serializable=true
              (a full disk or a lost leader must not get etcd restarted)
  readiness   /readyz; on older servers /health (linearizable: needs the quorum)
  startup     the same as readiness
  /livez and /readyz need etcd 3.4.29+ or 3.5.11+; serializable=true needs 3.4.29+ or
  3.5.3+ (older servers ignore it and answer linearizable).

examples:
  check_etcd health --endpoints http://127.0.0.1:2381 --preset liveness --probe
  check_etcd health --endpoints https://10.0.0.1:2379 --cacert ca.pem --cert c.pem \\
      --key c.key --exclude NOSPACE -w 0.5 -c 2
"""


def command() -> Command:
    return Command("health", "", [
        Group("health", [
            Option("--endpoint-type", convert=choice_list(ENDPOINT_TYPES), default="health",
                   metavar="TYPE", help="health (default), livez or readyz"),
            Option("--exclude", action=APPEND, metavar="NAME",
                   help="for /health an alarm to ignore (NOSPACE, CORRUPT); for /livez and "
                        "/readyz a check to skip (e.g. non_learner); repeatable"),
            Option("--serializable", action=FLAG,
                   help="local read: healthy without a leader (liveness semantics)"),
            Option("--preset", convert=choice_list(PRESETS), metavar="PROBE",
                   help="liveness, readiness or startup: kubeadm's probes (see below)"),
            Option("-w", "--warning", convert=parse_range, metavar="RANGE",
                   help="warning range for each endpoint's response time in seconds"),
            Option("-c", "--critical", convert=parse_range, metavar="RANGE",
                   help="critical range for each endpoint's response time in seconds"),
        ]),
    ], description="Ask each endpoint whether etcd considers itself healthy; the worst "
                   "endpoint sets the state.", epilog=EPILOG)


def validate(args: Values) -> None:
    if args.preset and (args.endpoint_type != "health" or args.serializable):
        raise UsageError("--preset chooses the endpoint and read mode itself: leave out "
                         "--endpoint-type and --serializable")
    if args.serializable and args.endpoint_type != "health":
        raise UsageError("--serializable is for /health; /livez is serializable already")
    args.plan = plan(args)


Attempt = tuple[str, list[tuple[str, str]]]


def plan(args: Values) -> list[Attempt]:
    """The requests to try in order: the first that the server has is the answer."""
    excludes = [("exclude", name) for name in args.exclude]
    if args.preset == "liveness":
        return [("/livez", [("verbose", ""), *excludes]),
                ("/health", [("exclude", "NOSPACE"), *excludes, ("serializable", "true")])]
    if args.preset in ("readiness", "startup"):
        return [("/readyz", [("verbose", ""), *excludes]),
                ("/health", [*excludes, ("serializable", "false")])]
    if args.endpoint_type == "health":
        query = excludes + ([("serializable", "true")] if args.serializable else [])
        return [("/health", query)]
    return [(f"/{args.endpoint_type}", [("verbose", ""), *excludes])]


def ask(session: EtcdSession, attempts: list[Attempt]) -> HealthAnswer:
    from healthprobes.probes.etcd import EndpointMissing

    for index, (path, query) in enumerate(attempts):
        try:
            return session.health(path, query)
        except EndpointMissing:
            if index == len(attempts) - 1:
                raise
    raise AssertionError("no attempt")


def verdict(args: Values, where: str, answer: object) -> tuple[int, str]:
    """What one endpoint's answer (or failure) means."""
    from healthprobes.probes.etcd import EndpointMissing

    if isinstance(answer, EndpointMissing):
        return UNKNOWN, str(answer)
    if isinstance(answer, BaseException):
        return error_state(answer, args.timeout_state), error_text(answer)
    via = answer.path.split("?")[0]
    if answer.healthy:
        return OK, f"{where} is healthy ({via})"
    reason = answer.reason or f"HTTP {answer.http_status}"
    return CRITICAL, f"{where} is unhealthy ({via}): {reason}"


def details(args: Values, health: list[Result], answers: list[object]) -> list[str]:
    if len(health) == 1 and not args.verbose:
        return []
    lines = []
    for result, answer in zip(health, answers, strict=True):
        answered = not isinstance(answer, BaseException)
        timing = f" in {answer.seconds * 1000:.1f} ms via {answer.path}" if answered else ""
        lines.append(f"{state_name(result.state)}: {result.text}{timing}")
        if answered:
            lines += [f"  [{'+' if passed else '-'}]{name} {detail}".rstrip()
                      for name, passed, detail in answer.checks]
    return lines


def run(args: Values, deadline: Deadline) -> Report:
    from healthprobes.probes.parallel import run_all

    sessions = Connector(args, deadline).sessions()
    answers = run_all([(session.target, lambda session=session: ask(session, args.plan))
                       for session in sessions], deadline)
    findings = Findings()
    health = [findings.add(*verdict(args, session.target, answer), name=session.target)
              for session, answer in zip(sessions, answers, strict=True)]
    several = len(sessions) > 1
    for session, answer in zip(sessions, answers, strict=True):
        if not isinstance(answer, BaseException):
            label = f"time_{short_name(session.target)}" if several else "time"
            findings.measure(label, round(answer.seconds, 6), "s", args.warning, args.critical,
                             min=0)
    ok = health[0].text if len(health) == 1 else f"all {len(health)} endpoints are healthy"
    return findings.report("etcd_health", ",".join(session.target for session in sessions),
                           ok, details(args, health, answers))
