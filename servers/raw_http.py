"""A raw-socket HTTP server that sends exactly the bytes it is given, right or wrong.

http.server writes well-formed HTTP whatever one asks of it; the hostile answers a
client must survive (a negative chunk size, two Content-Lengths, a bare LF, an
interim 100 before the answer, a gzip stream cut short) need a server that frames
nothing itself. Each request is read (its head, and a body of the Content-Length it
announces), recorded with the connection it came on, and answered by a function of
it. Listens on 127.0.0.1 (or ::1) only; stopped, with every connection it holds, when
its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator


class Reply:
    """What to send for one request: byte pieces in order, a pause before each after
    the first, and whether to close the connection afterwards. ``pieces`` may be
    endless (a generator): it is sent until the client goes away or the server stops.
    """

    def __init__(self, pieces: bytes | Iterable[bytes], close: bool = False,
                 pause: float = 0.0) -> None:
        self.pieces = [pieces] if isinstance(pieces, bytes) else pieces
        self.close, self.pause = close, pause


class Request:
    """One request as received: its raw head and body, and the connection it came on."""

    def __init__(self, head: bytes, body: bytes, connection: int, index: int) -> None:
        self.head, self.body = head, body
        self.connection = connection  # the how-manieth connection accepted (from 0)
        self.index = index  # the how-manieth request on that connection (from 0)
        self.request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = self.request_line.split(" ")
        self.method = parts[0]
        self.target = parts[1] if len(parts) > 1 else ""
        self.path = self.target.partition("?")[0]


Respond = Callable[[Request], "Reply | bytes | None"]


def in_order(*replies: Reply | bytes) -> Respond:
    """The n-th request on each connection gets the n-th reply; after the last, the
    connection is closed."""
    return lambda request: replies[request.index] if request.index < len(replies) else None


def by_path(routes: dict[str, Reply | bytes]) -> Respond:
    """A reply per path (without the query); other paths get a plain 404."""
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    return lambda request: routes.get(request.path, missing)


class RawHttpServer:
    def __init__(self, respond: Respond, host: str = "127.0.0.1") -> None:
        self.respond = respond
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        self.requests: list[Request] = []
        self.connections = 0
        self._open: list[socket.socket] = []
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                number = self.connections
                self.connections += 1
                self._open.append(connection)
            threading.Thread(target=self._serve, args=(connection, number), daemon=True).start()

    def _serve(self, connection: socket.socket, number: int) -> None:
        pending = b""
        try:
            for index in range(1 << 30):
                request, pending = self._read_request(connection, pending, number, index)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                reply = self.respond(request)
                if reply is None:
                    return
                if isinstance(reply, bytes):
                    reply = Reply(reply)
                for count, piece in enumerate(reply.pieces):
                    if self._stopped.is_set():
                        return
                    if count and reply.pause:
                        time.sleep(reply.pause)
                    connection.sendall(piece)
                if reply.close:
                    return
        except OSError:  # the client went away: nothing more to send
            return
        finally:
            with contextlib.suppress(OSError):
                connection.close()

    @staticmethod
    def _read_request(connection: socket.socket, pending: bytes, number: int,
                      index: int) -> tuple[Request | None, bytes]:
        while b"\r\n\r\n" not in pending:
            data = connection.recv(65536)
            if not data:
                return None, b""
            pending += data
        head, _, pending = pending.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(pending) < length:
            data = connection.recv(65536)
            if not data:
                return None, b""
            pending += data
        return Request(head, pending[:length], number, index), pending[length:]

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    connection.close()


@contextlib.contextmanager
def raw_http_server(respond: Respond, host: str = "127.0.0.1") -> Iterator[RawHttpServer]:
    """Serve on a free port of ``host``; stopped when the block ends, whatever happens."""
    server = RawHttpServer(respond, host)
    try:
        yield server
    finally:
        server.stop()


def endless(piece: bytes, first: bytes = b"") -> Iterator[bytes]:
    """``first`` (a head, say), then the same piece again and again: a body that never
    ends."""
    if first:
        yield first
    while True:
        yield piece
