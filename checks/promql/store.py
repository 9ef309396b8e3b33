"""The samples an expression can read: this run's scrape plus the stored history.

It plays the part of Prometheus' database for one target. Samples exist only at the
times the check ran (its "scrapes"); a series missing from a run is stale from then
on, as a Prometheus scrape that no longer shows a series marks it stale. What happened
before the history began is unknown: a lookup that would need it raises
NotEnoughHistory instead of answering from half the data.
"""

from __future__ import annotations

from bisect import bisect_right

from healthprobes.checks.promql.errors import NotEnoughHistory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.probes.exposition import Exposition

LabelSet = tuple[tuple[str, str], ...]  # sorted pairs, "__name__" included
Points = list[tuple[float, float]]
LOOKBACK = 300.0  # seconds: Prometheus' default lookback delta for instant selectors


def series_key(labels: LabelSet) -> str:
    """``name{a="b"}``: how a series is written in messages and in the state file.

    Quotes, backslashes and newlines in values are escaped as in PromQL, so the key
    reads back into the same labels (see parse_series_key)."""
    name = dict(labels).get("__name__", "")
    rest = ",".join(f'{key}="{_escape(value)}"' for key, value in labels if key != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def parse_series_key(key: str) -> LabelSet | None:
    """The labels of a key written by series_key; None for text that is not one."""
    brace = key.find("{")
    if brace < 0:
        return (("__name__", key),) if key else None
    pairs = [("__name__", key[:brace])] if brace else []
    index, length = brace + 1, len(key)
    while index < length and key[index] != "}":
        equals = key.find('="', index)
        if equals < 0:
            return None
        name = key[index:equals]
        index = equals + 2
        value: list[str] = []
        while index < length and key[index] != '"':
            if key[index] == "\\" and index + 1 < length:
                index += 1
                value.append("\n" if key[index] == "n" else key[index])
            else:
                value.append(key[index])
            index += 1
        pairs.append((name, "".join(value)))
        index += 1  # the closing quote
        if index < length and key[index] == ",":
            index += 1
    return tuple(sorted(pairs))


class Store:
    """Series by key: their labels and points (time, value), oldest first.

    ``runs`` are the times the check ran (the current one included); ``complete_since``
    is the time from which every run's samples are known.
    """

    def __init__(self, scrape: Exposition, now: float, history: dict[str, Points],
                 runs: list[float] | None = None, complete_since: float | None = None) -> None:
        self.now = now
        self.labels: dict[str, LabelSet] = {}
        self.points: dict[str, Points] = {}
        self.by_name: dict[str, list[str]] = {}
        for key, points in history.items():
            labels = parse_series_key(key)
            if labels is None:
                continue
            kept = [point for point in points if point[0] < now]
            if kept:
                self._add(key, labels, kept)
        self.current: dict[str, float] = {}  # this run's samples
        for name, series in scrape.samples.items():
            for pairs, value in series.items():
                labels = tuple(sorted((*pairs, ("__name__", name))))
                key = series_key(labels)
                self.current[key] = value
                if key in self.points:
                    self.points[key] = [*self.points[key], (now, value)]
                else:
                    self._add(key, labels, [(now, value)])
        if runs is None:  # an older state file: every time a sample was stored
            runs = sorted({time for points in history.values() for time, _ in points})
        self.runs = sorted({*(time for time in runs if time < now), now})
        if complete_since is None:
            complete_since = self.runs[0]
        self.complete_since = min(complete_since, now)

    def _add(self, key: str, labels: LabelSet, points: Points) -> None:
        self.labels[key] = labels
        self.points[key] = points
        self.by_name.setdefault(dict(labels).get("__name__", ""), []).append(key)

    def keys(self, name: str | None) -> list[str]:
        """Every series of that metric name (of every name for None)."""
        if name is not None:
            return self.by_name.get(name, [])
        return list(self.points)

    def at(self, key: str, time: float, lookback: float = LOOKBACK) -> tuple[float, float] | None:
        """The sample an instant selector sees at ``time``: the series' value at the
        last run in (time - lookback, time], or None when it was absent then (stale).

        Raises NotEnoughHistory when no known run falls in that window and the window
        reaches back before the history is complete.
        """
        if time == self.now:
            value = self.current.get(key)
            return None if value is None else (time, value)
        last_run = bisect_right(self.runs, time) - 1
        if last_run < 0 or self.runs[last_run] <= time - lookback:
            if time - lookback < self.complete_since:
                raise NotEnoughHistory(time - lookback)
            return None
        run_time = self.runs[last_run]
        points = self.points[key]
        index = bisect_right(points, (run_time, float("inf"))) - 1
        if index >= 0 and points[index][0] == run_time:
            return points[index]
        return None

    def window(self, key: str, start: float, end: float) -> Points:
        """The series' samples in (start, end], oldest first."""
        points = self.points[key]
        low = bisect_right(points, (start, float("inf")))
        high = bisect_right(points, (end, float("inf")))
        return points[low:high]
