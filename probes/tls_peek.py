"""TLS handshakes made by Python's ssl for gRPC, which makes its own out of Python's reach.

grpcio neither skips verification (probes/tls_relay.py makes that handshake here) nor
shows a Python client the certificates the server presented. :func:`peek_chain` reads
them on one extra handshake of its own, made with what the gRPC channel uses (the CA,
the client certificate, the server name, ALPN h2) and closed at once.

It verifies as the channel does, trust and name, except dates: a certificate the
channel refuses for a wrong CA or name is refused here with the same reason, while an
expired or not yet valid one is still read, so the check can say how long ago it
expired instead of only that the handshake failed.
"""

from __future__ import annotations

import socket
import ssl

from healthprobes.probes.deadline import Deadline
from healthprobes.probes.errors import ProbeError
from healthprobes.probes.tls import TlsMaterial, describe_ssl_error, presented_certificates

NO_CHECK_TIME = 0x200000  # OpenSSL's X509_V_FLAG_NO_CHECK_TIME; ssl has no name for it


def grpc_tls_context(where: str, material: TlsMaterial, verify: bool,
                     roots: str | None = None) -> ssl.SSLContext:
    """A context for a gRPC server: ALPN h2 (gRPC servers refuse TLS without it), the
    client certificate when given; with ``verify``, the CA file (``roots``: gRPC's own
    bundle when the user named none, None for the system's) and the name, not dates.
    Files ssl cannot use are a ProbeError (CONFIG) for ``where``."""
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if verify:
            context.verify_flags |= NO_CHECK_TIME
            if material.ca_path or roots:
                context.load_verify_locations(cafile=material.ca_path or roots)
            else:
                context.load_default_certs()
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        if material.cert_path and material.key_path:
            context.load_cert_chain(material.cert_path, material.key_path)
    except (OSError, ssl.SSLError) as error:
        raise ProbeError(where, f"cannot use the TLS files ({describe_ssl_error(error)})",
                         ProbeError.CONFIG) from None
    return context


def open_tls(where: str, address: tuple[str, int] | str, server_name: str,
             context: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    """Connect (a unix socket path for a str address) and shake hands within ``timeout``
    seconds; failures as ProbeError with the handshake's own reason."""
    if timeout <= 0:  # a socket timeout of 0 would mean "do not block", not "no time"
        raise ProbeError(where, "no time left to connect", ProbeError.TIMEOUT)
    try:
        if isinstance(address, str):
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.settimeout(timeout)
            try:
                raw.connect(address)
            except BaseException:
                raw.close()
                raise
        else:
            raw = socket.create_connection(address, timeout=timeout)
            # gRPC writes small frames and waits for answers: Nagle would add 40 ms to each.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except TimeoutError:
        raise ProbeError(where, "TCP connect timed out", ProbeError.TIMEOUT) from None
    except OSError as error:
        raise ProbeError(where, (error.strerror or str(error)).lower()) from None
    try:
        return context.wrap_socket(raw, server_hostname=server_name)
    except TimeoutError:
        raw.close()
        raise ProbeError(where, "TLS handshake timed out", ProbeError.TIMEOUT) from None
    except (ssl.SSLError, OSError) as error:
        raw.close()
        raise ProbeError(where, f"TLS handshake failed: {describe_ssl_error(error)}",
                         ProbeError.TLS) from None


def peek_chain(where: str, address: tuple[str, int] | str, server_name: str,
               material: TlsMaterial, roots: str | None, deadline: Deadline,
               timeout: float) -> list[bytes]:
    """The certificates the server presents (DER, leaf first), read on a handshake of
    their own, verified for trust and name but not dates, within ``timeout`` seconds
    (capped by the deadline)."""
    context = grpc_tls_context(where, material, verify=True, roots=roots)
    secured = open_tls(where, address, server_name, context, deadline.cap(timeout))
    try:
        return presented_certificates(secured)
    finally:
        secured.close()
