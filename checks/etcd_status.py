"""check_etcd status: each member's own numbers from /v3/maintenance/status.

Per member: a leader is seen, raft's applied index keeps up with the committed one,
the database stays below its quota and is not mostly free pages, the member is not
a learner, it reports no errors. Across members: one leader, one version, one cluster.
"""

from __future__ import annotations

from checks.cli import Command, Group, Option, Values
from checks.etcd_common import (
    Connector,
    EndpointSummary,
    agreement_options,
    error_state,
    error_text,
    short_name,
    state_option,
)
from checks.model import (
    Metric,
    Report,
    Result,
    ThresholdContext,
    VerdictContext,
    evaluate,
    problem_lines,
)
from checks.numbers import format_number, parse_bytes
from checks.ranges import Range, parse_range
from checks.states import CRITICAL, OK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from probes.deadline import Deadline
    from probes.etcd import EtcdSession
    from probes.etcd_answers import MemberStatus

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


def member_verdict(args: Values):
    def verdict(metric: Metric) -> tuple[int, str]:
        answer, where = metric.value, metric.name
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

    return verdict


def agreement_verdict(what: str, state: int):
    def verdict(metric: Metric) -> tuple[int, str]:
        seen: dict[str, list[str]] = metric.value
        if len(seen) <= 1:
            return OK, f"one {what}: {next(iter(seen), 'none')}"
        parts = [f"{value} ({', '.join(members)})" for value, members in seen.items()]
        return state, f"members disagree on the {what}: {'; '.join(parts)}"

    return verdict


def _group(answers: list[tuple[str, StatusAnswer]], key) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for where, answer in answers:
        value = key(answer.status)
        if value:
            seen.setdefault(value, []).append(where)
    return seen


def metrics(args: Values, sessions: list[EtcdSession], answers: list[object]):
    several = len(sessions) > 1
    good: list[tuple[str, StatusAnswer]] = []
    for session, answer in zip(sessions, answers, strict=True):
        where = short_name(session.target)
        yield Metric(where, answer, context="member")
        if isinstance(answer, StatusAnswer):
            good.append((where, answer))
    for where, answer in good:
        suffix = f"_{where}" if several else ""
        status = answer.status
        yield Metric(f"db_size{suffix}", status.db_size, "B", min=0, max=answer.quota,
                     context="bytes")
        yield Metric(f"db_quota_used{suffix}", round(100.0 * status.db_size / answer.quota, 3),
                     "%", min=0, max=100, context="db_quota_used")
        if status.db_size_in_use is not None:
            yield Metric(f"db_size_in_use{suffix}", status.db_size_in_use, "B", min=0,
                         context="bytes")
            ratio = round(status.db_size_in_use / status.db_size, 4) if status.db_size else 1.0
            judged = status.db_size >= args.fragmentation_min_bytes
            yield Metric(f"db_in_use_ratio{suffix}", ratio, min=0, max=1,
                         context="in_use" if judged else "in_use_small")
        yield Metric(f"apply_lag{suffix}", status.apply_lag, min=0, context="apply_lag")
        yield Metric(f"raft_term{suffix}", status.raft_term, min=0, context="counter")
        yield Metric(f"raft_index{suffix}", status.raft_index, min=0, context="counter")
        yield Metric(f"revision{suffix}", status.revision, min=0, context="counter")
    if several and good:
        yield Metric("cluster", _group(good, lambda status: status.cluster_id), context="cluster")
        yield Metric("leader", _group(good, lambda status: status.leader), context="leader")
        yield Metric("version", _group(good, lambda status: status.version), context="version")


def _db_text(metric: Metric) -> str:
    return f"{metric.name} is {format_number(metric.value)}% of the quota"


class StatusSummary(EndpointSummary):
    context = "member"

    def all_ok(self, members: list[Result]) -> str:
        leaders = [result.metric.value.status.member_id for result in members
                   if result.metric and result.metric.value.status.is_leader]
        return (f"all {len(members)} members OK, leader {leaders[0] if leaders else '?'}, "
                f"etcd {members[0].metric.value.status.version}")  # type: ignore[union-attr]

    def verbose(self, results: list[Result]) -> list[str]:
        return problem_lines(results, self.args.verbose) + (
            [f"  {result.name}: member {result.metric.value.status.member_id}, quota "
             f"{result.metric.value.quota} bytes (from {result.metric.value.quota_source})"
             for result in results if result.context == "member"
             and isinstance(result.metric.value, StatusAnswer)] if self.args.verbose else [])


def run(args: Values, deadline: Deadline) -> Report:
    from probes.parallel import run_all

    sessions = Connector(args, deadline).sessions()
    answers = run_all([(session.target, lambda session=session: ask(session, args.quota_bytes))
                       for session in sessions], deadline)
    contexts = [
        VerdictContext("member", member_verdict(args)),
        ThresholdContext("bytes"), ThresholdContext("counter"),
        ThresholdContext("db_quota_used", args.db_warning, args.db_critical, text=_db_text),
        ThresholdContext("in_use", args.in_use_warning),
        ThresholdContext("in_use_small"),
        ThresholdContext("apply_lag", args.apply_lag_warning, args.apply_lag_critical),
        VerdictContext("cluster", agreement_verdict("cluster ID", CRITICAL)),
        VerdictContext("leader", agreement_verdict("leader", args.state_leader_disagreement)),
        VerdictContext("version", agreement_verdict("version", args.state_version_skew)),
    ]
    return evaluate("etcd_status", ",".join(session.target for session in sessions),
                    metrics(args, sessions, answers), contexts, StatusSummary(args))
