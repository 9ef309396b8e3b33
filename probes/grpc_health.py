"""Client for the standard gRPC health service, grpc.health.v1.Health.

Check, Watch and List (gRFC A90) over plaintext, TLS, mutual TLS or a unix socket,
with per-call metadata, a user agent and gzip. Returns plain facts; raises ProbeError
when the server could not be asked at all.
"""

import os
import threading
import time
from dataclasses import dataclass, field

from healthprobes.probes.deadline import Deadline
from healthprobes.probes.errors import ProbeError
from healthprobes.probes.tls import TlsMaterial

# gRPC's C core logs handshake and connection failures to stderr; a check reports them
# itself, and under Categraf any stderr output makes the collector drop the run.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc
from healthprobes.probes import health_wire

SERVICE = "grpc.health.v1.Health"

# How long a kept channel reuses the certificates it read on an extra handshake
# (resident callers only: an exec run reads them at most once anyway). Days left are
# worked out from the certificates' own notAfter on every run, so the verdict follows
# the clock, thresholds crossed included, without reading again; a new read can only
# find a certificate the server has changed, renewed or rolled back. Renewals happen
# days or weeks before expiry (cert-manager at two thirds of the lifetime, kubeadm at
# upgrades), so seeing one up to five minutes late changes no alert, and a probe
# every few seconds pays one handshake per five minutes instead of one per run.
CHAIN_MAX_AGE = 300.0


@dataclass(frozen=True)
class TlsOptions:
    material: TlsMaterial = field(default_factory=TlsMaterial)
    server_name: str | None = None
    verify: bool = True


@dataclass(frozen=True)
class GrpcTarget:
    """Where and how to reach a gRPC server."""

    address: str
    tls: TlsOptions | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    user_agent: str = ""
    gzip: bool = False
    connect_timeout: float = 1.0
    rpc_timeout: float = 1.0


@dataclass(frozen=True)
class ServiceHealth:
    """One service's answer, or why there was none."""

    service: str
    status: str | None  # SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN; None if the RPC failed
    code: str = "OK"  # the gRPC status code of the call
    detail: str = ""  # the server's message when the call failed
    seconds: float = 0.0
    changes: tuple[str, ...] = ()  # statuses seen while watching, oldest first


