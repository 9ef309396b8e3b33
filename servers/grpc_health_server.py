"""A real grpcio server with the standard health service, for the demo and the tests."""

import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

STATUS = health_pb2.HealthCheckResponse


class RecordingHealthServicer(health.HealthServicer):
    """The library's servicer, remembering the metadata each call brought."""

    def __init__(self, with_list: bool = False, check_delay: float = 0.0) -> None:
        super().__init__()
        self.metadata_seen: list[dict[str, str]] = []
        self.peers_seen: set[str] = set()  # one client address and port per connection
        self._check_delay = check_delay  # a handler that is slow to answer
        self._with_list = with_list
        self._statuses: dict[str, int] = {"": STATUS.SERVING}

    def _remember(self, context: grpc.ServicerContext) -> None:
        self.metadata_seen.append({k: v for k, v in context.invocation_metadata()})
        self.peers_seen.add(context.peer())

    def Check(self, request, context):
        self._remember(context)
        if self._check_delay:
            time.sleep(self._check_delay)
        return super().Check(request, context)

    def Watch(self, request, context, send_response_callback=None):
        self._remember(context)
        return super().Watch(request, context, send_response_callback)

    def set(self, service: str, status: int) -> None:
        self._statuses[service] = status
        super().set(service, status)

    def List(self, request, context):
        self._remember(context)
        if not self._with_list:
            return super().List(request, context)  # UNIMPLEMENTED, as the library ships it
        return health_pb2.HealthListResponse(statuses={
            name: health_pb2.HealthCheckResponse(status=status)
            for name, status in self._statuses.items()})


@dataclass
class RunningServer:
    server: grpc.Server
    address: str
    servicer: RecordingHealthServicer | None
    extra: dict = field(default_factory=dict)

    def set(self, service: str, status: str) -> None:
        assert self.servicer is not None
        self.servicer.set(service, STATUS.ServingStatus.Value(status))


@contextmanager
def health_server(address: str = "127.0.0.1:0", *, statuses: dict[str, str] | None = None,
                  with_health: bool = True, with_list: bool = False, check_delay: float = 0.0,
                  credentials: grpc.ServerCredentials | None = None) -> Iterator[RunningServer]:
    """Start a server on ``address`` (port 0 picks one; ``unix:`` paths work) and stop it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = None
    if with_health:
        servicer = RecordingHealthServicer(with_list=with_list, check_delay=check_delay)
        for name, status in (statuses or {}).items():
            servicer.set(name, STATUS.ServingStatus.Value(status))
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    bound = address if address.startswith("unix:") else f"{address.rsplit(':', 1)[0]}:{port}"
    server.start()
    try:
        yield RunningServer(server, bound, servicer)
    finally:
        server.stop(grace=None)


@contextmanager
def silent_listener(accepted: list[socket.socket] | None = None) -> Iterator[str]:
    """A TCP port that accepts connections and never says a word; the connections it
    accepted go into ``accepted`` when given (a test counts them)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted = [] if accepted is None else accepted
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def free_port() -> int:
    """A port nobody listens on (bound then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_until_stdin_closes() -> None:
    """Run one server in a process of its own, print its address, stop at end of input:
    for benchmarks that keep the server's CPU and GIL out of the process they measure from."""
    with health_server() as server:
        print(server.address, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    serve_until_stdin_closes()
