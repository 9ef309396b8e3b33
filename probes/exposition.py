"""Scraping a Prometheus text endpoint: fetch it, and read only the series asked for.

A kube-apiserver answers 30 MB and 150k samples; a check judges a handful of metric
names. So lines are found by name with ``bytes.find`` (C speed, no list of 150k lines)
and only those lines are parsed. Text format 0.0.4 and OpenMetrics 1.0 are both read,
as the Prometheus server reads them: blanks and tabs between tokens, timestamps and
exemplars after `` # `` are checked and ignored (the scrape time is what counts here),
comment lines (HELP, TYPE, UNIT, ``# EOF``) are skipped unread, since nothing here
depends on a metric's type. docs/promql.md has the format.

Nothing here judges; a target that cannot be read raises ProbeError, a line that
cannot be parsed raises ExpositionError naming it.
"""

from __future__ import annotations

from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    from healthprobes.probes.deadline import Deadline
    from healthprobes.probes.http import Connection, Url

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
          client_cert: bool = False, keep: list | None = None,
          connection: Connection | None = None) -> bytes:
    """The endpoint's body, gzip-decoded by the client; never more than ``max_bytes``
    either way (see :mod:`healthprobes.probes.content_coding`). ``keep``, when given,
    receives the connection, for a caller that reads what its handshake presented.
    ``connection``: a kept-alive one to ask on (a resident caller's), left open."""
    own = connection is None
    if connection is None:
        from healthprobes.probes.http import Connection

        connection = Connection(url, deadline, tls, max_body=max_bytes,
                                client_cert=client_cert)
    else:
        connection.deadline = deadline
    if keep is not None:
        keep.append(connection)
    try:
        response = connection.request("GET", "", headers={
            "Accept": ACCEPT, "Accept-Encoding": "gzip", **(headers or {})})
    finally:
        if own:
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
    """Samples of the metric names given (every sample when ``names`` is None).

    With names, only the lines of those metrics are read, so a malformed line of
    another metric goes unnoticed; what is read is exactly the unfiltered answer
    restricted to those names.
    """
    found = Exposition()
    if names is None:
        for number, line in enumerate(body.split(b"\n"), 1):
            line = line.lstrip(b" \t")  # leading blanks are ignored (text format 0.0.4)
            if line and not line.startswith(b"#") and line.strip():
                _add(found, line, number, body, target)
        return found
    for name in sorted(names):
        key = name.encode()
        for start in _lines_of(body, key):
            end = body.find(b"\n", start)
            line = body[start:end] if end >= 0 else body[start:]
            if line[len(key):len(key) + 1] in _AFTER_NAME:  # the name, not a longer one
                _add(found, line, 0, body, target, start)
    return found


_AFTER_NAME = (b"{", b" ", b"\t", b"\r", b"")  # what may follow a whole metric name


def _lines_of(body: bytes, key: bytes) -> list[int]:
    """Where the lines starting with ``key`` start (after their leading blanks, which
    the format allows and exporters do not write), in order."""
    starts = [0] if body.startswith(key) else []
    starts += _hits(body, b"\n" + key, 1)
    indented = [hit for blank in (b" ", b"\t") for hit in _hits(body, blank + key, 1)
                if _only_blanks_before(body, hit)]
    return sorted(starts + indented) if indented else starts


def _only_blanks_before(body: bytes, position: int) -> bool:
    """Whether the line holding ``position`` has only blanks before it. Walks back over
    the blanks alone, not to the line's start: a long line saying " name" a million
    times costs a step per occurrence, not its length each time."""
    start = position
    while start > 0 and body[start - 1] in (32, 9):  # blank, tab
        start -= 1
    return start == 0 or body[start - 1] == 10  # the body's or a line's start


def _hits(body: bytes, needle: bytes, skip: int) -> list[int]:
    """Each place ``needle`` occurs, plus ``skip``: bytes.find's C speed on a 30 MB body."""
    hits = []
    hit = body.find(needle)
    while hit >= 0:
        hits.append(hit + skip)
        hit = body.find(needle, hit + 1)
    return hits


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


_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:"
_LABEL_NAME_CHARS = _NAME_CHARS.replace(":", "")
_BLANKS = " \t"


def parse_line(line: str) -> tuple[str, Labels, float]:
    """``name{a="b",c="d"} value [timestamp] [# exemplar]`` into (name, labels, value).

    The line has no leading blanks. Blanks and tabs may separate the tokens (text
    format 0.0.4); the exemplar OpenMetrics allows after `` # `` is checked, not kept.
    """
    rest = line.lstrip(_NAME_CHARS)
    name = line[:len(line) - len(rest)]
    if not name or name[0].isdigit() or rest[:1] not in ("{", " ", "\t", ""):
        raise ValueError(f"invalid metric name {line[:80].split(' ')[0]!r}")
    rest = rest.lstrip(_BLANKS)
    if rest[:1] == "{":
        pairs, rest = _parse_labels(rest, 1)
        if "__name__" in line and any(key == "__name__" for key, _ in pairs):
            raise ValueError("the metric name given twice (a __name__ label)")
    else:
        pairs = []
    sample, hash_sign, exemplar = rest.partition("#")
    fields = _fields(sample)
    if not fields:
        raise ValueError("no value")
    if len(fields) > 2:
        raise ValueError(f"{fields[2]!r} after the value and timestamp")
    value = _number(fields[0], "value")
    if len(fields) == 2:
        _timestamp(fields[1])
    if hash_sign:
        _check_exemplar(sample, exemplar)
    return name, tuple(sorted(pairs)), value


