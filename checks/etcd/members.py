"""check_etcd members: what the member list says (size, learners, unstarted members)."""

from __future__ import annotations

from healthprobes.checks.etcd.connection import Connector
from healthprobes.checks.etcd.judging import state_option, tolerated
from healthprobes.checks.runtime.options import Command, Group, Option, UsageError
from healthprobes.checks.runtime.results import Findings, problem_lines, single_result
from healthprobes.checks.runtime.states import CRITICAL, OK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.options import Values
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.etcd_answers import Member


def command() -> Command:
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
                   "added but never started, and how many failures a cluster of this size "
                   "tolerates. The list says nothing of health (a dead member stays listed): "
                   "check_etcd cluster asks every member.")


def validate(args: Values) -> None:
    if args.expected is not None and args.expected < 1:
        raise UsageError("--expected must be 1 or more")


def judge(args: Values, members: list[Member]) -> Findings:
    findings = Findings()
    voting = [member for member in members if not member.is_learner]
    learners = [member for member in members if member.is_learner]
    for member in members:
        if not member.started:
            findings.add(args.state_unstarted, f"member {member.id} ({member.label}) was added "
                                               "but has not started", name=member.label)
    for member in learners:
        findings.add(args.state_learner, f"{member.label} is a learner (not voting)",
                     name=member.label)
    if args.expected is not None:
        state = OK if len(members) == args.expected else args.state_unexpected_count
        findings.add(state, f"{plural(len(members), 'member')}, {args.expected} expected",
                     name="count")
    count = len(voting)
    if count and count % 2 == 0:
        findings.add(args.state_even, f"{count} voting members, an even number: it tolerates "
                                      f"{plural(tolerated(count), 'failure')}, as {count - 1} "
                                      "would", name="voting")
    else:
        findings.add(OK, plural(count, "voting member"), name="voting")
    findings.record("members", len(members), min=0)
    findings.record("voting_members", count, min=0)
    findings.record("learners", len(learners), min=0)
    findings.record("failures_tolerated", tolerated(count), min=0)
    return findings


def run(args: Values, deadline: Deadline) -> Report:
    connector = Connector(args, deadline)
    sessions = connector.sessions()
    target = ",".join(session.target for session in sessions)
    members = connector.member_list(sessions)
    if not members:
        return single_result("etcd_members", target, CRITICAL,
                             "the member list is empty: this is no working etcd cluster")
    findings = judge(args, members)
    ok = list_says(members)
    details = problem_lines(findings.results)
    if args.verbose:
        details += [f"  {member.label}: id {member.id}, peers {','.join(member.peer_urls)}"
                    f", clients {','.join(member.client_urls) or '-'}"
                    f"{', learner' if member.is_learner else ''}" for member in members]
    return findings.report("etcd_members", target, ok, details)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def list_says(members: list[Member]) -> str:
    """What the member list alone tells: its size and what such a cluster survives. It
    says nothing of health (a dead member stays listed): check_etcd cluster does."""
    voting = [member.label for member in members if not member.is_learner]
    learners = [member.label for member in members if member.is_learner]
    text = f"{plural(len(voting), 'voting member')} ({', '.join(voting)})"
    if learners:
        text += f" and {plural(len(learners), 'learner')} ({', '.join(learners)})"
    return (f"{text}: a cluster of this size tolerates "
            f"{plural(tolerated(len(voting)), 'failure')} (the list only: check_etcd "
            "cluster judges their health)")
