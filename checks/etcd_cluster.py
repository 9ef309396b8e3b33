"""check_etcd alarms, members and cluster: judging the cluster as a whole.

Quorum arithmetic (REFERENCE.md): n voting members need floor(n/2)+1 of them
working; the cluster survives (n-1)/2 failures. Learners do not vote and are left
out of both numbers.
"""

from __future__ import annotations

from checks.cli import Command, Group, Option, UsageError, Values
from checks.etcd_common import (
    Connector,
    agreement_options,
    ask_any,
    error_state,
    error_text,
    member_urls,
    state_option,
)
from checks.model import (
    Metric,
    Report,
    Result,
    Summary,
    ThresholdContext,
    VerdictContext,
    evaluate,
    problem_lines,
    single_result,
)
from checks.states import CRITICAL, OK, WARNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from probes.deadline import Deadline
    from probes.etcd import EtcdSession, HealthAnswer
    from probes.etcd_answers import Alarm, Member, MemberStatus

SERIOUS_ALARMS = ("NOSPACE", "CORRUPT")


def quorum(voting: int) -> int:
    return voting // 2 + 1


def tolerated(voting: int) -> int:
    return (voting - 1) // 2 if voting else 0


def _names(members: list[Member]) -> dict[str, str]:
    return {member.id: member.label for member in members}


def alarm_text(alarm: Alarm, names: dict[str, str]) -> str:
    name = names.get(alarm.member_id)
    who = f"member {name} ({alarm.member_id})" if name else f"member {alarm.member_id}"
    return f"alarm {alarm.alarm} on {who}"


def alarm_state(alarm: Alarm) -> int:
    return CRITICAL if alarm.alarm in SERIOUS_ALARMS else WARNING


# --- alarms -----------------------------------------------------------------------------

def alarms_command() -> Command:
    return Command("alarms", "",
                   [], description="Ask the cluster for its active alarms (any endpoint "
                                   "answers for the whole cluster; the call needs quorum).")


def _alarms_and_names(session: EtcdSession) -> tuple[list[Alarm], dict[str, str]]:
    alarms = session.alarms()
    try:
        names = _names(session.members()) if alarms else {}
    except Exception:  # names only make the text friendlier
        names = {}
    return alarms, names


def run_alarms(args: Values, deadline: Deadline) -> Report:
    sessions = Connector(args, deadline).sessions()
    target = ",".join(session.target for session in sessions)
    try:
        alarms, names = ask_any(sessions, _alarms_and_names, deadline)
    except Exception as error:
        text = error_text(error)
        if "no answer in time" in text:
            text += " (the alarm list goes through raft: has the cluster lost its quorum?)"
        return single_result("etcd_alarms", target, error_state(error, args.timeout_state), text)

    def verdict(metric: Metric) -> tuple[int, str]:
        return alarm_state(metric.value), alarm_text(metric.value, names)

    found = [Metric(f"alarm_{index}", alarm, context="alarm")
             for index, alarm in enumerate(alarms)]
    count = Metric("alarms", len(alarms), min=0, context="count")
    return evaluate("etcd_alarms", target, [*found, count],
                    [VerdictContext("alarm", verdict), ThresholdContext("count")],
                    AlarmsSummary())


class AlarmsSummary(Summary):
    def ok(self, results: list[Result]) -> str:
        return "no alarms"

    def verbose(self, results: list[Result]) -> list[str]:
        return problem_lines(results)


# --- members ----------------------------------------------------------------------------

def members_command() -> Command:
    return Command("members", "", [
        Group("members", [
            Option("--expected", convert=int, metavar="N",
                   help="the number of members the cluster should have"),
            state_option("--state-unexpected-count", "critical",
                         "a member count other than --expected"),
            state_option("--state-learner", "warning", "each learner"),
            state_option("--state-unstarted", "warning", "a member added but never started"),
            state_option("--state-even", "warning",
                         "an even number of voting members (it survives no more failures "
                         "than one member fewer)"),
        ]),
    ], description="Judge the member list: how many members, which are learners or were "
                   "added but never started, and how many failures the cluster tolerates.")


def validate_members(args: Values) -> None:
    if args.expected is not None and args.expected < 1:
        raise UsageError("--expected must be 1 or more")


def member_metrics(args: Values, members: list[Member]):
    voting = [member for member in members if not member.is_learner]
    learners = [member for member in members if member.is_learner]
    for member in members:
        if not member.started:
            yield Metric(member.label, member, context="unstarted")
    for member in learners:
        yield Metric(member.label, member, context="learner")
    if args.expected is not None:
        yield Metric("count", len(members), context="expected")
    yield Metric("voting", len(voting), context="even")
    yield Metric("members", len(members), min=0, context="number")
    yield Metric("voting_members", len(voting), min=0, context="number")
    yield Metric("learners", len(learners), min=0, context="number")
    yield Metric("failures_tolerated", tolerated(len(voting)), min=0, context="number")


