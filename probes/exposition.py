"""Scraping a Prometheus text endpoint: fetch it, and read only the series asked for.

A kube-apiserver answers 30 MB and 150k samples; a check judges a handful of metric
names. So lines are found by name with ``bytes.find`` (C speed, no list of 150k lines)
and only those lines are parsed. Text format 0.0.4 and OpenMetrics are both read:
optional timestamps, exemplars after `` # `` and ``# EOF`` are accepted and ignored
(the scrape time is what counts here). docs/promql.md has the format.

Nothing here judges; a target that cannot be read raises ProbeError, a line that
cannot be parsed raises ExpositionError naming it.
"""

from __future__ import annotations

from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.http import Url

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, without __name__

ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,"
          "text/plain;version=0.0.4;q=0.4,*/*;q=0.1")
SPECIAL_VALUES = {"NaN": float("nan"), "+Inf": float("inf"), "-Inf": float("-inf"),
                  "Inf": float("inf")}


class ExpositionError(ProbeError):
    def __init__(self, target: str, line_number: int, line: bytes, why: str) -> None:
        shown = line[:80].decode("utf-8", "replace")
        super().__init__(target, f"malformed exposition at line {line_number} ({why}): "
                         f"{shown!r}", ProbeError.PROTOCOL)


class Exposition:
    """The samples of the wanted metric names, {name: {labels: value}}, and duplicates."""

    def __init__(self) -> None:
        self.samples: dict[str, dict[Labels, float]] = {}
        self.duplicates: list[str] = []  # "name{labels}" of each repeated series

    def count(self) -> int:
        return sum(len(series) for series in self.samples.values())

    def add_labels(self, extra: Labels) -> None:
        """Target labels, as a Prometheus server attaches job and instance to a scrape;
        a label the series has itself wins."""
        for name, series in self.samples.items():
            self.samples[name] = {tuple(sorted({**dict(extra), **dict(labels)}.items())): value
                                  for labels, value in series.items()}


def fetch(url: Url, deadline: Deadline, tls: ssl.SSLContext | None = None,
          headers: dict[str, str] | None = None, max_bytes: int = 64 << 20,
          client_cert: bool = False) -> bytes:
    """The endpoint's body, gzip-decoded by the client; never more than ``max_bytes``
    either way (see :mod:`healthprobes.probes.content_coding`)."""
    from healthprobes.probes.http import Connection

    connection = Connection(url, deadline, tls, max_body=max_bytes, client_cert=client_cert)
    try:
        response = connection.request("GET", "", headers={
            "Accept": ACCEPT, "Accept-Encoding": "gzip", **(headers or {})})
    finally:
        connection.close()
    if response.status in (401, 403):
        raise ProbeError(url.text, f"the server refused the scrape (HTTP {response.status}); "
                         "see --bearer-token-file, --user and --cert", ProbeError.PROTOCOL)
    if 300 <= response.status < 400:
        raise ProbeError(url.text, f"redirected (HTTP {response.status}) to "
                         f"{response.header_text('location', '?')}; give that URL instead",
                         ProbeError.PROTOCOL)
    if response.status != 200:
        raise ProbeError(url.text, f"HTTP {response.status} {response.reason} "
                         f"{response.snippet()}", ProbeError.PROTOCOL)
    if response.content_type in ("text/html", "application/json"):
        raise ProbeError(url.text, f"not a Prometheus exposition ({response.content_type}: "
                         f"{response.snippet()})", ProbeError.PROTOCOL)
    return response.body


def parse(body: bytes, names: set[str] | None, target: str = "") -> Exposition:
    """Samples of the metric names given (every sample when ``names`` is None)."""
    found = Exposition()
    if names is None:
        for number, line in enumerate(body.split(b"\n"), 1):
            if line and not line.startswith(b"#") and line.strip():
                _add(found, line, number, body, target)
        return found
    for name in sorted(names):
        key = name.encode()
        start = 0 if body.startswith(key) else _next_line_with(body, key, 0)
        while start >= 0:
            end = body.find(b"\n", start)
            line = body[start:end] if end >= 0 else body[start:]
            if line[len(key):len(key) + 1] in (b"{", b" ", b"\t", b"\r", b""):  # not longer
                _add(found, line, 0, body, target, start)
            start = _next_line_with(body, key, end) if end >= 0 else -1
    return found


def _next_line_with(body: bytes, key: bytes, after: int) -> int:
    """Where the next line starting with ``key`` starts, or -1."""
    hit = body.find(b"\n" + key, after)
    return hit + 1 if hit >= 0 else -1


