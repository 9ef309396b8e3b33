"""TLS without server verification for gRPC, which cannot do it itself.

gRPC's Python API has no "skip verification" switch (grpc/grpc#15461), yet
grpc-health-probe's ``-tls-no-verify`` must work the same here. So the TLS session
is made by Python's ssl module with verification off, and gRPC talks plaintext
HTTP/2 to a private unix socket whose bytes a small thread relays into that session.
The handshake happens up front, so its errors are reported as what they are, and the
certificates the server presented are read from it.
"""

import contextlib
import os
import select
import selectors
import socket
import ssl
import tempfile
import threading
import time

from healthprobes.probes.deadline import Deadline
from healthprobes.probes.tls import TlsMaterial, presented_certificates
from healthprobes.probes.tls_peek import grpc_tls_context, open_tls


class InsecureTlsRelay:
    """Owns one unverified TLS connection and the unix socket gRPC dials instead."""

    def __init__(self, host: str, port: int, server_name: str | None,
                 material: TlsMaterial, deadline: Deadline) -> None:
        self._where = f"{host}:{port}"
        started = time.monotonic()
        self._tls = self._handshake(host, port, server_name, material, deadline)
        self.handshake_seconds = time.monotonic() - started
        # What the server presented, DER, leaf first: read from this handshake, so a
        # check that judges certificate expiry needs no second connection.
        self.peer_certificates = presented_certificates(self._tls)
        self._dir = tempfile.mkdtemp(prefix="healthprobes-")
        self.path = os.path.join(self._dir, "relay.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self._listener.listen(1)
        threading.Thread(target=self._serve, name="tls-relay", daemon=True).start()

    @property
    def address(self) -> str:
        return f"unix://{self.path}"

    def _handshake(self, host: str, port: int, server_name: str | None,
                   material: TlsMaterial, deadline: Deadline) -> ssl.SSLSocket:
        context = grpc_tls_context(self._where, material, verify=False)
        return open_tls(self._where, (host, port), server_name or host, context,
                        deadline.remaining())

    def _serve(self) -> None:
        try:
            plain, _ = self._listener.accept()
        except OSError:
            return
        self.remove_path()  # the one connection is made: nothing needs the socket file now
        self._tls.settimeout(None)
        self._tls.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(plain, selectors.EVENT_READ)
            selector.register(self._tls, selectors.EVENT_READ)
            while True:
                # Decrypted bytes may wait inside the SSL object with nothing left on the socket.
                ready = [self._tls] if self._tls.pending() else [
                    key.fileobj for key, _ in selector.select()]
                for sock in ready:
                    if not self._pump(sock, plain):
                        plain.close()
                        return

    def _pump(self, source: socket.socket, plain: socket.socket) -> bool:
        try:
            if source is plain:
                data = plain.recv(65536)
                if data:
                    self._send_tls(data)
            else:
                data = self._tls.recv(65536)
                if data:
                    plain.sendall(data)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return True
        except OSError:
            return False
        return bool(data)

    def _send_tls(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self._tls.send(view):]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                select.select([], [self._tls], [], 1.0)

    def remove_path(self) -> None:
        """Remove the socket file and its private directory (idempotent)."""
        for cleanup in (lambda: os.unlink(self.path), lambda: os.rmdir(self._dir)):
            with contextlib.suppress(OSError):
                cleanup()

    def close(self) -> None:
        for cleanup in (self._listener.close, self._tls.close):
            with contextlib.suppress(OSError):
                cleanup()
        self.remove_path()
