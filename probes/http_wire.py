"""The syntax of an HTTP/1.1 answer, as RFC 9112 writes it: pure functions over bytes.

No sockets here: :mod:`healthprobes.probes.http` reads the bytes and asks these
functions what they mean. Every rule is strict where leniency would let a server
change how much we read (the framing), and each refusal is one :class:`Malformed`
with a line a user can read. The rules, with their RFC 9112 sections:

- 2.2: every line ends in CRLF. A bare LF or a bare CR is refused (the RFC lets a
  recipient accept a bare LF; two readers that disagree on where a line ends are how
  responses get smuggled, so this client accepts one terminator only).
- 4: ``status-line = HTTP-version SP status-code SP [ reason-phrase ]``; the version is
  ``HTTP/1.x``, the code three digits from 100 to 599 (RFC 9110 15). A missing reason
  (with or without its SP) is accepted, as h11 and http.client accept it.
- 5, 5.1: ``field-line = field-name ":" OWS field-value OWS``; the name is a token
  with no whitespace before the colon; a line without a colon is refused.
- 5.2: obs-fold (a line starting with SP or HTAB) is refused. The RFC lets a user
  agent unfold it; it has been deprecated since RFC 7230, nothing a health check asks
  sends it, and unfolding is one more place for two parsers to disagree.
- RFC 9110 5.5: CR, LF and NUL in a field value are refused.
- 6.1, 6.3: Transfer-Encoding wins only as exactly ``chunked`` (we send no TE
  header, so no other coding was asked for); with Content-Length as well it is
  refused (6.3 item 3: a smuggling attempt, "ought to be handled as an error"), and
  so it is in an HTTP/1.0 answer (6.1). Content-Length is 1*DIGIT; repeated equal
  values are one value, differing or non-digit ones are refused (6.3 item 5: the
  user agent MUST close the connection and discard the answer).
- 6.3 item 1: HEAD answers, 1xx, 204 and 304 have no body whatever they announce.
- 7.1: ``chunk-size = 1*HEXDIG`` (no sign, no ``0x``, no ``_``, which ``int(x, 16)``
  would all take) with optional ``;`` extensions; the size line is bounded.
- 9.3: ``Connection: close`` or an HTTP/1.0 answer ends the connection.
"""

from __future__ import annotations

MAX_LINE_BYTES = 16 * 1024  # one status or field line; nginx keeps 4-8 KiB for all of them
MAX_HEAD_BYTES = 64 * 1024  # the status line and every field line together
MAX_FIELDS = 100  # as http.client
MAX_CHUNK_LINE_BYTES = 4096  # chunk size and extensions
MAX_CHUNK_SIZE_DIGITS = 16  # 64 bits; any real limit is far below (max-bytes)
MESSAGE_TEXT_LIMIT = 200  # characters of server text quoted in a message

