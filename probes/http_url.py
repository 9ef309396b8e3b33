"""What an HTTP request names: the URL a user gave, and the request-target built from it.

Everything here is checked before anything is sent: a control character in a URL,
path, query value or header value is refused (a CRLF there would put the user's text
on the wire as headers of its own), paths and query values are percent-encoded as
UTF-8 (RFC 3986 2.1), and a host name is checked and IDNA-encoded up front rather
than found out as a failed lookup. Pure functions; no sockets.
"""

from __future__ import annotations

import _socket

from healthprobes.probes.address import dns_name
from healthprobes.probes.errors import ProbeError

# RFC 3986 2.3: characters a URI component may carry as they are.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# ... and what a path or query a user wrote may also hold unencoded (sub-delims, ":",
# "@", "/", "?"; "[" and "]" as requests keeps them, for Prometheus' match[]=).
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/?[]")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# RFC 9110 5.6.2: a field name is a token.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


class InvalidRequest(ProbeError, ValueError):
    """A request this client refuses to send: the caller's input is unusable.

    A usage error, whichever way it is caught: a ValueError to option checking, and a
    ProbeError of kind CONFIG (UNKNOWN) to code that judges what a probe raised.
    """

    def __init__(self, message: str) -> None:
        ProbeError.__init__(self, "", f"invalid arguments: {message}", ProbeError.CONFIG)


def has_control(text: str) -> bool:
    """Whether the text holds a C0 control character or DEL (CR, LF and NUL among them)."""
    return any(ord(char) < 0x20 or char == "\x7f" for char in text)


def percent_encode(text: str, safe: frozenset[str] = _UNRESERVED) -> str:
    """Characters outside ``safe`` as %XX of their UTF-8 bytes (RFC 3986 2.1)."""
    if all(char in safe for char in text):
        return text
    return "".join(char if char in safe else "".join(f"%{byte:02X}" for byte in _utf8(char))
                   for char in text)


def _utf8(char: str) -> bytes:
    try:  # an argument that was not UTF-8 arrives with its bytes as surrogates: send those
        return char.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return char.encode("utf-8", "surrogatepass")


def requote(text: str) -> str:
    """A path or query as written, with what may not stand in a request-target encoded;
    ``%XX`` already there is kept, so nothing is encoded twice."""
    if all(char in _PATH_SAFE for char in text):
        return text
    parts, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "%" and text[index + 1:index + 2] in _HEX_DIGITS and \
                text[index + 2:index + 3] in _HEX_DIGITS:
            parts.append(text[index:index + 3])
            index += 3
            continue
        parts.append(percent_encode(char, _PATH_SAFE))
        index += 1
    return "".join(parts)


def query_string(pairs: list[tuple[str, str]]) -> str:
    """``?key=value&key`` with every key and value percent-encoded as UTF-8; a key
    without a value is sent bare (``?verbose``). Control characters are refused."""
    if not pairs:
        return ""
    for key, value in pairs:
        if has_control(key) or has_control(value):
            raise InvalidRequest(f"a control character in the query parameter {key!r}"
                                 f"{'=' + repr(value) if value else ''}")
    return "?" + "&".join(f"{percent_encode(key)}={percent_encode(value)}" if value
                          else percent_encode(key) for key, value in pairs)


def header_line(name: str, value: str) -> str:
    """``name: value`` for a request; a name that is no token, or a value with a control
    character in it, is refused (the value is not quoted back: it may be a secret)."""
    if not name or not all(char in _TOKEN for char in name):
        raise InvalidRequest(f"an invalid header name {name!r}")
    if has_control(value):
        raise InvalidRequest(f"a control character in the value of header {name}")
    return f"{name}: {value}"


class Url:
    """``scheme://host:port/path?query`` of one server, as the user wrote it.

    ``prefix`` is the path without its trailing slash, under which callers that ask
    several paths (etcd's) put theirs; ``path`` and ``query`` are percent-encoded.
    """

    __slots__ = ("host", "path", "port", "prefix", "query", "scheme", "text")

    def __init__(self, scheme: str, host: str, port: int, prefix: str, text: str,
                 query: str = "", path: str | None = None) -> None:
        self.scheme, self.host, self.port, self.prefix, self.text = (
            scheme, host, port, prefix, text)
        self.query = query
        self.path = prefix if path is None else path

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        """The authority without an IPv6 zone id, which only means something on this
        machine (RFC 6874 4: it is not sent to the server)."""
        host = self.host.partition("%")[0]
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def target(self, path: str = "") -> str:
        """The request-target (origin-form, RFC 9112 3.2.1) of ``path`` under this URL:
        ``/`` when neither gives a path, the URL's own query kept."""
        target = (self.prefix + path if path else self.path) or "/"
        if target.startswith("?"):
            target = "/" + target
        if self.query:
            target += ("&" if "?" in target else "?") + self.query
        return target

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}{self.prefix}" + (
            f"?{self.query}" if self.query else "")


def parse_url(text: str, default_scheme: str = "http") -> Url:
    """``http://h:2379``, ``https://[::1]:2379/metrics?x=1``, or ``h:2379`` (as etcdctl
    takes); ``[fe80::1%eth0]`` or ``[fe80::1%25eth0]`` (RFC 6874) keeps its zone id.

    Raises ValueError with a reason a user can act on.
    """
    rest = text.strip(" ")
    text = without_userinfo(text)  # messages quote the URL: never with its password
    if has_control(rest):
        raise ValueError(f"{text!r}: a control character in the URL")
    scheme, sep, after = rest.partition("://")
    if not sep:
        scheme, after = default_scheme, rest
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{text!r}: the scheme must be http or https")
    after = after.partition("#")[0]  # a fragment is never sent (RFC 9110 7.1)
    cut = min((index for index in (after.find("/"), after.find("?")) if index >= 0),
              default=len(after))
    authority, rest_of_url = after[:cut], after[cut:]
    path, _, query = rest_of_url.partition("?")
    if "@" in authority:
        raise ValueError(f"{text!r}: write scheme://host:port without a user and password "
                         "(give them with the check's --user and --password-file)")
    if authority.startswith("["):
        host, bracket, port_text = authority[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise ValueError(f"{text!r}: an IPv6 address is written [addr]:port")
        port_text = port_text[1:]
        host = host.replace("%25", "%", 1)
    else:
        host, _, port_text = authority.rpartition(":") if ":" in authority else (
            authority, "", "")
        if ":" in host:
            raise ValueError(f"{text!r}: write an IPv6 address in brackets, [addr]:port")
    if not host:
        raise ValueError(f"{text!r}: no host")
    if authority.startswith("["):
        if not is_ip_literal(host.partition("%")[0]) or ":" not in host:
            raise ValueError(f"{text!r}: [{host}] is not an IPv6 address")
    else:
        host = dns_name(host, text)
    if not port_text:
        port = 443 if scheme == "https" else 80
    elif port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    path = requote(path)
    return Url(scheme, host, port, path.rstrip("/"), rest, requote(query), path)


def without_userinfo(text: str) -> str:
    """The URL with any ``user:password@`` replaced by ``<redacted>@``, for messages."""
    start = text.find("://")
    start = start + 3 if start >= 0 else 0
    end = min((index for index in (text.find("/", start), text.find("?", start),
                                   text.find("#", start)) if index >= 0), default=len(text))
    at = text.rfind("@", start, end)
    return text if at < 0 else f"{text[:start]}<redacted>{text[at:]}"


def is_ip_literal(host: str) -> bool:
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
            return True
        except OSError:
            continue
    return False
