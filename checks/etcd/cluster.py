"""check_etcd cluster: every member asked at once, and the quorum judged as a whole.

Quorum arithmetic is :mod:`.judging`'s (docs/etcd.md): all healthy is OK; members
down but quorum held is WARNING (naming them); quorum lost or no leader is CRITICAL.
"""

from __future__ import annotations

import _thread
import time

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
        self.alarms: list[Alarm] | None = None
        self.alarm_error: BaseException | None = None

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
    def answered(self) -> bool:
        """It said something (its status, its health), whatever it said."""
        return self.status is not None or self.health is not None

    @property
    def leaderless(self) -> bool:
        """It answers, but sees no leader: an election, or cut off from its peers."""
        from healthprobes.probes.etcd_raft import is_leaderless

        if self.status is not None and self.status.leader is None:
            return True
        said = self.health.reason if self.health is not None else ""
        return is_leaderless(said or (self.session.transient if self.session else ""))

    @property
    def why_down(self) -> str:
        if not self.member.started:
            return "added but never started"
        if self.error is not None:
            return error_text(self.error).split(": ", 1)[-1]
        if self.health is not None:
            return f"unhealthy: {self.health.reason or 'HTTP ' + str(self.health.http_status)}"
        return "no answer"


ALARM_PATIENCE = 0.25  # seconds the other members wait for the lister before asking

# Once a quorum of healthy members agrees on a leader, the members still saying "no
# leader" get this long to catch up (a follower learns of a new leader at its next
# heartbeat) before they are reported as they are: cut off, not merely late.
CATCH_UP_SECONDS = 1.0


class Election:
    """What the members' threads have learnt so far, shared to know when asking a member
    again can still change the verdict."""

    def __init__(self, views: list[MemberView]) -> None:
        self._lock = _thread.allocate_lock()
        self.voting = {id(view) for view in views if not view.member.is_learner}
        self.needed = quorum(len(self.voting))
        self.pending = set(self.voting)  # still being asked, and not yet heard from
        self.heard: set[int] = set()
        self.healthy: set[int] = set()
        self.settled_at: float | None = None
        self.lister: int | None = None  # the member that gave the member list, if asked
        self._lister_known = _thread.allocate_lock()  # released once it is judged
        self._lister_known.acquire()
        self._lister_up = False

    def worth_waiting(self, view: MemberView) -> bool:
        """Called by a member's session before it asks again: the member has answered."""
        now = time.monotonic()
        with self._lock:
            self.heard.add(id(view))
            if len((self.heard | self.pending) & self.voting) < self.needed:
                return False  # too few members left alive for a quorum, however long
            return self.settled_at is None or now - self.settled_at < CATCH_UP_SECONDS

    def lister_is_up(self, patience: float) -> bool:
        """Whether the member that gave the member list turned out up (and so asks for
        the alarms), waiting for it at most ``patience`` seconds."""
        if self.lister is None:
            return False
        if self._lister_known.acquire(True, patience):
            self._lister_known.release()  # for the other members that wait
        return self._lister_up

    def done(self, view: MemberView) -> None:
        if id(view) == self.lister:
            self._lister_up = view.up
            self._lister_known.release()
        with self._lock:
            self.pending.discard(id(view))
            if view.answered:
                self.heard.add(id(view))
            if view.up and view.status is not None and view.status.leader:
                self.healthy.add(id(view))
                if len(self.healthy & self.voting) >= self.needed and self.settled_at is None:
                    self.settled_at = time.monotonic()


