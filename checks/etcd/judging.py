"""What check_etcd's subcommands share to judge: failures, states, quorum, alarms.

Quorum arithmetic (docs/etcd.md): n voting members need floor(n/2)+1 of them working;
the cluster survives (n-1)/2 failures. Learners do not vote and count in neither.
"""

from __future__ import annotations

from healthprobes.checks.runtime.options import Option
from healthprobes.checks.runtime.states import CRITICAL, UNKNOWN, WARNING, parse_state
from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.probes.etcd_answers import Alarm

SERIOUS_ALARMS = ("NOSPACE", "CORRUPT")


def quorum(voting: int) -> int:
    return voting // 2 + 1


def tolerated(voting: int) -> int:
    return (voting - 1) // 2 if voting else 0


def alarm_text(alarm: Alarm, names: dict[str, str]) -> str:
    name = names.get(alarm.member_id)
    who = f"member {name} ({alarm.member_id})" if name else f"member {alarm.member_id}"
    return f"alarm {alarm.alarm} on {who}"


def alarm_state(alarm: Alarm) -> int:
    return CRITICAL if alarm.alarm in SERIOUS_ALARMS else WARNING


def state_option(flag: str, default: str, what: str) -> Option:
    return Option(flag, convert=parse_state, default=parse_state(default), metavar="STATE",
                  help=f"state for {what} (default: {default})")


def agreement_options() -> list[Option]:
    """How much members that disagree matter: shared by status and cluster."""
    return [state_option("--state-leader-disagreement", "warning",
                         "members that name different leaders"),
            state_option("--state-version-skew", "warning", "members running different "
                                                            "versions")]


def error_state(error: BaseException, timeout_state: int) -> int:
    """The runtime's policy for a member that could not be asked; UNKNOWN for our own bugs."""
    from healthprobes.checks.runtime.evaluation import state_for

    return state_for(error, timeout_state) if isinstance(error, ProbeError) else UNKNOWN


def error_text(error: BaseException) -> str:
    if isinstance(error, ProbeError):
        return str(error)
    return f"internal error: {type(error).__name__}: {error}"


def short_name(url_text: str) -> str:
    """``http://127.0.0.1:2379`` -> ``127.0.0.1:2379``, for labels and lists."""
    return url_text.split("://", 1)[-1]