_INFINITIES = (float("inf"), float("-inf"))


def _number(text: str, what: str) -> float:
    """A number as Prometheus reads one: Go's ParseFloat without hexadecimal floats or
    digit separators, so neither Python's ``1_000`` nor its Unicode digits, nor a
    sign on NaN, nor a finite number too large for a float (Go's range error)."""
    value = SPECIAL_VALUES.get(text)
    if value is not None:
        return value
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"invalid {what} {text!r}") from None
    if "_" in text or not text.isascii() or text.strip() != text or (
            value != value and text[0] in "+-"):
        raise ValueError(f"invalid {what} {text!r}")
    if value in _INFINITIES and text.lstrip("+-").lower() not in ("inf", "infinity"):
        raise ValueError(f"{what} {text!r} out of range")
    return value


def _fields(text: str) -> list[str]:
    """Split at blanks and tabs only: Python's split() also splits at other spaces."""
    return [field for field in text.replace("\t", " ").split(" ") if field]


def _timestamp(text: str) -> None:
    # Milliseconds (0.0.4) or seconds (OpenMetrics): either way a finite number.
    stamp = _number(text, "timestamp")
    if stamp != stamp or stamp in _INFINITIES:
        raise ValueError(f"invalid timestamp {text!r}")


def _check_exemplar(sample: str, exemplar: str) -> None:
    """`` # {labels} value [timestamp]`` after the sample, as OpenMetrics writes it."""
    if sample[-1:] not in (" ", "\t") or exemplar[:1] not in (" ", "\t"):
        raise ValueError("an exemplar is written ' # {labels} value'")
    rest = exemplar.lstrip(_BLANKS)
    if rest[:1] != "{":
        raise ValueError("an exemplar starts with its label set")
    _, rest = _parse_labels(rest, 1)
    fields = _fields(rest)
    if not fields or len(fields) > 2:
        raise ValueError("an exemplar has a value and an optional timestamp")
    _number(fields[0], "exemplar value")
    if len(fields) == 2:
        _timestamp(fields[1])


_patterns: list = []  # (whole label set, one pair), compiled on first use


def _parse_labels(line: str, position: int) -> tuple[list[tuple[str, str]], str]:
    """The label set opening just before ``position``: two C-speed regular-expression
    passes for well-formed text (150k lines in a big scrape), the careful reader
    below for anything else, which also says exactly what is wrong."""
    patterns = _patterns
    if not patterns:
        import re

        # Possessive quantifiers: a long run of blanks in a broken label set fails in
        # linear time, not by trying every way of sharing the run between two [ \t]*.
        pair = r'[a-zA-Z_][a-zA-Z0-9_]*+[ \t]*+=[ \t]*+"(?:[^"\\\n]|\\.)*+"'
        patterns = [
            re.compile(rf"[ \t]*+(?:{pair}(?:[ \t]*+,[ \t]*+{pair})*+[ \t]*+"
                       rf"(?:,[ \t]*+)?+)?+\}}", re.ASCII),
            re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"',
                       re.ASCII)]
        # One assignment: members scraped on parallel threads may compile at once, and
        # each must see both patterns or none (appending one by one gave four).
        _patterns[:] = patterns
    whole, one = patterns
    match = whole.match(line, position)
    if match is not None:
        pairs = [(key, _unescape(raw) if "\\" in raw else raw)
                 for key, raw in one.findall(line, position, match.end())]
        if len({key for key, _ in pairs}) == len(pairs):
            return pairs, line[match.end():]
    return _parse_labels_carefully(line, position)


def _parse_labels_carefully(line: str, position: int) -> tuple[list[tuple[str, str]], str]:
    """The same grammar as the regular expressions, a character at a time: blanks
    around names, ``=`` and commas, one optional comma before ``}``."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    position = _skip_blanks(line, position)
    while True:
        if position >= len(line):
            raise ValueError("unclosed label set")
        if line[position] == "}":
            return pairs, line[position + 1:]
        end = position
        while end < len(line) and line[end] in _LABEL_NAME_CHARS:
            end += 1
        key = line[position:end]
        if not key or key[0].isdigit():
            shown = line[position:line.find("=", position)] if "=" in line[position:] else (
                line[position:position + 20])
            raise ValueError(f"invalid label name {shown!r}")
        if key in seen:
            raise ValueError(f"label {key!r} twice")
        seen.add(key)
        position = _skip_blanks(line, end)
        if position >= len(line) or line[position] != "=":
            raise ValueError(f"label {key!r} without a value")
        quote = _skip_blanks(line, position + 1)
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
        position = _skip_blanks(line, close + 1)
        if position < len(line) and line[position] == ",":
            position = _skip_blanks(line, position + 1)
        elif position < len(line) and line[position] != "}":
            raise ValueError(f"expected ',' or '}}' after label {key!r}")


def _skip_blanks(line: str, position: int) -> int:
    while position < len(line) and line[position] in _BLANKS:
        position += 1
    return position


def _unescape(raw: str) -> str:
    """``\\\\``, ``\\"`` and ``\\n``; any other backslash stays as written, as the
    Prometheus server reads it. Split at the escaped backslashes first: each backslash
    left in a piece then starts an escape of its own, and str.replace runs at C speed
    (a character loop took a second on a scrape of long quoted label values)."""
    return "\\".join(piece.replace('\\"', '"').replace("\\n", "\n")
                      for piece in raw.split("\\\\"))
