"""Numbers as every consumer reads them: positional notation, never ``1e-07``.

Telegraf's Nagios parser drops a line with scientific notation, and so do some
graphing add-ons; a value that is no finite number is left out rather than written.
"""

INF = float("inf")


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