class HealthClient:
    """One channel to one server; every call shares the caller's deadline."""

    def __init__(self, target: GrpcTarget, deadline: Deadline) -> None:
        self.target = target
        self.deadline = deadline
        self._relay = None
        self.channel = self._open_channel()
        self.connect_seconds = 0.0
        # Set by a resident caller once a run's calls were answered: the next run on
        # this kept channel may ask at once instead of watching the connectivity state
        # (a subscription makes grpcio start a thread per run).
        self.warm = False
        self._chain: tuple[float, list[bytes]] | None = None  # (read at, DER blobs)

    # -- channel ---------------------------------------------------------------------

    def _open_channel(self) -> grpc.Channel:
        target, tls = self.target, self.target.tls
        options: list[tuple[str, object]] = [
            # Reconnect quickly: a probe lives for seconds, not hours. (Not the *minimum*
            # backoff: gRPC also uses that as the connect timeout.)
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            ("grpc.enable_retries", 0),
        ]
        if target.user_agent:
            options.append(("grpc.primary_user_agent", target.user_agent))
        compression = grpc.Compression.Gzip if target.gzip else None
        address = target.address
        if tls is None:
            return grpc.insecure_channel(address, options, compression)
        if not tls.verify:
            from healthprobes.probes.address import split_host_port
            from healthprobes.probes.tls_relay import InsecureTlsRelay

            host, port = split_host_port(address, default_port=443)
            self._relay = InsecureTlsRelay(host, port, tls.server_name, tls.material,
                                           self.deadline)
            options.append(("grpc.default_authority", address))
            return grpc.insecure_channel(self._relay.address, options, compression)
        if tls.server_name:
            options.append(("grpc.ssl_target_name_override", tls.server_name))
            options.append(("grpc.default_authority", tls.server_name))
        credentials = grpc.ssl_channel_credentials(
            root_certificates=tls.material.ca_cert,
            private_key=tls.material.client_key,
            certificate_chain=tls.material.client_cert)
        return grpc.secure_channel(address, credentials, options, compression)

    def connect(self, wait: bool = False) -> float:
        """Connect and return the seconds it took.

        Without ``wait`` the first failed attempt ends it (and says why) and the connect
        timeout applies; with ``wait`` attempts go on until the deadline.
        """
        started = time.monotonic()
        timeout = self.deadline.remaining() if wait else self.deadline.cap(
            self.target.connect_timeout)
        seen = threading.Condition()
        states: list[grpc.ChannelConnectivity] = []

        def on_change(state: grpc.ChannelConnectivity) -> None:
            with seen:
                states.append(state)
                seen.notify_all()

        def settled() -> bool:
            return grpc.ChannelConnectivity.READY in states or (
                not wait and grpc.ChannelConnectivity.TRANSIENT_FAILURE in states)

        self.channel.subscribe(on_change, try_to_connect=True)
        try:
            with seen:
                seen.wait_for(settled, timeout)
        finally:
            self.channel.unsubscribe(on_change)
        if grpc.ChannelConnectivity.READY in states:
            self.connect_seconds = time.monotonic() - started
            if self._relay is not None:
                self.connect_seconds += self._relay.handshake_seconds
            return self.connect_seconds
        if grpc.ChannelConnectivity.TRANSIENT_FAILURE not in states:
            # Still connecting: TCP, TLS or HTTP/2 never completed (a silent listener, a
            # black-holed address). There is no error to ask gRPC about.
            raise ProbeError(self.target.address, f"no gRPC connection within {timeout:.1f}s "
                              "(TCP, TLS or HTTP/2 handshake not completed)", ProbeError.TIMEOUT)
        raise self._why_not_connected(timeout, wait)

    def _why_not_connected(self, waited: float, wait: bool) -> ProbeError:
        """Ask once without waiting for readiness: gRPC then tells the last connect error."""
        where = self.target.address
        try:
            self._check_call("", timeout=max(0.05, min(0.5, self.deadline.remaining())),
                             wait_for_ready=False)
        except grpc.RpcError as error:
            kind, message = describe_connect_failure(error.details() or "",
                                                     tls=self.target.tls is not None)
            if message:
                if wait:
                    message = f"not reachable within {waited:.1f}s: {message}"
                return ProbeError(where, message, kind)
        except Exception:
            pass
        return ProbeError(where, f"no connection within {waited:.1f}s", ProbeError.TIMEOUT)

    # -- the server's certificates ------------------------------------------------------

    def presented_certificates(self, max_age: float = CHAIN_MAX_AGE) -> list[bytes]:
        """The certificates the server presented, DER, leaf first ([] without TLS).

        Under --tls-no-verify they come from the relay's handshake, which gRPC's bytes
        go through. With verification, gRPC's own handshake is out of reach, so one
        extra handshake reads them (probes/tls_peek.py), within the connect timeout
        and the deadline; a kept channel reuses that read for ``max_age`` seconds.
        Raises ProbeError when the extra handshake fails.
        """
        tls = self.target.tls
        if tls is None:
            return []
        if self._relay is not None:
            return self._relay.peer_certificates
        now = time.monotonic()
        if self._chain is not None and now - self._chain[0] < max_age:
            return self._chain[1]
        chain = peek_server_chain(self.target, self.deadline)
        self._chain = (now, chain)
        return chain

    def close(self, wait: bool = True) -> None:
        """Close the channel; ``wait=False`` does it on a daemon thread.

        gRPC's close blocks while a connection attempt is in flight (0.16 s seen here
        against a silent listener), which a check about to exit need not wait for.
        """
        if self._relay is not None:
            self._relay.remove_path()  # at once: an exec run ends before the thread below
        if wait:
            self._close_now()
        else:
            threading.Thread(target=self._close_now, name="grpc-close", daemon=True).start()

    def _close_now(self) -> None:
        self.channel.close()
        if self._relay is not None:
            self._relay.close()

    def __enter__(self) -> "HealthClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------------

    def _method(self, name: str, decode, stream: bool = False):
        factory = self.channel.unary_stream if stream else self.channel.unary_unary
        return factory(f"/{SERVICE}/{name}", request_serializer=None, response_deserializer=decode)

    def _check_call(self, service: str, timeout: float, wait_for_ready: bool = True):
        return self._method("Check", health_wire.decode_check_response)(
            health_wire.encode_check_request(service), timeout=timeout,
            metadata=self.target.metadata or None, wait_for_ready=wait_for_ready)

    def check(self, services: list[str]) -> list[ServiceHealth]:
        """Ask every service at once over the one connection."""
        call = self._method("Check", health_wire.decode_check_response)
        timeout = self.deadline.cap(self.target.rpc_timeout)
        started = time.monotonic()
        if len(services) == 1:
            # One call: a blocking one. A future makes grpcio start a thread to drive it,
            # which costs a resident server more than the call itself.
            try:
                status, code, detail = call(health_wire.encode_check_request(services[0]),
                                            timeout=timeout,
                                            metadata=self.target.metadata or None), "OK", ""
            except grpc.RpcError as error:
                status, code, detail = None, error.code().name, error.details() or ""
            return [ServiceHealth(services[0], status, code, detail, time.monotonic() - started)]
        pending = []
        for service in services:
            future = call.future(health_wire.encode_check_request(service),
                                 timeout=timeout, metadata=self.target.metadata or None)
            # Each call's own time, taken when its answer arrives, not when we look.
            done_at: list[float] = []
            future.add_done_callback(lambda _f, box=done_at: box.append(time.monotonic()))
            pending.append((service, future, done_at))
        answers = []
        for service, future, done_at in pending:
            try:
                status, code, detail = future.result(), "OK", ""
            except grpc.RpcError as error:
                status, code, detail = None, error.code().name, error.details() or ""
            finished = done_at[0] if done_at else time.monotonic()
            answers.append(ServiceHealth(service, status, code, detail, finished - started))
        return answers

    def watch(self, service: str) -> ServiceHealth:
        """Follow Watch until the service is SERVING or the deadline passes."""
        started = time.monotonic()
        seen: list[str] = []
        stream = self._method("Watch", health_wire.decode_check_response, stream=True)(
            health_wire.encode_check_request(service), timeout=self.deadline.remaining(),
            metadata=self.target.metadata or None)
        code, detail = "OK", ""
        try:
            for status in stream:
                seen.append(status)
                if seen[-1] == "SERVING":
                    break
        except grpc.RpcError as error:
            code, detail = error.code().name, error.details() or ""
        finally:
            stream.cancel()
        status = seen[-1] if seen else None
        if status is not None and code == "DEADLINE_EXCEEDED":
            code, detail = "OK", ""  # it answered; it just never became SERVING in time
        return ServiceHealth(service, status, code, detail, time.monotonic() - started,
                             tuple(seen))

    def list_services(self) -> tuple[list[ServiceHealth], str | None]:
        """Every service the server reports (gRFC A90), or the call's failure code."""
        started = time.monotonic()
        try:
            statuses = self._method("List", health_wire.decode_list_response)(
                health_wire.encode_list_request(), timeout=self.deadline.cap(
                    self.target.rpc_timeout), metadata=self.target.metadata or None)
        except grpc.RpcError as error:
            return [], f"{error.code().name}: {error.details() or ''}".rstrip(": ")
        seconds = time.monotonic() - started
        return [ServiceHealth(name, status, seconds=seconds)
                for name, status in sorted(statuses.items())], None


