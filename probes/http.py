"""A small HTTP/1.1 client for talking to one server under a deadline.

Why not requests or http.client: importing requests takes longer than a whole
``etcdctl endpoint health`` run, and even ``socket`` (enum, selectors) and
``http.client`` (email parsing) cost a health check several milliseconds of its
budget. Plain HTTP here uses the C ``_socket`` module directly; TLS imports ``ssl``
only when a URL asks for it. It is one code path for every endpoint of every check.

What it guarantees: every step (name lookup, connect, TLS handshake, each read) ends
by the deadline; a body is never read or decoded past ``max_body`` bytes, whatever
its framing (Content-Length, chunked, until close) or content coding (gzip); an
answer that breaks a framing rule of RFC 9112 (see :mod:`healthprobes.probes.http_wire`)
is a PROTOCOL error in one line and its connection is closed, never reused; 1xx
interim answers are skipped (RFC 9110 15.2); redirects are reported, not followed;
one keep-alive connection serves several requests to the same server. What is sent
is checked too (:mod:`healthprobes.probes.http_url`): paths and query values are
percent-encoded, and a control character in a URL, path, query value or header value
is refused before anything is sent.

tests/test_http_oracle.py holds this client against requests over a corpus of
well-formed and hostile answers.
"""

from __future__ import annotations

import _socket

