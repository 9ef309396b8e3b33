"""Numbers as every consumer reads them: positional notation, never ``1e-07``.

The Monitoring Plugins guidelines allow only ``-0-9.`` in a performance value, and
graphing add-ons that follow them (PNP4Nagios, some Grafana data sources) misread an
exponent; a value that is no finite number is left out rather than written
(docs/monitoring-plugins.md).
"""

from healthprobes.checks.runtime.states import ValueProblem

INF = float("inf")
MAX_BYTES = 1 << 50  # 1 PiB: larger is a typo, and past what an int conversion should see


def format_number(value: float) -> str:
    """Positional notation, the shortest form that reads back as the same float."""
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
    if isinstance(value, bool):
        return True
    # Without math: one module less to load on every run.
    return isinstance(value, (int, float)) and value == value and value not in (INF, -INF)


def parse_bytes(text: str) -> int:
    """``2147483648``, ``2GiB``, ``512MiB``, ``8GB`` (as etcd's docs write quotas)."""
    units = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
             "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4,
             "tb": 1000**4, "tib": 1024**4}
    stripped = text.strip().lower()
    number = stripped.rstrip("kmgtib ")
    unit = stripped[len(number):].strip()
    try:
        value = float(number) * units[unit]
    except (ValueError, KeyError):
        raise ValueProblem(f"invalid size {text!r}: write bytes or e.g. 512MiB, 8GiB"
                           ) from None
    if value <= 0:
        raise ValueProblem(f"invalid size {text!r}: must be more than 0")
    if not value <= MAX_BYTES:  # also NaN and inf ('1e400')
        raise ValueProblem(f"invalid size {text!r}: at most 1PiB")
    return int(value)