def grpc_roots() -> str | None:
    """The CA bundle gRPC verifies with when no --tls-ca-cert is given: the file named
    by GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, else the one grpcio ships; None (the system's)
    if neither is there."""
    named = os.environ.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
    if named:
        return named
    shipped = os.path.join(os.path.dirname(grpc.__file__), "_cython", "_credentials",
                           "roots.pem")
    return shipped if os.path.isfile(shipped) else None


def peek_address(address: str) -> tuple[str, tuple[str, int] | str, str] | None:
    """Where a handshake of our own reaches the server gRPC dials, and the name it
    verifies by default: (shown as, host and port or a unix socket path, name). None
    for addresses gRPC resolves in ways we do not (unix-abstract:, vsock:, ipv4: lists)."""
    from healthprobes.probes.address import split_host_port

    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if path.startswith("//"):
            path = path[2:]
        return address, path, "localhost"  # gRPC's authority for unix sockets
    if address.startswith("dns:"):
        address = address[len("dns:"):]
        if address.startswith("//"):  # dns://resolver/host:port: the resolver is gRPC's
            address = address[2:].partition("/")[2]
    elif address.startswith(("unix-abstract:", "vsock:", "ipv4:", "ipv6:")):
        return None
    try:
        host, port = split_host_port(address, default_port=443)
    except ValueError:
        return None
    return address, (host, port), host


