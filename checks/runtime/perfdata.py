"""Performance data that every consumer parses: Nagios, Icinga 2, Telegraf, PNP, Grafana.

No scientific notation (the guidelines allow only ``-0-9.`` in values) and no ``U``
(Telegraf loses that item, other tools the whole line), plain
numbers in warn/crit fields where a range has an equivalent one (Icinga 2 keeps only
plain numbers), labels quoted when they need it.
"""

from __future__ import annotations

from healthprobes.checks.runtime.numbers import format_number, is_finite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.results import Perf

_PLAIN_LABEL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/-[]")


def clean_label(label: str) -> str:
    """Labels may not hold ``=`` or ``'`` (the format has no escape that all parsers read)."""
    return label.replace("=", "_").replace("'", "_").replace("|", "_") or "value"


def quote_label(label: str) -> str:
    label = clean_label(label)
    return label if _PLAIN_LABEL_CHARS.issuperset(label) else f"'{label}'"


def render(perf: Perf) -> str:
    """One perfdata item, ``'label'=value[uom];[warn];[crit];[min];[max]``."""
    fields = [
        perf.warn.plain() if perf.warn is not None else "",
        perf.crit.plain() if perf.crit is not None else "",
        format_number(perf.min) if is_finite(perf.min) else "",
        format_number(perf.max) if is_finite(perf.max) else "",
    ]
    while fields and not fields[-1]:
        fields.pop()
    head = f"{quote_label(perf.label)}={format_number(perf.value)}{perf.uom or ''}"
    return ";".join([head, *fields])


def render_all(perfdata: list[Perf]) -> str:
    """Every printable item; a value that is no finite number is left out, never ``U``."""
    return " ".join(render(perf) for perf in perfdata if is_finite(perf.value))