_TOKEN_BYTES = (b"!#$%&'*+-.^_`|~0123456789"
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_HEX_BYTES = b"0123456789abcdefABCDEF"
_DIGITS = frozenset(b"0123456789")
_FORBIDDEN_IN_VALUE = (b"\x00", b"\r", b"\n")
_CONTROL = frozenset(range(0x20)) - {0x09} | {0x7F}  # CTLs but HTAB, which text may hold


def _has_control(data: bytes) -> bool:
    return any(byte in _CONTROL for byte in data)


class Malformed(Exception):
    """The answer breaks a framing rule; the text says which, in one line."""


def server_text(text: str | bytes, limit: int = MESSAGE_TEXT_LIMIT) -> str:
    """Text a server sent, fit to quote in a one-line message: control characters
    become spaces, and it is cut at ``limit`` characters with an ellipsis (a 60 KB
    Location header must not become a 60 KB status line)."""
    if isinstance(text, bytes):
        text = text[:limit * 4].decode("utf-8", "replace")
    cut = len(text) > limit
    shown = "".join(char if char.isprintable() else " " for char in text[:limit]).strip()
    return shown + ("..." if cut else "")


def quoted(data: bytes, limit: int = 60) -> str:
    """A short, printable, quoted piece of the answer for a message."""
    return repr(server_text(data, limit))


def parse_status_line(line: bytes) -> tuple[int, int, str] | None:
    """(minor version, status, reason); None when the line is no HTTP/1 status line at
    all (another protocol answered), Malformed when it is a broken one."""
    if not line.startswith(b"HTTP/1."):
        return None
    minor, space, code, rest = line[7:8], line[8:9], line[9:12], line[12:]
    if not (minor and minor[0] in _DIGITS and space == b" " and len(code) == 3
            and all(byte in _DIGITS for byte in code) and rest[:1] in (b"", b" ")):
        raise Malformed(f"a malformed status line {quoted(line)} (RFC 9112 4: HTTP/1.x, "
                        "one space, three digits)")
    status = int(code)
    if not 100 <= status <= 599:
        raise Malformed(f"the status {status} is outside 100..599")
    # The reason phrase is only ever quoted: control characters are blanked, not refused.
    return int(minor), status, server_text(rest[1:])


def parse_field_line(line: bytes) -> tuple[str, str]:
    """(lower-case name, value without surrounding whitespace) of one field line."""
    if line[:1] in (b" ", b"\t"):
        raise Malformed(f"a folded header line (obs-fold) {quoted(line)}")
    name, colon, value = line.partition(b":")
    if not colon:
        raise Malformed(f"a header line without a colon {quoted(line)}")
    if name[-1:] in (b" ", b"\t"):
        raise Malformed(f"whitespace between the header name {quoted(name)} and its colon")
    # translate() deletes every token byte in C: anything left is not a token (a
    # per-byte loop was a third of a kept-alive etcd probe's parsing).
    if not name or name.translate(None, _TOKEN_BYTES):
        raise Malformed(f"an invalid header name {quoted(name)}")
    value = value.strip(b" \t")
    for forbidden in _FORBIDDEN_IN_VALUE:
        if forbidden in value:
            raise Malformed(f"a {_CONTROL_NAMES[forbidden]} in the value of header "
                            f"{quoted(name)}")
    return name.decode("ascii").lower(), value.decode("latin-1")


_CONTROL_NAMES = {b"\x00": "NUL", b"\r": "bare CR", b"\n": "bare LF"}


def check_line_ends(line: bytes) -> None:
    """A line cut at CRLF must hold no other CR or LF (RFC 9112 2.2)."""
    if b"\n" in line:
        raise Malformed("a line ends in a bare LF (HTTP lines end in CRLF)")
    if b"\r" in line:
        raise Malformed("a bare CR inside a line")


def chunk_size(line: bytes) -> int:
    """The size of the chunk a chunk-size line announces (RFC 9112 7.1)."""
    size, _, extensions = line.partition(b";")
    size = size.rstrip(b" \t")  # BWS before the extensions; h11 takes OWS at the end too
    # strip() with the hex digits leaves something exactly when a non-hex byte is there.
    if not size or len(size) > MAX_CHUNK_SIZE_DIGITS or size.strip(_HEX_BYTES):
        raise Malformed(f"the chunk size {quoted(size or line)} is not a hexadecimal number")
    if extensions and _has_control(extensions):
        raise Malformed(f"a control character in a chunk extension {quoted(line)}")
    return int(size, 16)


class Head:
    """The status line and header fields of one answer."""

    __slots__ = ("count", "fields", "lengths", "minor", "reason", "status", "transfer_codings")

    def __init__(self, minor: int, status: int, reason: str) -> None:
        self.minor, self.status, self.reason = minor, status, reason
        self.count = 0  # field lines, repeated names included
        self.fields: dict[str, str] = {}  # repeated names joined with ", " (RFC 9110 5.3)
        self.lengths: list[str] = []  # every Content-Length value, for framing
        self.transfer_codings: list[str] | None = None  # None: no Transfer-Encoding

    def add(self, name: str, value: str) -> None:
        self.count += 1
        if self.count > MAX_FIELDS:
            raise Malformed(f"more than {MAX_FIELDS} header fields")
        if name == "content-length":
            self.lengths += [part.strip() for part in value.split(",")]
        elif name == "transfer-encoding":
            self.transfer_codings = (self.transfer_codings or []) + [
                part.strip().lower() for part in value.split(",") if part.strip()]
        known = self.fields.get(name)
        self.fields[name] = value if known is None else f"{known}, {value}"

    @property
    def keeps_alive(self) -> bool:
        """Whether the connection may carry another request (RFC 9112 9.3)."""
        tokens = [part.strip().lower() for part in self.fields.get("connection", "").split(",")]
        return self.minor >= 1 and "close" not in tokens


# How the body of an answer is delimited (RFC 9112 6.3).
NO_BODY, CHUNKED, LENGTH, UNTIL_CLOSE = "none", "chunked", "length", "until close"


def body_framing(head: Head, method: str) -> tuple[str, int]:
    """(framing, length): how to read the body that follows ``head``."""
    if method == "HEAD" or head.status in (204, 304) or head.status < 200:
        return NO_BODY, 0
    if head.transfer_codings is not None:
        if head.minor == 0:
            raise Malformed("Transfer-Encoding in an HTTP/1.0 answer")
        if head.lengths:
            raise Malformed("both Content-Length and Transfer-Encoding")
        if head.transfer_codings != ["chunked"]:
            shown = server_text(", ".join(head.transfer_codings))
            raise Malformed(f"a transfer coding that was not asked for ({shown!r}; "
                            "only chunked is read)")
        return CHUNKED, 0
    if head.lengths:
        for value in head.lengths:
            if not value or not all(byte in _DIGITS for byte in value.encode("latin-1")):
                raise Malformed(f"the Content-Length {server_text(value, 60)!r} is not a "
                                "number")
            if len(value.lstrip("0")) > 18:  # int() of 5000 digits would raise, too
                raise Malformed(f"a Content-Length of {len(value)} digits")
        if len({int(value) for value in head.lengths}) > 1:
            shown = server_text(", ".join(head.lengths), 60)
            raise Malformed(f"Content-Length values that differ ({shown})")
        return LENGTH, int(head.lengths[0])
    return UNTIL_CLOSE, 0
