"""Float arithmetic as Prometheus (Go) does it, where Python would raise or differ.

Python's math module raises for what IEEE 754 answers with NaN or an infinity
(``math.sqrt(-1)``, ``math.exp(1000)``, ``math.log(0)``), and ``x / 0`` raises where Go
gives ±Inf. Every function here answers as Go's math package does, so no sample value
can make an expression fail. Kahan-Neumaier summation is the one Prometheus uses for
sums and means; the two Go number formats matter for labels (count_values) and for
``le`` bounds (histogram_quantile).
"""

from __future__ import annotations

import math

NAN = math.nan
INF = math.inf


def kahan_add(increment: float, total: float, compensation: float) -> tuple[float, float]:
    """One step of Neumaier's compensated sum; returns the new sum and compensation.

    Once the sum is infinite the compensation is meaningless and is reset to 0.
    """
    new_total = total + increment
    if math.isinf(new_total):
        return new_total, 0.0
    if abs(total) >= abs(increment):
        compensation += (total - new_total) + increment
    else:
        compensation += (increment - new_total) + total
    return new_total, compensation


def kahan_sum(values) -> float:
    total = compensation = 0.0
    for value in values:
        total, compensation = kahan_add(value, total, compensation)
    return total if math.isinf(total) else total + compensation


def mean(values: list[float]) -> float:
    """Prometheus' average: a compensated sum divided at the end, switching to an
    incremental mean once the running sum would overflow (values near 1e308)."""
    total, compensation = values[0], 0.0
    running: float | None = None  # the incremental mean, once the sum overflowed
    for index, value in enumerate(values[1:], start=2):
        if running is None:
            new_total, new_compensation = kahan_add(value, total, compensation)
            if not math.isinf(new_total):
                total, compensation = new_total, new_compensation
                continue
            running = total / (index - 1)
            compensation /= index - 1
        keep = (index - 1) / index
        running, compensation = kahan_add(value / index, keep * running, keep * compensation)
    if running is not None:
        return running + compensation
    count = len(values)
    return total / count + compensation / count


def divide(left: float, right: float) -> float:
    if right == 0:
        if left == 0 or math.isnan(left):
            return NAN
        return math.copysign(INF, left) * math.copysign(1.0, right)
    return left / right


def modulo(left: float, right: float) -> float:
    """Go's math.Mod: the sign of the dividend, NaN for x % 0 and Inf % y."""
    if right == 0 or math.isinf(left) or math.isnan(left) or math.isnan(right):
        return NAN
    return math.fmod(left, right)


def power(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except ZeroDivisionError:  # pragma: no cover - math.pow raises ValueError instead
        return INF
    except ValueError:
        if base == 0 and exponent < 0:
            odd = exponent.is_integer() and int(exponent) % 2 == 1
            return math.copysign(INF, base) if odd else INF
        return NAN  # a negative base to a fractional power
    except OverflowError:
        odd = exponent.is_integer() and int(exponent) % 2 == 1
        return -INF if base < 0 and odd else INF


def _domain(function, low: float, high: float, at_low: float, at_high: float):
    """``function`` inside [low, high]; the IEEE value at the bounds; NaN beyond."""
    def guarded(value: float) -> float:
        if math.isnan(value):
            return value
        if value == low:
            return at_low
        if value == high:
            return at_high
        if value < low or value > high:
            return NAN
        return function(value)
    return guarded


def _overflowing(function):
    """Functions that overflow to ±Inf (exp, sinh, cosh) instead of raising."""
    def guarded(value: float) -> float:
        try:
            return function(value)
        except OverflowError:
            return INF if function is not math.sinh or value > 0 else -INF
    return guarded


def _periodic(function):
    """sin, cos, tan: NaN for ±Inf, as Go answers."""
    return lambda value: NAN if math.isinf(value) else function(value)


def _logarithm(function):
    def guarded(value: float) -> float:
        if value == 0:
            return -INF
        if value < 0:
            return NAN
        return value if math.isinf(value) or math.isnan(value) else function(value)
    return guarded


def _integral(function):
    """ceil and floor keep NaN and ±Inf (Python's would raise converting to int), and
    the sign of a zero result (ceil(-0.5) is -0, as in Go)."""
    def guarded(value: float) -> float:
        if not math.isfinite(value):
            return value
        result = float(function(value))
        return math.copysign(result, value) if result == 0 else result
    return guarded


def sign(value: float) -> float:
    if value > 0:
        return 1.0
    if value < 0:
        return -1.0
    return value  # 0, -0 and NaN stay what they are


ELEMENTWISE = {
    "abs": math.fabs,
    "ceil": _integral(math.ceil),
    "floor": _integral(math.floor),
    "exp": _overflowing(math.exp),
    "sqrt": lambda value: NAN if value < 0 else math.sqrt(value),
    "ln": _logarithm(math.log),
    "log2": _logarithm(math.log2),
    "log10": _logarithm(math.log10),
    "sgn": sign,
    "sin": _periodic(math.sin),
    "cos": _periodic(math.cos),
    "tan": _periodic(math.tan),
    "asin": _domain(math.asin, -1.0, 1.0, -math.pi / 2, math.pi / 2),
    "acos": _domain(math.acos, -1.0, 1.0, math.pi, 0.0),
    "atan": math.atan,
    "sinh": _overflowing(math.sinh),
    "cosh": _overflowing(math.cosh),
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": lambda value: NAN if value < 1 else (value if math.isinf(value)
                                                    else math.acosh(value)),
    "atanh": _domain(math.atanh, -1.0, 1.0, -INF, INF),
    "deg": lambda value: value * 180 / math.pi,
    "rad": lambda value: value * math.pi / 180,
}


def go_int64(value: float) -> int:
    """Go's int64(f) on amd64: truncation; NaN and out-of-range give the minimum int64."""
    if math.isnan(value) or not -9.223372036854775808e18 <= value < 9.223372036854775808e18:
        return -(1 << 63)
    return int(value)


def format_plain(value: float) -> str:
    """Go's strconv.FormatFloat(f, 'f', -1, 64): the shortest digits that read back
    as the same float, never in exponent form ("1e+21" is 1000000000000000000000)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" not in text:
        return text[:-2] if text.endswith(".0") else text
    mantissa, exponent_text = text.split("e")
    negative = mantissa.startswith("-")
    mantissa = mantissa.lstrip("-")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent_text)
    if point <= 0:
        plain = "0." + "0" * -point + digits
    elif point >= len(digits):
        plain = digits + "0" * (point - len(digits))
    else:
        plain = digits[:point] + "." + digits[point:]
    return ("-" if negative else "") + plain


def parse_go_float(text: str) -> float | None:
    """Go's strconv.ParseFloat(s, 64), or None where Go fails: no spaces and no
    underscores (Python's float() accepts both), hexadecimal only with a p exponent."""
    if not text or text != text.strip() or "_" in text:
        return None
    lowered = text.lower().lstrip("+-")
    if lowered.startswith("0x"):
        if "p" not in lowered:
            return None
        try:
            return float.fromhex(text)
        except ValueError:
            return None
    if lowered in ("inf", "infinity", "nan") or lowered[:1].isdigit() or lowered[:1] == ".":
        try:
            return float(text)
        except ValueError:
            return None
    return None
