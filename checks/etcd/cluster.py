"""check_etcd cluster: every member asked at once, and the quorum judged as a whole.

Quorum arithmetic is :mod:`.judging`'s (docs/etcd.md): all healthy is OK; members
down but quorum held is WARNING (naming them); quorum lost or no leader is CRITICAL.
"""

from __future__ import annotations

from healthprobes.checks.etcd.connection import Connector, ask_any, member_urls
from healthprobes.checks.etcd.judging import (
    agreement_options,
    alarm_state,
    alarm_text,
    error_state,
    error_text,
    quorum,
)
from healthprobes.checks.runtime.options import Command, Group
from healthprobes.checks.runtime.results import Findings, problem_lines, single_result
from healthprobes.checks.runtime.states import CRITICAL, OK, WARNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.options import Values
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.etcd import EtcdSession, HealthAnswer
    from healthprobes.probes.etcd_answers import Alarm, Member, MemberStatus


def command() -> Command:
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


def run(args: Values, deadline: Deadline) -> Report:
    from healthprobes.probes.parallel import run_all

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
    judged = Findings()
    # Findings an operator declared OK (say, --state-version-skew ok mid-upgrade) follow
    # the healthy headline instead of replacing it.
    problems = [finding for finding in findings if finding[0] != OK]
    if not problems:
        judged.add(OK, headline, name="cluster")
    for index, (state, text) in enumerate(findings):
        judged.add(state, text, name=f"finding_{index}")
    ok = "; ".join(result.text for result in judged.results)
    judged.measure("members", len(voting), min=0)
    judged.measure("healthy", len(up), min=0, max=len(voting))
    judged.measure("quorum", needed, min=0)
    judged.measure("failures_tolerated", max(0, len(up) - needed), min=0)
    judged.measure("alarms", len(alarms), min=0)

    details = problem_lines(judged.results) + ([headline] if problems else [])
    for view in views:
        if view.up:
            role = "leader" if view.status and view.status.is_leader else "follower"
            details.append(f"  {view.member.label}: healthy, {role}, etcd "
                           f"{view.status.version if view.status else '?'}")
        else:
            details.append(f"  {view.member.label}: DOWN, {view.why_down}")
    return judged.report("etcd_cluster", target, ok, details)
