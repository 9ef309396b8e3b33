"""A small HTTP/1.1 client for talking to one server under a deadline.

Why not requests or http.client: importing requests takes longer than a whole
``etcdctl endpoint health`` run, and even ``socket`` (enum, selectors) and
``http.client`` (email parsing) cost a health check several milliseconds of its
budget. Plain HTTP here uses the C ``_socket`` module directly; TLS imports ``ssl``
only when a URL asks for it. It is one code path for every endpoint of every check.

What it guarantees: every step (name lookup, connect, TLS handshake, each read) ends
by the deadline; an answer is never read past ``max_body`` bytes (a 1 GB answer costs
the same as a small one); redirects are reported, not followed; one keep-alive
connection serves several requests to the same server.
"""

from __future__ import annotations

import _socket

from healthprobes.probes.errors import ProbeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    from healthprobes.probes.deadline import Deadline

MAX_HEADER_BYTES = 64 * 1024
LARGE_BODY = 1 << 20  # above this, a body with a known length is read into one buffer
DEFAULT_MAX_BODY = 4 * 1024 * 1024  # etcd's JSON answers are a few KB; a member list of
# hundreds of members stays far below this


class Url:
    """``scheme://host:port/prefix`` of one server, as the user wrote it."""

    __slots__ = ("host", "port", "prefix", "scheme", "text")

    def __init__(self, scheme: str, host: str, port: int, prefix: str, text: str) -> None:
        self.scheme, self.host, self.port, self.prefix, self.text = (
            scheme, host, port, prefix, text)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}{self.prefix}"