def run_members(args: Values, deadline: Deadline) -> Report:
    connector = Connector(args, deadline)
    sessions = connector.sessions()
    members = connector.member_list(sessions)

    def expected(metric: Metric) -> tuple[int, str]:
        state = OK if metric.value == args.expected else args.state_unexpected_count
        return state, f"{metric.value} members, {args.expected} expected"

    def even(metric: Metric) -> tuple[int, str]:
        voting = metric.value
        if voting and voting % 2 == 0:
            return args.state_even, (f"{voting} voting members, an even number: it tolerates "
                                     f"{tolerated(voting)} failure(s), as {voting - 1} would")
        return OK, f"{voting} voting members"

    class MembersSummary(Summary):
        def ok(self, results: list[Result]) -> str:
            voting = sum(1 for member in members if not member.is_learner)
            names = ", ".join(member.label for member in members)
            return (f"{len(members)} members ({names}), tolerates {tolerated(voting)} "
                    f"failure(s)")

        def verbose(self, results: list[Result]) -> list[str]:
            lines = problem_lines(results)
            if args.verbose:
                lines += [f"  {member.label}: id {member.id}, peers {','.join(member.peer_urls)}"
                          f", clients {','.join(member.client_urls) or '-'}"
                          f"{', learner' if member.is_learner else ''}" for member in members]
            return lines

    contexts = [
        VerdictContext("unstarted", lambda metric: (
            args.state_unstarted, f"member {metric.value.id} ({metric.value.label}) was added "
                                  "but has not started")),
        VerdictContext("learner", lambda metric: (
            args.state_learner, f"{metric.value.label} is a learner (not voting)")),
        VerdictContext("expected", expected), VerdictContext("even", even),
        ThresholdContext("number"),
    ]
    return evaluate("etcd_members", ",".join(session.target for session in sessions),
                    member_metrics(args, members), contexts, MembersSummary())


# --- cluster ----------------------------------------------------------------------------

def cluster_command() -> Command:
    return Command("cluster", "", [
        Group("cluster", [
            *agreement_options(),
        ]),
    ], description="The one check for a dashboard: find every member from the member "
                   "list, ask each one at once, and judge the quorum. All healthy is OK; "
                   "members down but quorum held is WARNING (naming them); quorum lost or "
                   "no leader is CRITICAL.")


# /health checks alarms first and stops there, so alarms are excluded from the health
# question (and reported from the alarm list instead): a full disk must not count as
# a member being down.
HEALTH_QUERY = [("exclude", "NOSPACE"), ("exclude", "CORRUPT")]


class MemberView:
    """What one member said, or why it said nothing."""

    def __init__(self, member: Member, session: EtcdSession | None) -> None:
        self.member, self.session = member, session  # no session: no client URL yet
        self.health: HealthAnswer | None = None
        self.status: MemberStatus | None = None
        self.error: BaseException | None = None
        self.alarms: list[Alarm] | None = None  # asked of one member only

    @property
    def up(self) -> bool:
        """Part of a working quorum: serves a linearizable read (or, on a server that
        ignored the exclusions and answered with an alarm, sees a leader)."""
        if self.health is None:
            return False
        if self.health.healthy:
            return True
        alarm_only = self.health.reason.startswith("ALARM")
        return alarm_only and self.status is not None and self.status.leader is not None

    @property
    def why_down(self) -> str:
        if not self.member.started:
            return "added but never started"
        if self.error is not None:
            return error_text(self.error).split(": ", 1)[-1]
        if self.health is not None:
            return f"unhealthy: {self.health.reason or 'HTTP ' + str(self.health.http_status)}"
        return "no answer"


def _ask_member(view: MemberView, alarms_too: bool) -> MemberView:
    assert view.session is not None
    try:
        view.health = view.session.health("/health", HEALTH_QUERY)
        view.status = view.session.status()
    except Exception as error:
        view.error = error
        return view
    if alarms_too:
        try:  # noqa: SIM105 - contextlib would cost an import on every run
            view.alarms = view.session.alarms()
        except Exception:
            pass  # asked again of the other members below
    return view


