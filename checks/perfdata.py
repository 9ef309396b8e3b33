"""Performance data that every consumer parses: Nagios, Icinga 2, Telegraf, PNP, Grafana.

No scientific notation and no ``U`` (Telegraf drops the whole line on either), plain
numbers in warn/crit fields where a range has an equivalent one (Icinga 2 keeps only
plain numbers), labels quoted when they need it.
"""

import math
import re

from nagiosplugin import Performance, Range

_PLAIN_LABEL = re.compile(r"^[A-Za-z0-9_.:/\-\[\]]+$")


def format_number(value: float) -> str:
    """Positional notation, shortest form that reads back as the same float."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if "e" not in text and "E" not in text:
        return text[:-2] if text.endswith(".0") else text
    from decimal import Decimal  # only for the rare tiny or huge float

    text = format(Decimal(text), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def is_finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def format_range(threshold: Range | None) -> str:
    """A threshold for the warn/crit field: a plain number where that says the same."""
    if threshold is None:
        return ""
    if not threshold.invert and threshold.start in (0, -math.inf) and math.isfinite(
            threshold.end):
        return format_number(threshold.end)
    text = "@" if threshold.invert else ""
    if threshold.start == -math.inf:
        text += "~:"
    elif threshold.start != 0:
        text += format_number(threshold.start) + ":"
    if math.isfinite(threshold.end):
        text += format_number(threshold.end)
    return text


def clean_label(label: str) -> str:
    """Labels may not hold ``=`` or ``'`` (the format has no escape that all parsers read)."""
    return label.replace("=", "_").replace("'", "_").replace("|", "_") or "value"


def quote_label(label: str) -> str:
    label = clean_label(label)
    return label if _PLAIN_LABEL.match(label) else f"'{label}'"


def render(perf: Performance) -> str:
    """One perfdata item, ``'label'=value[uom];[warn];[crit];[min];[max]``."""
    fields = [
        format_range(perf.warn or None),
        format_range(perf.crit or None),
        format_number(perf.min) if is_finite(perf.min) else "",
        format_number(perf.max) if is_finite(perf.max) else "",
    ]
    while fields and not fields[-1]:
        fields.pop()
    head = f"{quote_label(perf.label)}={format_number(perf.value)}{perf.uom or ''}"
    return ";".join([head, *fields])


def render_all(perfdata: list[Performance]) -> str:
    """Every printable item; a value that is no finite number is left out, never ``U``."""
    return " ".join(render(perf) for perf in perfdata if is_finite(perf.value))