def _ask_member(view: MemberView, election: Election, alarms_too: bool) -> MemberView:
    """Status (local, fast: shows the member is alive), then health (a linearizable read:
    needs the quorum), then, if it is up, the alarm list; every question asked again
    through an election."""
    session = view.session
    assert session is not None
    session.worth_waiting = lambda: election.worth_waiting(view)
    try:
        view.status = session.status()
        view.health = session.health("/health", HEALTH_QUERY)
        if session.transient and view.health.healthy:
            # It waited out an election: its first status names the leader that was lost.
            view.status = session.status()
    except Exception as error:
        view.error = error
        election.done(view)
        return view
    election.done(view)
    if not view.up:
        return view
    # The alarm list (a raft round) is asked in the same pass, of the member that gave
    # the member list if it is up. Had the others to wait for it to the end, a member
    # cut off from its peers (whose own answers hang) would cost the alarms: they wait
    # a moment, and ask themselves if it is not up by then; the first answer counts.
    if alarms_too or not election.lister_is_up(ALARM_PATIENCE):
        try:
            view.alarms = session.alarms()
        except Exception as error:
            view.alarm_error = error
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
    if not members:
        return single_result("etcd_cluster", target, CRITICAL,
                             "the member list is empty: this is no working etcd cluster")
    views = []
    for member in members:
        urls = member_urls([member], args.urls[0].scheme)
        views.append(MemberView(member, connector.session(urls[0]) if urls else None))
    asked = [view for view in views if view.session is not None]
    election = Election(views)
    election.lister = next((id(view) for view in asked if view.session is connector.answered),
                           None)
    for view in views:
        if view.session is None:
            election.done(view)
    outcomes = run_all([(view.session.target,  # type: ignore[union-attr]
                         lambda view=view: _ask_member(view, election,
                                                       view.session is connector.answered))
                        for view in asked], deadline)
    for view, outcome in zip(asked, outcomes, strict=True):
        if isinstance(outcome, BaseException) and (view.health is None or view.status is None):
            view.error = view.error or outcome  # still being asked at the deadline
    alarms: list[Alarm] = next((view.alarms for view in views if view.alarms is not None), [])
    alarm_error = None
    up_sessions = [view.session for view in views if view.up and view.session is not None]
    if up_sessions and not any(view.alarms is not None for view in views):
        # Every member that is up, at once, on its kept-alive connection: the first
        # answer counts.
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

    findings: list[tuple[int, str, str]] = []  # (state, words, item name)
    down_text = ", ".join(f"{view.member.label} ({view.why_down})" for view in down)
    answering = [view for view in voting if view.answered]
    silent = [view for view in voting if not view.answered]
    leader = names.get(next(iter(leaders)), next(iter(leaders))) if len(leaders) == 1 else "?"
    if len(up) < needed and len(answering) >= needed and any(
            view.leaderless for view in answering if not view.up):
        # Enough members answer to form a quorum; they just have no leader (yet).
        findings.append((CRITICAL, f"no leader yet: election in progress, {len(answering)} of "
                                   f"{len(voting)} members answer ({needed} needed), none "
                                   f"sees a leader; down: {down_text}", "quorum"))
    elif len(up) < needed:
        unreachable = ", ".join(f"{view.member.label} ({view.why_down})" for view in silent)
        findings.append((CRITICAL, f"quorum lost: {len(answering)} of {len(voting)} members "
                                   f"answer, {needed} needed"
                                   + (f"; unreachable: {unreachable}" if silent else
                                      f"; down: {down_text}"), "quorum"))
    elif not leaders:
        findings.append((CRITICAL, f"no leader: {len(up)} of {len(voting)} members answer "
                                   "but none sees a leader", "leader"))
    elif down:
        findings.append((WARNING, f"{len(up)} of {len(voting)} members healthy, quorum held "
                                  f"({needed} needed), leader {leader}; down: {down_text}; "
                                  f"can lose {len(up) - needed} more", "quorum"))
    if len(leaders) > 1:
        seen = ", ".join(f"{view.member.label} sees {names.get(leader, leader)}"
                         for view in views if view.up and view.status
                         for leader in [view.status.leader] if leader)
        findings.append((args.state_leader_disagreement, f"members disagree on the leader: "
                                                         f"{seen}", "leader"))
    if len(versions) > 1:
        skew = "; ".join(f"{version} ({', '.join(who)})" for version, who in versions.items())
        findings.append((args.state_version_skew, f"members run different versions: {skew}",
                         "versions"))
    findings += [(alarm_state(alarm), alarm_text(alarm, names),
                  f"alarm_{alarm.alarm}_{names.get(alarm.member_id, alarm.member_id)}")
                 for alarm in alarms]
    if alarm_error is not None:
        findings.append((WARNING, f"could not list alarms: {error_text(alarm_error)}",
                         "alarm_list"))
    learners = [view.member.label for view in views if view.member.is_learner]
    headline = (f"{len(up)} of {len(voting)} members healthy, leader {leader}, can lose "
                f"{max(0, len(up) - needed)} more"
                + (f"; learners: {', '.join(learners)}" if learners else ""))
    judged = Findings()
    # Findings an operator declared OK (say, --state-version-skew ok mid-upgrade) follow
    # the healthy headline instead of replacing it.
    problems = [finding for finding in findings if finding[0] != OK]
    if not problems:
        judged.add(OK, headline, name="quorum")
    for state, text, name in findings:
        judged.add(state, text, name=name)
    ok = "; ".join(result.text for result in judged.results)
    judged.record("members", len(voting), min=0)
    judged.record("healthy", len(up), min=0, max=len(voting))
    judged.record("quorum", needed, min=0)
    judged.record("failures_tolerated", max(0, len(up) - needed), min=0)
    judged.record("alarms", len(alarms), min=0)

    details = problem_lines(judged.results) + ([headline] if problems else [])
    for view in views:
        if view.up:
            role = "leader" if view.status and view.status.is_leader else "follower"
            details.append(f"  {view.member.label}: healthy, {role}, etcd "
                           f"{view.status.version if view.status else '?'}")
        else:
            details.append(f"  {view.member.label}: DOWN, {view.why_down}")
    return judged.report("etcd_cluster", target, ok, details)
