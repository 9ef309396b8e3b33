"""What can go wrong with an expression, in three kinds a caller treats differently."""

from __future__ import annotations


class QueryError(ValueError):
    """The expression cannot be parsed or evaluated: Prometheus would refuse it too
    (a parse error, a result with two series of one label set, a range vector as the
    answer). A usage error: UNKNOWN."""


class Unsupported(QueryError):
    """Valid PromQL outside what a direct scrape can answer; the message names the part
    and says why."""

    def __init__(self, part: str, why: str = "") -> None:
        super().__init__(f"unsupported PromQL: {part}" + (f" ({why})" if why else ""))


class NotEnoughHistory(Exception):
    """The expression reads samples from before the stored history begins (offset, @,
    a subquery): no answer yet, as a range function's first run has none."""