def _add(found: Exposition, line: bytes, number: int, body: bytes, target: str,
         offset: int = 0) -> None:
    try:
        name, labels, value = parse_line(line.decode("utf-8").rstrip("\r"))
    except (ValueError, UnicodeDecodeError) as error:
        number = number or body.count(b"\n", 0, offset) + 1
        raise ExpositionError(target, number, line, str(error)) from None
    series = found.samples.setdefault(name, {})
    if labels in series:  # as Prometheus: the first one counts, the repeat is reported
        found.duplicates.append(name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}")
    else:
        series[labels] = value


def parse_line(line: str) -> tuple[str, Labels, float]:
    """``name{a="b",c="d"} value [timestamp] [# exemplar]`` into (name, labels, value)."""
    brace = line.find("{")
    space = line.find(" ")
    if brace >= 0 and (space < 0 or brace < space):
        name = line[:brace]
        pairs, rest = _parse_labels(line, brace + 1)
    else:
        if space < 0:
            raise ValueError("no value")
        name, rest = line[:space], line[space:]
        pairs = []
    if not name or not _is_name(name):
        raise ValueError(f"invalid metric name {name!r}")
    fields = rest.split()
    if not fields:
        raise ValueError("no value")
    text = fields[0]
    value = SPECIAL_VALUES.get(text)
    if value is None:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"invalid value {text!r}") from None
    if len(fields) > 1 and fields[1] != "#":
        try:
            float(fields[1])
        except ValueError:
            raise ValueError(f"invalid timestamp {fields[1]!r}") from None
    return name, tuple(sorted(pairs)), value


_patterns: list = []  # (whole label set, one pair), compiled on first use


def _parse_labels(line: str, position: int) -> tuple[list[tuple[str, str]], str]:
    """The label set opening just before ``position``: two C-speed regular-expression
    passes for well-formed text (150k lines in a big scrape), the careful reader
    below for anything else, which also says exactly what is wrong."""
    if not _patterns:
        import re

        pair = r'[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\\n]|\\.)*"'
        _patterns.append(re.compile(
            rf"[ \t]*(?:{pair}(?:[ \t]*,[ \t]*{pair})*[ \t]*,?)?[ \t]*\}}", re.ASCII))
        _patterns.append(re.compile(
            r'([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"', re.ASCII))
    whole, one = _patterns
    match = whole.match(line, position)
    if match is not None:
        pairs = [(key, _unescape(raw) if "\\" in raw else raw)
                 for key, raw in one.findall(line, position, match.end())]
        if len({key for key, _ in pairs}) == len(pairs):
            return pairs, line[match.end():]
    return _parse_labels_carefully(line, position)


def _parse_labels_carefully(line: str, position: int) -> tuple[list[tuple[str, str]], str]:
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    while True:
        while position < len(line) and line[position] in " ,":
            position += 1
        if position >= len(line):
            raise ValueError("unclosed label set")
        if line[position] == "}":
            return pairs, line[position + 1:]
        equals = line.find("=", position)
        if equals < 0:
            raise ValueError("label without a value")
        key = line[position:equals].strip()
        if not _is_name(key):
            raise ValueError(f"invalid label name {key!r}")
        if key in seen:
            raise ValueError(f"label {key!r} twice")
        seen.add(key)
        quote = equals + 1
        while quote < len(line) and line[quote] == " ":
            quote += 1
        if quote >= len(line) or line[quote] != '"':
            raise ValueError(f"label {key!r} has no quoted value")
        close = quote + 1
        while True:
            close = line.find('"', close)
            if close < 0:
                raise ValueError("unclosed label value")
            backslashes = 0
            while line[close - 1 - backslashes] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                break
            close += 1
        raw = line[quote + 1:close]
        pairs.append((key, _unescape(raw) if "\\" in raw else raw))
        position = close + 1
        if position < len(line) and line[position] not in ",} ":
            raise ValueError(f"expected ',' or '}}' after label {key!r}")


def _unescape(raw: str) -> str:
    out = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            following = raw[index + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(following, "\\" + following))
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


_GOOD_NAMES: set[str] = set()  # label names repeat on every line: check each once


def _is_name(text: str) -> bool:
    if text in _GOOD_NAMES:
        return True
    good = (text.replace("_", "a").replace(":", "a").isalnum() and text.isascii()
            and not text[0].isdigit())
    if good:
        _GOOD_NAMES.add(text)
    return good
