"""Service states as plain integers: what Nagios, Icinga and the exit code all use.

nagiosplugin models states as objects; here they are the ints themselves, so a check
that only needs ``OK``/``CRITICAL`` imports nothing to get them (start-up time is
part of every probe's cost).
"""

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_BY_WORD = {"ok": OK, "warning": WARNING, "warn": WARNING, "critical": CRITICAL,
            "crit": CRITICAL, "unknown": UNKNOWN}


class ValueProblem(ValueError):
    """An option value that cannot be used; the message is shown to the user as is."""


def state_name(state: int) -> str:
    return NAMES[state]


def parse_state(text: str) -> int:
    """ok, warning, critical or unknown (also 0-3, warn, crit), as the options spell them."""
    word = text.strip().lower()
    if word in _BY_WORD:
        return _BY_WORD[word]
    if word in ("0", "1", "2", "3"):
        return int(word)
    raise ValueProblem(f"invalid state {text!r}: choose from ok, warning, critical, unknown")


def worse(first: int, second: int) -> int:
    """The more significant of two states (UNKNOWN outranks CRITICAL, as in Nagios)."""
    return max(first, second)