def peek_server_chain(target: GrpcTarget, deadline: Deadline) -> list[bytes]:
    """The certificates a verifying gRPC server presents, read on one extra handshake
    made with the channel's CA, client certificate and server name (a certificate the
    channel refuses for trust or name is refused here the same way; dates are left to
    the check). Raises ProbeError."""
    from healthprobes.probes.tls_peek import peek_chain

    assert target.tls is not None
    place = peek_address(target.address)
    if place is None:
        raise ProbeError(target.address, "the server's certificate is read only for "
                         "host:port, dns: and unix: addresses", ProbeError.CONFIG)
    where, address, default_name = place
    roots = None if target.tls.material.ca_path else grpc_roots()
    return peek_chain(where, address, target.tls.server_name or default_name,
                      target.tls.material, roots, deadline, target.connect_timeout)


# gRPC reports connection failures as free text; these are the forms it takes.
_CONNECT_FAILURES = (
    ("Connection refused", ProbeError.UNREACHABLE, "connection refused"),
    ("No such file or directory", ProbeError.UNREACHABLE, "no such unix socket"),
    ("DNS resolution failed", ProbeError.UNREACHABLE, "cannot resolve the host name"),
    ("errors resolving", ProbeError.UNREACHABLE, "cannot resolve the host name"),
    ("Network is unreachable", ProbeError.UNREACHABLE, "network is unreachable"),
    ("No route to host", ProbeError.UNREACHABLE, "no route to host"),
    ("Connection reset", ProbeError.UNREACHABLE, "connection reset by peer"),
    ("certificate has expired", ProbeError.TLS, "TLS: the server's certificate has expired"),
    ("CERTIFICATE_VERIFY_FAILED", ProbeError.TLS,
     "TLS: the server's certificate is not trusted (wrong CA, or expired)"),
    ("not in peer certificate", ProbeError.TLS,
     "TLS: the server's certificate does not name this host (see --tls-server-name)"),
    ("Hostname Verification", ProbeError.TLS,
     "TLS: the server's certificate does not name this host (see --tls-server-name)"),
    ("Peer name", ProbeError.TLS, "TLS: the server's certificate does not name this host"),
    ("WRONG_VERSION_NUMBER", ProbeError.TLS, "TLS handshake failed: the server does not speak TLS"),
    ("Ssl handshake failed", ProbeError.TLS, "TLS handshake failed"),
    ("handshake", ProbeError.TLS, "TLS handshake failed"),
    ("Socket closed", ProbeError.UNREACHABLE,
     "the server closed the connection (does it expect TLS? see --tls)"),
)


def describe_connect_failure(details: str, tls: bool = False) -> tuple[str, str]:
    """(kind, short message) for gRPC's description of a failed connection."""
    if tls and "Socket closed" in details:
        # Over TLS a server that hangs up has refused the handshake, most often for
        # want of a client certificate (TLS 1.3 tells the client only by closing).
        return ProbeError.TLS, ("the server closed the connection in the TLS handshake "
                                "(does it require a client certificate? see --tls-client-cert)")
    for needle, kind, message in _CONNECT_FAILURES:
        if needle.lower() in details.lower():
            if kind == ProbeError.TLS and "Ssl handshake failed" in details:
                reason = details.rsplit(":", 1)[-1].strip()
                if reason and reason not in message:
                    message = f"{message} ({reason})"
            return kind, message
    tail = details.rsplit("last error:", 1)[-1].strip()
    return ProbeError.UNREACHABLE, tail or "connection failed"
