"""The one error a probe raises when it could not ask its target."""


class ProbeError(Exception):
    """The target could not be asked: nothing is known about its health.

    ``kind`` lets the judging side pick a state: an unreachable or silent target is
    CRITICAL by default but configurable (``--timeout-state``), a TLS or protocol
    failure is always a finding of its own.
    """

    UNREACHABLE = "unreachable"  # refused, no route, DNS failure, connection reset
    TIMEOUT = "timeout"  # connected or connecting, but no answer in time
    TLS = "tls"  # handshake failed: certificate, name, protocol
    PROTOCOL = "protocol"  # answered, but not in a form we understand
    CONFIG = "config"  # our own input is unusable (unreadable file, bad PEM)

    def __init__(self, target: str, message: str, kind: str = UNREACHABLE) -> None:
        super().__init__(f"{target}: {message}" if target else message)
        self.target = target
        self.message = message
        self.kind = kind

    @property
    def is_unreachable(self) -> bool:
        return self.kind in (self.UNREACHABLE, self.TIMEOUT)
