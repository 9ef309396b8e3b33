"""check_etcd status: each member's own numbers from /v3/maintenance/status.

Per member: a leader is seen, raft's applied index keeps up with the committed one,
the database stays below its quota and is not mostly free pages, the member is not
a learner, it reports no errors. Across members: one leader, one version, one cluster.
"""

from __future__ import annotations

from healthprobes.checks.etcd.connection import Connector
from healthprobes.checks.etcd.judging import (
    agreement_options,
    error_state,
    error_text,
    short_name,
    state_option,
)
from healthprobes.checks.runtime.numbers import format_number, parse_bytes
from healthprobes.checks.runtime.options import Command, Group, Option, UsageError, Values
from healthprobes.checks.runtime.ranges import Range, misordered, parse_range
from healthprobes.checks.runtime.results import Findings, Report, problem_lines
from healthprobes.checks.runtime.states import CRITICAL, OK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.etcd import EtcdSession
    from healthprobes.probes.etcd_answers import MemberStatus

DEFAULT_QUOTA = 2 * 1024**3  # etcd's default --quota-backend-bytes
QUOTA_METRIC = "etcd_server_quota_backend_bytes"
MIB = 1024**2


def command() -> Command:
    return Command("status", "", [
        Group("status", [
            Option("--quota-bytes", convert=parse_bytes, metavar="BYTES",
                   help="the members' --quota-backend-bytes (default: read from each member: "
                        "3.6's status, else its /metrics; 2 GiB if neither says)"),
            _range("--db-warning", "80", "warning range for DB size in % of the quota"),
            _range("--db-critical", "95", "critical range for DB size in % of the quota"),
            _range("--apply-lag-warning", "1000",
                   "warning range for raft entries committed but not yet applied"),
            _range("--apply-lag-critical", "5000",
                   "critical range for that lag (etcd refuses new requests beyond 5000)"),
            _range("--in-use-warning", "0.5:", "warning range for the DB's in-use fraction "
                                               "(below half in use wants a defragmentation)"),
            Option("--fragmentation-min-bytes", convert=parse_bytes, default=100 * MIB,
                   metavar="BYTES", help="judge the in-use fraction only for databases at "
                                         "least this big (default: 100MiB)"),
            state_option("--state-learner", "warning", "a member that is a learner"),
            *agreement_options(),
        ]),
    ], description="Judge each member's /v3/maintenance/status (with --cluster: every "
                   "member's) and compare the members with each other.")


def validate(args: Values) -> None:
    for (warning, critical), names in (
            ((args.db_warning, args.db_critical), "--db-warning/--db-critical"),
            ((args.apply_lag_warning, args.apply_lag_critical),
             "--apply-lag-warning/--apply-lag-critical")):
        problem = misordered(warning, critical)
        if problem:
            raise UsageError(f"{names}: {problem}")


def _range(flag: str, default: str, what: str) -> Option:
    return Option(flag, convert=parse_range, default=Range.parse(default), metavar="RANGE",
                  help=f"{what} (default: {default})")


class StatusAnswer:
    """A member's status plus the quota it runs with."""

    def __init__(self, status: MemberStatus, quota: int, quota_source: str) -> None:
        self.status, self.quota, self.quota_source = status, quota, quota_source


def ask(session: EtcdSession, quota: int | None) -> StatusAnswer:
    status = session.status()
    if quota:
        return StatusAnswer(status, quota, "--quota-bytes")
    if status.db_size_quota:
        return StatusAnswer(status, status.db_size_quota, "status")
    try:
        found = session.metric(QUOTA_METRIC)
    except Exception:  # the quota is a refinement: a member without /metrics still counts
        found = None
    if found:
        return StatusAnswer(status, int(found), "/metrics")
    return StatusAnswer(status, DEFAULT_QUOTA, "default")


def member_verdict(args: Values, where: str, answer: object) -> tuple[int, str]:
    if isinstance(answer, BaseException):
        return error_state(answer, args.timeout_state), error_text(answer)
    status = answer.status
    if status.errors:
        return CRITICAL, f"{where} reports errors: {'; '.join(status.errors)}"
    if status.leader is None:
        return CRITICAL, f"{where} sees no leader"
    if status.is_learner:
        return args.state_learner, f"{where} is a learner (not voting yet)"
    role = "leader" if status.is_leader else f"follower of {status.leader}"
    return OK, f"{where} is {role}, etcd {status.version}"


