"""check_etcd alarms: the cluster's active alarms (NOSPACE and CORRUPT are CRITICAL)."""

from __future__ import annotations

from healthprobes.checks.etcd.connection import Connector, ask_any
from healthprobes.checks.etcd.judging import alarm_state, alarm_text, error_state, error_text
from healthprobes.checks.runtime.options import Command
from healthprobes.checks.runtime.results import Findings, problem_lines, single_result
from healthprobes.checks.runtime.states import OK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.options import Values
    from healthprobes.checks.runtime.results import Report
    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.etcd import EtcdSession
    from healthprobes.probes.etcd_answers import Alarm


def command() -> Command:
    return Command("alarms", "",
                   [], description="Ask the cluster for its active alarms (any endpoint "
                                   "answers for the whole cluster; the call needs quorum).")


def _alarms_and_names(session: EtcdSession) -> tuple[list[Alarm], dict[str, str]]:
    alarms = session.alarms()
    try:
        names = {member.id: member.label for member in session.members()} if alarms else {}
    except Exception:  # names only make the text friendlier
        names = {}
    return alarms, names


def run(args: Values, deadline: Deadline) -> Report:
    sessions = Connector(args, deadline).sessions()
    target = ",".join(session.target for session in sessions)
    try:
        alarms, names = ask_any(sessions, _alarms_and_names, deadline)
    except Exception as error:
        text = error_text(error)
        if "no answer in time" in text:
            text += " (the alarm list goes through raft: has the cluster lost its quorum?)"
        return single_result("etcd_alarms", target, error_state(error, args.timeout_state), text)
    findings = Findings()
    for alarm in alarms:
        findings.add(alarm_state(alarm), alarm_text(alarm, names),
                     name=f"alarm_{alarm.alarm}_{names.get(alarm.member_id, alarm.member_id)}")
    if not alarms:
        findings.add(OK, "no alarms", name="alarms")
    findings.record("alarms", len(alarms), min=0)
    return findings.report("etcd_alarms", target, "no alarms", problem_lines(findings.results))