def parse_url(text: str, default_scheme: str = "http") -> Url:
    """``http://h:2379``, ``https://[::1]:2379``, or ``h:2379`` (as etcdctl takes).

    Raises ValueError with a reason a user can act on.
    """
    rest = text.strip()
    scheme, sep, after = rest.partition("://")
    if not sep:
        scheme, after = default_scheme, rest
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{text!r}: the scheme must be http or https")
    authority, slash, path = after.partition("/")
    prefix = ("/" + path).rstrip("/") if slash else ""
    if "?" in authority or "#" in authority or "@" in authority:
        raise ValueError(f"{text!r}: write scheme://host:port, without user, query or fragment")
    if authority.startswith("["):
        host, bracket, port_text = authority[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise ValueError(f"{text!r}: an IPv6 address is written [addr]:port")
        port_text = port_text[1:]
    else:
        host, _, port_text = authority.rpartition(":") if ":" in authority else (
            authority, "", "")
        if ":" in host:
            raise ValueError(f"{text!r}: write an IPv6 address in brackets, [addr]:port")
    if not host:
        raise ValueError(f"{text!r}: no host")
    if not port_text:
        port = 443 if scheme == "https" else 80
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return Url(scheme, host, port, prefix, text.strip())


class Response:
    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def snippet(self, limit: int = 60) -> str:
        """The start of the body, printable, for messages about answers we cannot use."""
        text = self.body[:limit].decode("utf-8", "replace")
        text = "".join(char if char.isprintable() else " " for char in text).strip()
        return repr(text + ("..." if len(self.body) > limit else ""))


def _is_ip_literal(host: str) -> bool:
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
            return True
        except OSError:
            continue
    return False


def resolve(url: Url, deadline: Deadline) -> list[tuple]:
    """Addresses for the URL's host, the lookup bounded by the deadline.

    getaddrinfo cannot be interrupted, so a name is looked up on a side thread and
    waited for only as long as the deadline allows; an IP literal needs no lookup.
    """
    if _is_ip_literal(url.host):
        family = _socket.AF_INET6 if ":" in url.host else _socket.AF_INET
        return [(family, (url.host, url.port))]
    import _thread

    answer: list = []
    done = _thread.allocate_lock()
    done.acquire()

    def lookup() -> None:
        try:
            answer.append(_socket.getaddrinfo(url.host, url.port, 0, _socket.SOCK_STREAM))
        except OSError as error:
            answer.append(error)
        finally:
            done.release()

    _thread.start_new_thread(lookup, ())
    if not done.acquire(True, max(0.001, deadline.remaining())):
        raise ProbeError(url.text, f"no answer resolving {url.host!r} in time",
                         ProbeError.TIMEOUT)
    if isinstance(answer[0], OSError):
        reason = answer[0].args[-1] if answer[0].args else answer[0]
        raise ProbeError(url.text, f"cannot resolve {url.host!r} ({reason})")
    return [(family, address[:2]) for family, _, _, _, address in answer[0]]


def _socket_error(url: Url, error: OSError, step: str) -> ProbeError:
    if isinstance(error, TimeoutError):
        return ProbeError(url.text, f"no answer in time ({step})", ProbeError.TIMEOUT)
    reason = (error.strerror or str(error) or type(error).__name__).lower()
    return ProbeError(url.text, f"{reason} ({step})")


class Connection:
    """One keep-alive connection to one server; reopened when the server closes it."""

    def __init__(self, url: Url, deadline: Deadline, tls: ssl.SSLContext | None = None,
                 server_name: str | None = None, max_body: int = DEFAULT_MAX_BODY,
                 client_cert: bool = False) -> None:
        if url.scheme == "https" and tls is None:
            raise ProbeError(url.text, "an https URL needs a TLS context", ProbeError.CONFIG)
        self.url, self.deadline, self.max_body = url, deadline, max_body
        self.tls = tls if url.scheme == "https" else None
        self.server_name = server_name or url.host
        self.client_cert = client_cert  # whether the TLS context carries one, for messages
        self._sock = None
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            try:  # noqa: SIM105 - contextlib would cost an import on every run
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        self._buffer = b""

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        """Connect (and shake hands) now, under the connection's deadline as it is now; a
        request on a connection that is not open connects first by itself."""
        if self._sock is None:
            self._open()

    def _timeout(self, step: str) -> float:
        left = self.deadline.remaining()
        if left <= 0:
            raise ProbeError(self.url.text, f"no answer in time ({step})", ProbeError.TIMEOUT)
        return left

    def _open(self) -> None:
        last: ProbeError | None = None
        for family, address in resolve(self.url, self.deadline):
            sock = (_plain_socket if self.tls is None else _tls_socket)(family)
            try:
                sock.settimeout(self._timeout("connecting"))
                sock.connect(address)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            except OSError as error:
                sock.close()
                last = _socket_error(self.url, error, "connecting")
                if last.kind == ProbeError.TIMEOUT:
                    break
                continue
            if self.tls is not None:
                sock = self._handshake(sock)
            self._sock = sock
            return
        raise last or ProbeError(self.url.text, "no address to connect to")

    def _handshake(self, sock):
        import ssl

        from healthprobes.probes.tls import describe_ssl_error

        try:
            sock.settimeout(self._timeout("TLS handshake"))
            return self.tls.wrap_socket(sock, server_hostname=self.server_name)  # type: ignore[union-attr]
        except ssl.SSLError as error:
            sock.close()
            reason = describe_ssl_error(error)
            if isinstance(error, ssl.SSLCertVerificationError):
                reason = f"the server's certificate failed verification ({reason}; see --cacert)"
            if not self.client_cert and getattr(error, "reason", "") in _WANTS_CLIENT_CERT:
                reason = "the server requires a client certificate (see --cert and --key)"
            raise ProbeError(self.url.text, f"TLS handshake failed: {reason}",
                             ProbeError.TLS) from None
        except OSError as error:
            sock.close()
            if isinstance(error, TimeoutError):
                raise _socket_error(self.url, error, "TLS handshake") from None
            # A server that hangs up in the handshake most often wants a client certificate
            # (TLS 1.3 tells the client only by closing).
            raise ProbeError(self.url.text, "the server closed the connection in the TLS "
                             "handshake (does it require a client certificate? see --cert and "
                             "--key)", ProbeError.TLS) from None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request and read its whole answer (up to ``max_body``)."""
        fresh = self._sock is None
        if fresh:
            self._open()
        given = headers or {}
        lines = [f"{method} {self.url.prefix}{path} HTTP/1.1", f"Host: {self.url.authority}",
                 "User-Agent: healthprobes"]
        if "Accept-Encoding" not in given:  # the caller decodes what it asks for
            lines.append("Accept-Encoding: identity")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{name}: {value}" for name, value in given.items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        try:
            self._send(payload)
            return self._read_response(method, reused=not fresh)
        except _Reused:
            self.close()
            if fresh:
                raise ProbeError(self.url.text, "the server closed the connection",
                                 ProbeError.UNREACHABLE) from None
            # The server closed the kept-alive connection before our request: ask again once.
            return self.request(method, path, body, headers)

    def _send(self, payload: bytes) -> None:
        try:
            self._sock.settimeout(self._timeout("sending the request"))  # type: ignore[union-attr]
            self._sock.sendall(payload)  # type: ignore[union-attr]
        except (BrokenPipeError, ConnectionResetError):
            raise _Reused() from None
        except OSError as error:
            self.close()
            raise _socket_error(self.url, error, "sending the request") from None

    def _recv(self, step: str) -> bytes:
        return self._receiving(step, lambda sock: sock.recv(65536))

    def _recv_into(self, step: str, into: memoryview) -> int:
        return self._receiving(step, lambda sock: sock.recv_into(into, len(into)))

    def _receiving(self, step: str, receive):
        """One receive within the deadline; a socket error becomes the step's ProbeError."""
        try:
            self._sock.settimeout(self._timeout(step))  # type: ignore[union-attr]
            return receive(self._sock)
        except OSError as error:
            self.close()
            raise self._read_error(error, step) from None

    def _read_error(self, error: OSError, step: str) -> ProbeError:
        if self.tls is not None and not isinstance(error, TimeoutError):
            import ssl

            if isinstance(error, ssl.SSLError):
                from healthprobes.probes.tls import describe_ssl_error

                return ProbeError(self.url.text, f"TLS error: {describe_ssl_error(error)}",
                                  ProbeError.TLS)
        return _socket_error(self.url, error, step)

    def _read_head(self, reused: bool) -> tuple[int, str, dict[str, str]]:
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > MAX_HEADER_BYTES:
                self.close()
                raise ProbeError(self.url.text, "not an HTTP server (no end of headers in "
                                 f"{MAX_HEADER_BYTES // 1024} KiB)", ProbeError.PROTOCOL)
            chunk = self._recv("waiting for the answer")
            if not chunk:
                if reused and not self._buffer:
                    raise _Reused()
                snippet = Response(0, "", {}, self._buffer).snippet()
                self.close()
                if self.tls is None and not self._buffer:
                    raise ProbeError(self.url.text, "the server closed the connection without "
                                     "answering (is it a TLS port? use https://)",
                                     ProbeError.PROTOCOL)
                raise ProbeError(self.url.text, f"the server closed the connection without "
                                 f"an HTTP answer (got {snippet})", ProbeError.PROTOCOL)
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code_text, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not (code_text.isdigit() and len(code_text) == 3):
            self.close()
            got = Response(0, "", {}, head).snippet()
            if head[:1] == b"\x15":
                got = "a TLS alert: the port speaks TLS, use https://"
            raise ProbeError(self.url.text, f"not an HTTP server (got {got})",
                             ProbeError.PROTOCOL)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        return int(code_text), reason, headers

    def _read_response(self, method: str, reused: bool) -> Response:
        status, reason, headers = self._read_head(reused)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                self.close()
                raise ProbeError(self.url.text, f"invalid Content-Length {length!r}",
                                 ProbeError.PROTOCOL)
            if int(length) > self.max_body:
                self.close()  # never read an answer that is too big: drop the connection
                raise self._too_big(f"{int(length)} bytes announced")
            body = self._read_exactly(int(length))
        else:
            body = self._read_to_close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, reason, headers, body)

    def _too_big(self, what: str) -> ProbeError:
        return ProbeError(self.url.text, f"answer too large ({what}; the limit is "
                          f"{self.max_body} bytes)", ProbeError.PROTOCOL)

    def _read_exactly(self, length: int) -> bytes:
        if length > LARGE_BODY and len(self._buffer) <= length:
            return self._read_into(length)  # type: ignore[return-value]
        # Pieces joined once: growing one bytes object chunk by chunk is quadratic, and
        # a 30 MB scrape took seconds that way.
        parts, have = [self._buffer], len(self._buffer)
        while have < length:
            chunk = self._recv("reading the answer")
            if not chunk:
                self.close()
                raise ProbeError(self.url.text, f"the answer ended after {have} of "
                                 f"{length} bytes", ProbeError.PROTOCOL)
            parts.append(chunk)
            have += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if have == length:
            self._buffer = b""
            return data
        body, self._buffer = data[:length], data[length:]
        return body

    def _read_into(self, length: int) -> bytearray:
        """A large body read straight into one buffer of its announced size: one copy
        of a 30 MB scrape in memory, not the pieces and their joined copy."""
        body = bytearray(length)
        view = memoryview(body)
        have = len(self._buffer)
        view[:have] = self._buffer
        self._buffer = b""
        while have < length:
            got = self._recv_into("reading the answer", view[have:have + (1 << 20)])
            if not got:
                self.close()
                raise ProbeError(self.url.text, f"the answer ended after {have} of "
                                 f"{length} bytes", ProbeError.PROTOCOL)
            have += got
        view.release()
        return body

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            if len(self._buffer) > 1024:
                self.close()
                raise ProbeError(self.url.text, "invalid chunked encoding", ProbeError.PROTOCOL)
            chunk = self._recv("reading the answer")
            if not chunk:
                self.close()
                raise ProbeError(self.url.text, "the answer ended in the middle",
                                 ProbeError.PROTOCOL)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_text = self._read_line().split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                self.close()
                raise ProbeError(self.url.text, "invalid chunked encoding",
                                 ProbeError.PROTOCOL) from None
            if size == 0:
                while self._read_line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            total += size
            if total > self.max_body:
                self.close()
                raise self._too_big(f"more than {self.max_body} bytes sent")
            parts.append(self._read_exactly(size))
            self._read_line()

    def _read_to_close(self) -> bytes:
        parts = [self._buffer]
        total = len(self._buffer)
        while True:
            chunk = self._recv("reading the answer")
            if not chunk:
                break
            total += len(chunk)
            if total > self.max_body:
                self.close()
                raise self._too_big(f"more than {self.max_body} bytes sent")
            parts.append(chunk)
        self.close()
        return b"".join(parts)


# Alerts a server sends when it wants a client certificate it did not get.
_WANTS_CLIENT_CERT = ("SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED",
                      "SSLV3_ALERT_HANDSHAKE_FAILURE")


class _Reused(Exception):
    """A kept-alive connection turned out closed by the server before our request."""


def _plain_socket(family: int):
    return _socket.socket(family, _socket.SOCK_STREAM)


def _tls_socket(family: int):
    import socket  # ssl wraps only socket.socket, and imports socket anyway

    return socket.socket(family, socket.SOCK_STREAM)
