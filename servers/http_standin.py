"""A recorded-answer HTTP stand-in, for what no server installable here can show.

Used for etcd's ``/livez`` and ``/readyz`` (etcd 3.5.11+; the answers are those
documented in docs/etcd.md) and for hostile or broken servers: HTML where
JSON belongs, invalid JSON, a gigantic body, a redirect, a body that never ends.
Listens on 127.0.0.1 only; each route is a function of the request path and query.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (status, headers, body) or (status, headers, iterator of body chunks)
Answer = tuple[int, dict[str, str], bytes | Iterator[bytes]]
Route = Callable[[str, str], Answer]


def fixed(status: int, body: bytes | str, content_type: str = "application/json") -> Route:
    data = body.encode() if isinstance(body, str) else body
    return lambda path, query: (status, {"Content-Type": content_type}, data)


READYZ_OK = ("[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n"
             "[+]non_learner ok\nok\n")
READYZ_FAILED = ("[+]data_corruption ok\n[+]serializable_read ok\n"
                 "[-]linearizable_read failed: etcdserver: leader changed\n[+]non_learner ok\n"
                 "readyz check failed\n")
LIVEZ_OK = "[+]serializable_read ok\nok\n"


def etcd_3_6_health_routes(ready: bool = True) -> dict[str, Route]:
    """/livez, /readyz (verbose or not) and /health as a 3.5.11+/3.6 member answers."""
    def readyz(path: str, query: str) -> Answer:
        if ready:
            body = READYZ_OK if "verbose" in query else "ok"
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, body.encode()
        body = READYZ_FAILED if "verbose" in query else "readyz check failed\n"
        return 503, {"Content-Type": "text/plain; charset=utf-8"}, body.encode()

    def livez(path: str, query: str) -> Answer:
        body = LIVEZ_OK if "verbose" in query else "ok"
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, body.encode()

    health = '{"health":"true","reason":""}' if ready else (
        '{"health":"false","reason":"RAFT NO LEADER"}')
    return {"/livez": livez, "/readyz": readyz,
            "/health": fixed(200 if ready else 503, health)}


def echo(status: int, wrap: Callable[[str], str] = lambda text: text) -> Route:
    """An answer that repeats the request's headers and body back (``wrap`` shapes it):
    what a careless or hostile server does with the credentials it was sent."""
    def route(path: str, query: str) -> Answer:
        raise AssertionError("answered by the handler, which sees the request")

    route.echo = (status, wrap)  # type: ignore[attr-defined]
    return route


def endless(chunk: bytes = b"x" * 65536, pause: float = 0.0) -> Iterator[bytes]:
    while True:
        yield chunk
        if pause:
            time.sleep(pause)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, Route] = {}  # noqa: RUF012 - set per server class
    seen: list[tuple[str, str, dict[str, str]]] = []  # noqa: RUF012

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _answer(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, dict(self.headers)))
        route = self.routes.get(path)
        if route is None:
            status, headers, body = 404, {"Content-Type": "text/plain"}, b"404 page not found\n"
        elif hasattr(route, "echo"):
            status, wrap = route.echo
            # Credentials first, so that even a short quote of the answer holds them.
            ordered = sorted(self.headers.items(), key=lambda item: item[0] != "Authorization")
            request = "".join(f"{name}: {value}; " for name, value in ordered)
            body = wrap(request + sent.decode("utf-8", "replace")).encode()
            headers = {"Content-Type": "text/plain"}
        else:
            status, headers, body = route(path, query)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        try:
            if isinstance(body, bytes):
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                if "Content-Length" not in headers:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in body:
                    if "Content-Length" in headers:
                        self.wfile.write(chunk)
                    else:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = _answer


@contextlib.contextmanager
def standin(routes: dict[str, Route]) -> Iterator[tuple[str, list]]:
    """Serve ``routes`` on a free loopback port; yields (base URL, requests seen)."""
    handler = type("Handler", (_Handler,), {"routes": routes, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()
