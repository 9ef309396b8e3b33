"""Nagios threshold ranges: ``10``, ``10:``, ``~:10``, ``10:20``, ``@10:20``.

The semantics are those of the Monitoring Plugins guidelines and of nagiosplugin's
``Range`` (the tests hold this class against it): a value alerts when it lies outside
``start:end``, or inside with ``@``. It is written here rather than imported because
importing nagiosplugin pulls in logging, tempfile and json, about as long as a whole
``etcdctl`` run. Unlike nagiosplugin it also reads ``1e3``, and never writes it.
"""

from healthprobes.checks.runtime.states import ValueProblem

INF = float("inf")


class Range:
    __slots__ = ("end", "invert", "start")

    def __init__(self, start: float = 0, end: float = INF, invert: bool = False) -> None:
        if start > end:
            raise ValueProblem(f"start {start} must not be greater than end {end}")
        self.start, self.end, self.invert = start, end, invert

    @classmethod
    def parse(cls, spec: str) -> "Range":
        text = spec.strip()
        invert = text.startswith("@")
        if invert:
            text = text[1:]
        start_text, colon, end_text = text.rpartition(":") if ":" in text else ("", "", text)
        if (colon and ":" in start_text) or not text:
            raise ValueProblem("not of the form [@][start:][end]")
        start = -INF if start_text == "~" else _number(start_text, 0)
        end = _number(end_text, INF)
        return cls(start, end, invert)

    def match(self, value: float) -> bool:
        """True when the value does not alert."""
        inside = self.start <= value <= self.end
        return inside != self.invert

    def text(self, omit_zero_start: bool = True) -> str:
        from healthprobes.checks.runtime.numbers import format_number

        text = "@" if self.invert else ""
        if self.start == -INF:
            text += "~:"
        elif not omit_zero_start or self.start != 0:
            text += f"{format_number(self.start)}:"
        if self.end != INF:
            text += format_number(self.end)
        return text

    def plain(self) -> str:
        """For perfdata warn/crit fields: a plain number where that says the same.

        Icinga 2 keeps only plain numbers from those fields, and ``10`` means ``0:10``.
        """
        from healthprobes.checks.runtime.numbers import format_number

        if not self.invert and self.start in (0, -INF) and self.end != INF:
            return format_number(self.end)
        return self.text()

    @property
    def violation(self) -> str:
        return f"{'inside' if self.invert else 'outside'} range {self.text(False).lstrip('@')}"

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Range({self.text()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and (self.start, self.end, self.invert) == (
            other.start, other.end, other.invert)

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.invert))


def _number(atom: str, default: float) -> float:
    if atom == "":
        return default
    try:
        return int(atom)
    except ValueError:
        pass
    try:
        value = float(atom)
    except ValueError:
        from healthprobes.checks.runtime.numbers import scaled_bytes

        try:  # a byte threshold: 100MiB, 2Gi, 8GB
            value = scaled_bytes(atom)
        except ValueError:
            raise ValueProblem(f"{atom!r} is no number") from None
    if value != value:
        raise ValueProblem("NaN is no threshold")
    if value in (INF, -INF):  # 'inf' or a number past the largest float ('1e400')
        raise ValueProblem(f"{atom!r} is no finite number (write ~ for minus infinity, or "
                           "leave the end out for plus infinity)")
    return value


def parse_range(text: str) -> Range | None:
    """An option converter: a Nagios range, with a hint when it is not one. An empty
    value means no threshold, as Nagios command templates pass an unset $ARGn$."""
    if not text.strip():
        return None
    try:
        return Range.parse(text)
    except ValueProblem as problem:
        raise ValueProblem(f"invalid range {text!r} ({problem}); write e.g. 10, 10:, ~:10, "
                           "10:20 or @10:20") from None


def misordered(warning: Range | None, critical: Range | None) -> str:
    """Why a warning range can never be seen beside its critical one ("" if it can): an
    upper limit above the critical limit (-w 90 -c 80), or a lower limit below it."""
    if warning is None or critical is None or warning.invert or critical.invert:
        return ""
    upper = warning.end != INF and critical.end != INF and warning.start == critical.start
    if upper and warning.end > critical.end:
        return (f"the warning limit {warning} is above the critical one {critical}: the "
                "warning would never show; swap them?")
    lower = warning.end == critical.end == INF
    if lower and warning.start < critical.start:
        return (f"the warning limit {warning} is below the critical one {critical}: the "
                "warning would never show; swap them?")
    return ""