def agreement(what: str, state: int, seen: dict[str, list[str]]) -> tuple[int, str]:
    """Whether the members name one ``what`` (cluster ID, leader, version)."""
    if len(seen) <= 1:
        return OK, f"one {what}: {next(iter(seen), 'none')}"
    parts = [f"{value} ({', '.join(members)})" for value, members in seen.items()]
    return state, f"members disagree on the {what}: {'; '.join(parts)}"


def _group(answers: list[tuple[str, StatusAnswer]], key) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for where, answer in answers:
        value = key(answer.status)
        if value:
            seen.setdefault(value, []).append(where)
    return seen


def judge(args: Values, sessions: list[EtcdSession], answers: list[object]) -> Findings:
    findings = Findings()
    several = len(sessions) > 1
    good: list[tuple[str, StatusAnswer]] = []
    for session, answer in zip(sessions, answers, strict=True):
        where = short_name(session.target)
        findings.add(*member_verdict(args, where, answer), name=where)
        if isinstance(answer, StatusAnswer):
            good.append((where, answer))
    for where, answer in good:
        suffix = f"_{where}" if several else ""
        status = answer.status
        findings.record(f"db_size{suffix}", status.db_size, "B", min=0, max=answer.quota)
        used = round(100.0 * status.db_size / answer.quota, 3)
        findings.measure(f"db_quota_used{suffix}", used, "%", args.db_warning, args.db_critical,
                         min=0, max=100,
                         text=f"db_quota_used{suffix} is {format_number(used)}% of the quota")
        if status.db_size_in_use is not None:
            findings.record(f"db_size_in_use{suffix}", status.db_size_in_use, "B", min=0)
            ratio = round(status.db_size_in_use / status.db_size, 4) if status.db_size else 1.0
            judged = status.db_size >= args.fragmentation_min_bytes
            findings.measure(f"db_in_use_ratio{suffix}", ratio,
                             warning=args.in_use_warning if judged else None, min=0, max=1)
        findings.measure(f"apply_lag{suffix}", status.apply_lag, "", args.apply_lag_warning,
                         args.apply_lag_critical, min=0)
        for name, value in (("raft_term", status.raft_term), ("raft_index", status.raft_index),
                            ("revision", status.revision)):
            findings.record(f"{name}{suffix}", value, min=0)
    if several and good:
        findings.add(*agreement("cluster ID", CRITICAL,
                                _group(good, lambda status: status.cluster_id)), name="cluster")
        findings.add(*agreement("leader", args.state_leader_disagreement,
                                _group(good, lambda status: status.leader)), name="leader")
        findings.add(*agreement("version", args.state_version_skew,
                                _group(good, lambda status: status.version)), name="version")
    return findings


def run(args: Values, deadline: Deadline) -> Report:
    from healthprobes.probes.parallel import run_all

    sessions = Connector(args, deadline).sessions()
    answers = run_all([(session.target, lambda session=session: ask(session, args.quota_bytes))
                       for session in sessions], deadline)
    findings = judge(args, sessions, answers)
    members = [(findings.results[index], answer) for index, answer in enumerate(answers)]
    answered = [answer for _, answer in members if isinstance(answer, StatusAnswer)]
    if len(members) == 1:
        ok = members[0][0].text
    else:
        leaders = [answer.status.member_id for answer in answered if answer.status.is_leader]
        version = answered[0].status.version if answered else "?"
        ok = (f"all {len(members)} members OK, leader {leaders[0] if leaders else '?'}, "
              f"etcd {version}")
    details = problem_lines(findings.results, args.verbose)
    if args.verbose:
        details += [f"  {result.name}: member {answer.status.member_id}, quota {answer.quota} "
                    f"bytes (from {answer.quota_source})"
                    for result, answer in members if isinstance(answer, StatusAnswer)]
    return findings.report("etcd_status", ",".join(session.target for session in sessions),
                           ok, details)