from healthprobes.probes.errors import ProbeError
from healthprobes.probes.http_url import (
    InvalidRequest,
    Url,
    has_control,
    header_line,
    is_ip_literal,
    requote,
)
from healthprobes.probes.http_url import parse_url as parse_url  # what callers import from here
from healthprobes.probes.http_url import query_string as query_string
from healthprobes.probes.http_wire import (
    CHUNKED,
    LENGTH,
    MAX_CHUNK_LINE_BYTES,
    MAX_HEAD_BYTES,
    MAX_LINE_BYTES,
    NO_BODY,
    Head,
    Malformed,
    body_framing,
    check_line_ends,
    chunk_size,
    parse_field_line,
    parse_status_line,
    quoted,
    server_text,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    from healthprobes.probes.deadline import Deadline

LARGE_BODY = 1 << 20  # above this, a body with a known length is read into one buffer
DEFAULT_MAX_BODY = 4 * 1024 * 1024  # etcd's JSON answers are a few KB; a member list of
# hundreds of members stays far below this
MAX_INTERIM_ANSWERS = 16  # 1xx answers skipped before the final one; more is a loop
RECEIVE_BYTES = 65536


class Response:
    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    @property
    def content_type(self) -> str:
        """The media type, lower case; printable and capped, as messages quote it."""
        return server_text(self.headers.get("content-type", "").split(";")[0].lower(), 100)

    def header_text(self, name: str, default: str = "") -> str:
        """A header's value fit to quote in a message: printable and capped."""
        value = self.headers.get(name)
        return default if value is None else server_text(value)

    def snippet(self, limit: int = 60) -> str:
        """The start of the body, printable, for messages about answers we cannot use."""
        return quoted(self.body, limit)


def resolve(url: Url, deadline: Deadline) -> list[tuple]:
    """(family, socket address) for the URL's host, the lookup bounded by the deadline.

    getaddrinfo cannot be interrupted, so a name is looked up on a side thread and
    waited for only as long as the deadline allows; an IP literal needs no lookup. The
    socket address is kept whole: an IPv6 one carries its scope id (``fe80::1%eth0``).
    """
    if is_ip_literal(url.host):
        family = _socket.AF_INET6 if ":" in url.host else _socket.AF_INET
        return [(family, (url.host, url.port))]
    if "%" in url.host and is_ip_literal(url.host.partition("%")[0]):
        try:  # a numeric address with a zone: no lookup, it only reads the interface
            found = _socket.getaddrinfo(url.host, url.port, _socket.AF_INET6,
                                        _socket.SOCK_STREAM, 0, _socket.AI_NUMERICHOST)
        except OSError as error:
            reason = error.args[-1] if error.args else error
            raise ProbeError(url.text, f"cannot use the address {url.host!r} ({reason}; is "
                             "the zone a network interface here?)") from None
        return [(family, address) for family, _, _, _, address in found]
    import _thread

    answer: list = []
    done = _thread.allocate_lock()
    done.acquire()

    def lookup() -> None:
        try:
            answer.append(_socket.getaddrinfo(url.host, url.port, 0, _socket.SOCK_STREAM))
        except (OSError, UnicodeError) as error:  # UnicodeError: a name IDNA cannot encode
            answer.append(error)
        finally:
            done.release()

    _thread.start_new_thread(lookup, ())
    if not done.acquire(True, max(0.001, deadline.remaining())):
        raise ProbeError(url.text, f"no answer resolving {url.host!r} in time",
                         ProbeError.TIMEOUT)
    if isinstance(answer[0], Exception):
        reason = answer[0].args[-1] if answer[0].args else answer[0]
        raise ProbeError(url.text, f"cannot resolve {url.host!r} ({reason})")
    return [(family, address) for family, _, _, _, address in answer[0]]


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
        self.server_name = server_name or url.host.partition("%")[0]
        self.client_cert = client_cert  # whether the TLS context carries one, for messages
        self._sock = None
        self._buffer = b""  # received and not yet used: bytes from _position on
        self._position = 0
        # The certificates the server presented in the last handshake, DER, leaf first:
        # raw bytes only, kept for a check that judges them (parsing costs an import).
        self.peer_certificates: list[bytes] = []

    def close(self) -> None:
        if self._sock is not None:
            try:  # noqa: SIM105 - contextlib would cost an import on every run
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        self._buffer, self._position = b"", 0

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

    # --- connecting ---------------------------------------------------------------

    def _open(self) -> None:
        """Connect to the first address that takes the connection.

        A name may resolve to several addresses (IPv6 and IPv4, several A records); one
        that times out or refuses must not decide for the others, so each but the last
        gets an equal share of what is left of the deadline, and the last the rest.
        """
        addresses = resolve(self.url, self.deadline)
        errors: list[ProbeError] = []
        for index, (family, address) in enumerate(addresses):
            left = self._timeout("connecting")
            sock = (_plain_socket if self.tls is None else _tls_socket)(family)
            try:
                sock.settimeout(left / (len(addresses) - index))
                sock.connect(address)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            except OSError as error:
                sock.close()
                errors.append(_socket_error(self.url, error, "connecting"))
                continue
            if self.tls is not None:
                sock = self._handshake(sock)
            self._sock = sock
            return
        if not errors:
            raise ProbeError(self.url.text, "no address to connect to")
        if len(errors) == 1:
            raise errors[0]
        # The most telling failure: a refusal says more than silence.
        error = min(errors, key=lambda error: error.kind == ProbeError.TIMEOUT)
        raise ProbeError(self.url.text, f"{error.message} on all {len(errors)} addresses of "
                         f"{self.url.host}", error.kind)

    def _handshake(self, sock):
        import ssl

        from healthprobes.probes.tls import describe_ssl_error, presented_certificates

        try:
            address = sock.getpeername()
            sock.settimeout(self._timeout("TLS handshake"))
            secured = self.tls.wrap_socket(sock, server_hostname=self.server_name)  # type: ignore[union-attr]
            self.peer_certificates = presented_certificates(secured)
            return secured
        except ssl.SSLError as error:
            sock.close()
            reason = describe_ssl_error(error)
            if isinstance(error, ssl.SSLCertVerificationError):
                expired = (self._expired_leaf(address)
                           if error.verify_code == _CERT_HAS_EXPIRED else "")
                reason = (f"the server's certificate failed verification ({expired or reason}; "
                          "see --cacert)")
            elif getattr(error, "reason", "") in _NOT_TLS and self._speaks_plain_http(address):
                reason = "the server does not speak TLS: it answers plain HTTP (use http://)"
            elif not self.client_cert and getattr(error, "reason", "") in _WANTS_CLIENT_CERT:
                reason = "the server requires a client certificate (see --cert and --key)"
            raise ProbeError(self.url.text, f"TLS handshake failed: {reason}",
                             ProbeError.TLS) from None
        except OSError as error:
            sock.close()
            if isinstance(error, TimeoutError):
                raise _socket_error(self.url, error, "TLS handshake") from None
            if self._speaks_plain_http(address):
                raise ProbeError(self.url.text, "TLS handshake failed: the server does not "
                                 "speak TLS: it answers plain HTTP (use http://)",
                                 ProbeError.TLS) from None
            # A server that hangs up in the handshake most often wants a client certificate
            # (TLS 1.3 tells the client only by closing).
            raise ProbeError(self.url.text, "the server closed the connection in the TLS "
                             "handshake (does it require a client certificate? see --cert and "
                             "--key)", ProbeError.TLS) from None

    def _expired_leaf(self, address: tuple) -> str:
        """How long ago the server's certificate expired, read through a second handshake
        that does not verify: only on this failure path, within a short part of the
        deadline; "" when that handshake fails too."""
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        client_files = getattr(self.tls, "client_files", None)
        try:
            if client_files:
                context.load_cert_chain(*client_files)
            probe = _tls_socket(_socket.AF_INET6 if ":" in address[0] else _socket.AF_INET)
        except (OSError, ssl.SSLError):
            return ""
        try:
            probe.settimeout(min(0.5, max(0.01, self.deadline.remaining() / 4)))
            probe.connect(address)
            with context.wrap_socket(probe, server_hostname=self.server_name) as secured:
                leaf = secured.getpeercert(binary_form=True)
        except OSError:
            return ""
        finally:
            probe.close()
        from healthprobes.probes.certificates import expired_words

        return expired_words(leaf) if leaf else ""

    def _speaks_plain_http(self, address: tuple) -> bool:
        """Whether the server behind a failed handshake answers plain HTTP: asked on a
        second connection, only on this failure path, within a short part of the
        deadline. An https:// URL for an http:// member is the usual cause."""
        try:
            probe = _plain_socket(_socket.AF_INET6 if ":" in address[0] else _socket.AF_INET)
        except OSError:
            return False
        try:
            probe.settimeout(min(0.5, max(0.01, self.deadline.remaining() / 4)))
            probe.connect(address)
            probe.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            return probe.recv(8).startswith(b"HTTP/1.")
        except OSError:
            return False
        finally:
            probe.close()

    def _still_usable(self) -> bool:
        """Whether the kept-alive connection may carry the next request.

        Nothing may have arrived since the last answer ended: bytes the server sent
        unasked (past a 204, past a Content-Length) would be read as the next answer,
        and readable-with-nothing means it has closed. Either way: a new connection.
        """
        if self._position < len(self._buffer):
            return False
        if self.tls is None:  # a peek that does not wait: no data and no EOF raises
            try:
                self._sock.settimeout(0.0)  # type: ignore[union-attr]
                self._sock.recv(1, _socket.MSG_PEEK)  # type: ignore[union-attr]
            except BlockingIOError:
                return True
            except OSError:
                return False
            return False
        if self._sock.pending():  # type: ignore[union-attr]  # decrypted, not yet read
            return False
        import select

        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        return not poller.poll(0)

    # --- one exchange -------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request and read its whole answer (at most ``max_body`` bytes, after
        content decoding too). ``path`` is put under the URL's path; "" means the URL's
        own path, or ``/``."""
        payload = self._request_bytes(method, path, body, headers or {})
        if self._sock is not None and not self._still_usable():
            self.close()
        fresh = self._sock is None
        if fresh:
            self._open()
        try:
            self._send(payload)
            response = self._read_response(method, reused=not fresh)
        except _Reused:
            self.close()
            if fresh:
                raise ProbeError(self.url.text, "the server closed the connection",
                                 ProbeError.UNREACHABLE) from None
            # The server closed the kept-alive connection before our request: ask again once.
            return self.request(method, path, body, headers)
        except Malformed as error:
            self.close()  # RFC 9112 6.3: close it, never reuse it
            raise ProbeError(self.url.text, f"invalid HTTP answer: {error}",
                             ProbeError.PROTOCOL) from None
        except BaseException:
            self.close()  # whatever broke mid-answer, what is left on the wire is unknown
            raise
        coding = response.headers.get("content-encoding")
        if coding is not None and response.body:
            from healthprobes.probes.content_coding import decode

            response.body = decode(response.body, coding, self.max_body, self.url.text)
        return response

    def _request_bytes(self, method: str, path: str, body: bytes | None,
                       given: dict[str, str]) -> bytes:
        if has_control(path):
            raise InvalidRequest(f"a control character in the path {path!r}")
        lines = [f"{method} {self.url.target(requote(path))} HTTP/1.1",
                 f"Host: {self.url.host_header}", "User-Agent: healthprobes"]
        if not any(name.lower() == "accept-encoding" for name in given):
            # Unencoded unless the caller asks for a coding, which request() then undoes.
            lines.append("Accept-Encoding: identity")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        lines += [header_line(name, value) for name, value in given.items()]
        try:
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise InvalidRequest("a header value that is not text") from None
        return head + (body or b"")

    def _send(self, payload: bytes) -> None:
        try:
            self._sock.settimeout(self._timeout("sending the request"))  # type: ignore[union-attr]
            self._sock.sendall(payload)  # type: ignore[union-attr]
        except (BrokenPipeError, ConnectionResetError):
            raise _Reused() from None
        except OSError as error:
            self.close()
            raise _socket_error(self.url, error, "sending the request") from None

    # --- receiving ----------------------------------------------------------------

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

    def _fill(self, step: str) -> bool:
        """Receive more into the buffer; False when the server has closed."""
        chunk = self._receiving(step, lambda sock: sock.recv(RECEIVE_BYTES))
        if not chunk:
            return False
        self._buffer = self._buffer[self._position:] + chunk
        self._position = 0
        return True

    def _take(self, length: int) -> bytes:
        """Up to ``length`` buffered bytes."""
        start = self._position
        self._position = min(len(self._buffer), start + length)
        return self._buffer[start:self._position]

    def _line(self, limit: int, what: str, step: str = "reading the answer") -> bytes | None:
        """The next CRLF-ended line, without its CRLF; None when the server closed
        before it began."""
        while True:
            end = self._buffer.find(b"\r\n", self._position)
            if end >= 0:
                line = self._buffer[self._position:end]
                if len(line) > limit:
                    raise Malformed(f"{what} is longer than {limit} bytes")
                check_line_ends(line)
                self._position = end + 2
                return line
            waiting = len(self._buffer) - self._position
            if waiting > limit:
                raise Malformed(f"{what} is longer than {limit} bytes")
            if self._buffer.find(b"\n", self._position) >= 0:
                check_line_ends(self._buffer[self._position:])  # fail now, not at the deadline
            if not self._fill(step):
                if not waiting:
                    return None
                raise Malformed(f"the answer ended inside {what}")

    def _read_head(self, reused: bool) -> Head:
        try:
            line = self._line(MAX_LINE_BYTES, "the status line", "waiting for the answer")
        except Malformed:
            start = self._buffer[self._position:self._position + 60]
            if not b"HTTP/1.".startswith(start[:7]):
                raise self._not_http(start) from None
            raise
        if line is None:
            raise self._closed_without_answer(reused)
        parsed = parse_status_line(line)
        if parsed is None:
            raise self._not_http(line)
        head = Head(*parsed)
        self._read_fields(head, len(line))
        return head

    def _not_http(self, start: bytes) -> ProbeError:
        self.close()
        got = quoted(start)
        if start[:1] == b"\x15":
            got = "a TLS alert: the port speaks TLS, use https://"
        return ProbeError(self.url.text, f"not an HTTP server (got {got})", ProbeError.PROTOCOL)

    def _read_fields(self, head: Head | None, used: int) -> None:
        """Field lines up to the empty line: a head's, or trailers (``head`` None: read
        by the same rules and dropped)."""
        while True:
            line = self._line(MAX_LINE_BYTES, "a header line")
            if line is None:
                raise Malformed("the answer ended inside its header")
            if not line:
                return
            used += len(line) + 2
            if used > MAX_HEAD_BYTES:
                raise Malformed(f"the header is larger than {MAX_HEAD_BYTES // 1024} KiB")
            name, value = parse_field_line(line)
            if head is not None:
                head.add(name, value)

    def _closed_without_answer(self, reused: bool) -> Exception:
        if reused:
            return _Reused()
        self.close()
        hint = " (is it a TLS port? use https://)" if self.tls is None else ""
        return ProbeError(self.url.text, f"the server closed the connection without "
                          f"answering{hint}", ProbeError.PROTOCOL)

    def _read_response(self, method: str, reused: bool) -> Response:
        for _ in range(MAX_INTERIM_ANSWERS + 1):
            head = self._read_head(reused)
            reused = False
            if head.status >= 200:
                break
            if head.status == 101:
                raise Malformed("the server switched protocols (101), which was not asked")
            # 1xx (100 Continue, 103 Early Hints, ...): interim, no body; the answer follows.
        else:
            raise Malformed(f"more than {MAX_INTERIM_ANSWERS} interim (1xx) answers")
        framing, length = body_framing(head, method)
        if framing == NO_BODY:
            body = b""
        elif framing == CHUNKED:
            body = self._read_chunked()
        elif framing == LENGTH:
            if length > self.max_body:
                raise self._too_big(f"{length} bytes announced")
            body = self._read_exactly(length)
        else:
            body = self._read_to_close()
        if not head.keeps_alive:
            self.close()
        return Response(head.status, head.reason, head.fields, body)

    def _too_big(self, what: str) -> ProbeError:
        self.close()  # never read the rest of an answer that is too big: drop the connection
        return ProbeError(self.url.text, f"answer too large ({what}; the limit is "
                          f"{self.max_body} bytes)", ProbeError.PROTOCOL)

    def _ended_early(self, have: int, length: int) -> Malformed:
        return Malformed(f"the answer ended after {have} of {length} bytes")

    def _read_exactly(self, length: int) -> bytes:
        data = self._take(length)
        if len(data) == length:
            return data
        if length > LARGE_BODY:
            return self._read_into(length, data)
        # Pieces joined once: growing one bytes object chunk by chunk is quadratic.
        parts, have = [data], len(data)
        while have < length:
            if not self._fill("reading the answer"):
                raise self._ended_early(have, length)
            piece = self._take(length - have)
            parts.append(piece)
            have += len(piece)
        return b"".join(parts)

    def _read_into(self, length: int, start: bytes) -> bytes:
        """A large body received straight into the one bytes object returned.

        io.BufferedReader.read(n) allocates its result once and has the raw stream
        fill it in place: a 30 MB scrape is in memory once, where a bytearray or
        joined pieces would hold it twice for a moment. (io is loaded with the
        interpreter: nothing is imported here.)
        """
        import io

        connection = self

        class Body(io.RawIOBase):
            """The rest of this body: what was buffered, then the socket, never past
            ``length`` (the bytes after it belong to no one yet)."""

            def __init__(self) -> None:
                self.pending, self.left = start, length - len(start)

            def readable(self) -> bool:
                return True

            def readinto(self, into) -> int:  # type: ignore[override]
                if self.pending:
                    count = min(len(into), len(self.pending))
                    into[:count] = self.pending[:count]
                    self.pending = self.pending[count:]
                    return count
                window = memoryview(into)[:min(len(into), self.left)]
                got = connection._receiving("reading the answer",
                                            lambda sock: sock.recv_into(window))
                window.release()
                self.left -= got
                return got

        body = io.BufferedReader(Body(), LARGE_BODY).read(length)
        if len(body) < length:
            raise self._ended_early(len(body), length)
        return body

    def _read_chunked(self) -> bytes:
        """A chunked body (RFC 9112 7.1): the decoded size is held to ``max_body``
        before each chunk is read, and each chunk's data must end in CRLF.

        Chunks that lie whole in the buffer are taken without a call per step: a server
        sending 1-byte chunks makes this loop run a million times for 1 MiB.
        """
        body = bytearray()  # not a list of pieces: a million 1-byte chunks stay 1 MB
        while True:
            buffer, start = self._buffer, self._position
            end = buffer.find(b"\r\n", start, start + MAX_CHUNK_LINE_BYTES + 2)
            if end >= 0:
                line = buffer[start:end]  # chunk_size refuses any CR or LF left in it
                self._position = end + 2
            else:
                line = self._line(MAX_CHUNK_LINE_BYTES, "a chunk size line")
                if line is None:
                    raise Malformed("the answer ended before its last chunk")
            size = chunk_size(line)
            if size == 0:
                break
            if len(body) + size > self.max_body:
                raise self._too_big(f"more than {self.max_body} bytes sent")
            data_start = self._position
            data_end = data_start + size
            if data_end + 2 <= len(self._buffer):
                body += self._buffer[data_start:data_end]
                end_of_data = self._buffer[data_end:data_end + 2]
                self._position = data_end + 2
            else:
                body += self._read_exactly(size)
                end_of_data = self._read_exactly(2)
            if end_of_data != b"\r\n":
                raise Malformed(f"bytes after a chunk's data where its CRLF belongs "
                                f"({end_of_data!r})")
        self._read_fields(None, 0)  # the trailer section, read by the header rules
        return bytes(body)

    def _read_to_close(self) -> bytes:
        body = bytearray(self._take(self.max_body + 1))
        while len(body) <= self.max_body:
            if not self._fill("reading the answer"):
                break
            body += self._take(self.max_body + 1 - len(body))
        self.close()
        if len(body) > self.max_body:
            raise self._too_big(f"more than {self.max_body} bytes sent")
        return bytes(body)


# Alerts a server sends when it wants a client certificate it did not get.
# What OpenSSL says when the other side does not speak TLS at all (it sent an HTTP
# answer, or hung up on the hello): worth asking whether it speaks plain HTTP.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "UNEXPECTED_EOF_WHILE_READING", "RECORD_LAYER_FAILURE",
            "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST")
_WANTS_CLIENT_CERT = ("SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED",
                      "SSLV3_ALERT_HANDSHAKE_FAILURE")


_CERT_HAS_EXPIRED = 10  # OpenSSL's X509_V_ERR_CERT_HAS_EXPIRED


class _Reused(Exception):
    """A kept-alive connection turned out closed by the server before our request."""


def _plain_socket(family: int):
    return _socket.socket(family, _socket.SOCK_STREAM)


def _tls_socket(family: int):
    import socket  # ssl wraps only socket.socket, and imports socket anyway

    return socket.socket(family, socket.SOCK_STREAM)
