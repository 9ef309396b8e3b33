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
    value = float(value)
    if value.is_integer() or value != value or value in (INF, -INF):
        text = repr(value)  # whole numbers exactly, however large (counters, sizes)
    else:
        # At most 12 significant digits: 0.0019000000000000002 is 0.0019, the noise of
        # binary floating point, not a measurement.
        text = repr(float(f"{value:.12g}"))
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


# Byte units as etcd's docs (8GB, 2GiB), Prometheus (MiB) and Kubernetes (Mi, Gi) write
# them: every byte option and threshold takes all of them.
BYTE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "ki": 1024, "m": 1000**2,
              "mb": 1000**2, "mib": 1024**2, "mi": 1024**2, "g": 1000**3, "gb": 1000**3,
              "gib": 1024**3, "gi": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4,
              "ti": 1024**4, "p": 1000**5, "pb": 1000**5, "pib": 1024**5, "pi": 1024**5}


def scaled_bytes(text: str) -> float:
    """A number with an optional byte unit, as a float; ValueError when it is neither."""
    stripped = text.strip()
    number = stripped.rstrip("kKmMgGtTpPiIbB ")
    unit = stripped[len(number):].strip().lower()
    if unit not in BYTE_UNITS or not number:
        raise ValueError(text)
    return float(number) * BYTE_UNITS[unit]


def parse_bytes(text: str) -> int:
    """``2147483648``, ``2GiB``, ``512MiB``, ``8GB``, ``2Gi``."""
    try:
        value = scaled_bytes(text)
    except ValueError:
        raise ValueProblem(f"invalid size {text!r}: write bytes or e.g. 512MiB, 8GiB, 2Gi"
                           ) from None
    if value <= 0:
        raise ValueProblem(f"invalid size {text!r}: must be more than 0")
    if not value <= MAX_BYTES:  # also NaN and inf ('1e400')
        raise ValueProblem(f"invalid size {text!r}: at most 1PiB")
    return int(value)