def run_cluster(args: Values, deadline: Deadline) -> Report:
    from probes.parallel import run_all

    connector = Connector(args, deadline)
    given = [connector.session(url) for url in args.urls]
    target = ",".join(session.target for session in given)
    try:
        members = connector.member_list(given)
    except Exception as error:
        return single_result("etcd_cluster", target, error_state(error, args.timeout_state),
                             f"no member answered: {error_text(error)}")
    views = []
    for member in members:
        urls = member_urls([member], args.urls[0].scheme)
        views.append(MemberView(member, connector.session(urls[0]) if urls else None))
    asked = [view for view in views if view.session is not None]
    # The alarm list (one raft round) is asked of the member that gave the member list,
    # in the same pass as its health and status: not one more round after them all.
    outcomes = run_all([(view.session.target,  # type: ignore[union-attr]
                         lambda view=view: _ask_member(view, view.session is connector.answered))
                        for view in asked], deadline)
    for view, outcome in zip(asked, outcomes, strict=True):
        if isinstance(outcome, BaseException) and (view.health is None or view.status is None):
            view.error = view.error or outcome  # still being asked at the deadline
    alarms: list[Alarm] = next((view.alarms for view in views if view.alarms is not None), [])
    # Otherwise: the members' own connections, kept alive, no new connection.
    up_sessions = [view.session for view in views if view.up and view.session is not None]
    alarm_error = None
    if up_sessions and not any(view.alarms is not None for view in views):
        try:
            alarms = ask_any(up_sessions, lambda session: session.alarms(), deadline)
        except Exception as error:
            alarm_error = error
    return judge_cluster(args, target, views, alarms, alarm_error)


def judge_cluster(args: Values, target: str, views: list[MemberView], alarms: list[Alarm],
                  alarm_error: BaseException | None) -> Report:
    voting = [view for view in views if not view.member.is_learner]
    up = [view for view in voting if view.up]
    down = [view for view in voting if not view.up]
    needed = quorum(len(voting))
    names = {view.member.id: view.member.label for view in views}
    statuses = [view.status for view in views if view.status is not None and view.up]
    leaders = {status.leader for status in statuses if status.leader}
    versions: dict[str, list[str]] = {}
    for view in views:
        if view.status is not None:
            versions.setdefault(view.status.version, []).append(view.member.label)

    findings: list[tuple[int, str]] = []
    down_text = ", ".join(f"{view.member.label} ({view.why_down})" for view in down)
    if len(up) < needed:
        findings.append((CRITICAL, f"quorum lost: {len(up)} of {len(voting)} members healthy, "
                                   f"{needed} needed; down: {down_text}"))
    elif not leaders:
        findings.append((CRITICAL, f"no leader: {len(up)} of {len(voting)} members answer "
                                   "but none sees a leader"))
    elif down:
        findings.append((WARNING, f"{len(up)} of {len(voting)} members healthy, quorum held "
                                  f"({needed} needed); down: {down_text}; can lose "
                                  f"{len(up) - needed} more"))
    if len(leaders) > 1:
        seen = ", ".join(f"{view.member.label} sees {names.get(leader, leader)}"
                         for view in views if view.up and view.status
                         for leader in [view.status.leader] if leader)
        findings.append((args.state_leader_disagreement, f"members disagree on the leader: "
                                                         f"{seen}"))
    if len(versions) > 1:
        skew = "; ".join(f"{version} ({', '.join(who)})" for version, who in versions.items())
        findings.append((args.state_version_skew, f"members run different versions: {skew}"))
    findings += [(alarm_state(alarm), alarm_text(alarm, names)) for alarm in alarms]
    if alarm_error is not None:
        findings.append((WARNING, f"could not list alarms: {error_text(alarm_error)}"))
    learners = [view.member.label for view in views if view.member.is_learner]

    leader = names.get(next(iter(leaders)), next(iter(leaders))) if len(leaders) == 1 else "?"
    headline = (f"{len(up)} of {len(voting)} members healthy, leader {leader}, can lose "
                f"{max(0, len(up) - needed)} more"
                + (f"; learners: {', '.join(learners)}" if learners else ""))
    metrics = [Metric(f"finding_{index}", finding, context="finding")
               for index, finding in enumerate(findings)]
    # Findings an operator declared OK (say, --state-version-skew ok mid-upgrade) follow
    # the healthy headline instead of replacing it.
    problems = [finding for finding in findings if finding[0] != OK]
    if not problems:
        metrics.insert(0, Metric("cluster", (OK, headline), context="finding"))
    metrics += [
        Metric("members", len(voting), min=0, context="number"),
        Metric("healthy", len(up), min=0, max=len(voting), context="number"),
        Metric("quorum", needed, min=0, context="number"),
        Metric("failures_tolerated", max(0, len(up) - needed), min=0, context="number"),
        Metric("alarms", len(alarms), min=0, context="number"),
    ]

    class ClusterSummary(Summary):
        def ok(self, results: list[Result]) -> str:
            return "; ".join(result.text for result in results if result.context == "finding")

        def verbose(self, results: list[Result]) -> list[str]:
            lines = problem_lines(results) + ([headline] if problems else [])
            for view in views:
                if view.up:
                    role = "leader" if view.status and view.status.is_leader else "follower"
                    lines.append(f"  {view.member.label}: healthy, {role}, etcd "
                                 f"{view.status.version if view.status else '?'}")
                else:
                    lines.append(f"  {view.member.label}: DOWN, {view.why_down}")
            return lines

    return evaluate("etcd_cluster", target, metrics,
                    [VerdictContext("finding", lambda metric: metric.value),
                     ThresholdContext("number")], ClusterSummary())
