"""TLS material: read certificate files once, fail early and clearly on bad ones.

Shared by every probe that speaks TLS. gRPC aborts the whole interpreter on an
incomplete or unreadable key pair, and an unreadable CA file otherwise surfaces as
a vague handshake failure, so everything is checked here before a connection starts.
"""

from healthprobes.probes.errors import ProbeError


class TlsMaterial:
    """PEM bytes for one TLS client; None means "not given". Immutable and hashable (a
    kept connection is found by it). A plain class: dataclasses costs an https etcd
    check a few milliseconds of start-up."""

    __slots__ = ("ca_cert", "ca_path", "cert_path", "client_cert", "client_key", "key_path")

    def __init__(self, ca_cert: bytes | None = None, client_cert: bytes | None = None,
                 client_key: bytes | None = None, ca_path: str | None = None,
                 cert_path: str | None = None, key_path: str | None = None) -> None:
        # Paths are kept for libraries that want files (ssl, requests); never printed.
        for name, value in (("ca_cert", ca_cert), ("client_cert", client_cert),
                            ("client_key", client_key), ("ca_path", ca_path),
                            ("cert_path", cert_path), ("key_path", key_path)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TlsMaterial is immutable")

    def _fields(self) -> tuple:
        return (self.ca_cert, self.client_cert, self.client_key, self.ca_path,
                self.cert_path, self.key_path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TlsMaterial) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:  # names the files, never the key's bytes
        return f"TlsMaterial(ca={self.ca_path!r}, cert={self.cert_path!r})"


def _read_pem(path: str, what: str, marker: bytes) -> bytes:
    from healthprobes.probes.local_files import FileProblem, read_regular

    try:
        data = read_regular(path, 1 << 20)  # a PEM bundle over 1 MiB is not a PEM bundle
    except FileProblem as problem:
        raise ProbeError("", f"{what}: {problem}", ProbeError.CONFIG) from None
    if marker not in data:
        raise ProbeError("", f"{what} {path} is not PEM (no {marker.decode()} block)",
                         ProbeError.CONFIG)
    return data


def load_material(ca_path: str | None, cert_path: str | None,
                  key_path: str | None) -> TlsMaterial:
    """Read and sanity-check the files; a client certificate needs its key and vice versa."""
    if bool(cert_path) != bool(key_path):
        raise ProbeError("", "a client certificate and its key go together: give both or neither",
                         ProbeError.CONFIG)
    ca = _read_pem(ca_path, "CA certificate", b"-----BEGIN CERTIFICATE-----") if ca_path else None
    cert = key = None
    if cert_path and key_path:
        cert = _read_pem(cert_path, "client certificate", b"-----BEGIN CERTIFICATE-----")
        key = _read_pem(key_path, "client key", b"PRIVATE KEY-----")
        _check_pair(cert_path, key_path)
    return TlsMaterial(ca, cert, key, ca_path, cert_path, key_path)


def _check_pair(cert_path: str, key_path: str) -> None:
    import ssl  # only where a client certificate is used

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_path, key_path)
    except ssl.SSLError as error:
        raise ProbeError("", f"client key {key_path} does not match certificate {cert_path} "
                         f"({error.reason or error})", ProbeError.CONFIG) from None


_SSL_REASONS = {
    "WRONG_VERSION_NUMBER": "the server does not speak TLS",
    "CERTIFICATE_VERIFY_FAILED": "the server's certificate is not trusted",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust our client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server rejected our client certificate",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate",
}


def describe_ssl_error(error: BaseException) -> str:
    """A short reason from an ssl exception, without the library's noise."""
    detail = getattr(error, "verify_message", None)
    if detail:
        return str(detail)
    reason = getattr(error, "reason", None)
    if reason:
        return _SSL_REASONS.get(reason, reason.replace("_", " ").lower())
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def presented_certificates(secured) -> list[bytes]:
    """The certificates the peer sent in the handshake, DER, leaf first, as sent (not the
    verified path, which would add the local root). ssl made ``get_unverified_chain``
    public in Python 3.13 (returning DER bytes); 3.10-3.12 have it on the private
    ``_sslobj`` (returning certificate objects). Where neither answers,
    ``getpeercert(binary_form=True)`` gives the leaf, also with verification off."""
    raw = getattr(getattr(secured, "_sslobj", None), "get_unverified_chain", None)
    if raw is not None:
        import ssl

        try:
            chain = raw() or []
            return [certificate if isinstance(certificate, bytes)
                    else certificate.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                    for certificate in chain]
        except (ValueError, AttributeError):
            pass
    leaf = secured.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def client_context(ca_path: str | None = None, cert_path: str | None = None,
                   key_path: str | None = None, verify: bool = True):
    """An ssl.SSLContext for HTTPS clients: system roots unless a CA file is given.

    The files are read and checked first (:func:`load_material`) so that a missing file
    or a key that does not match is one clear line, not a handshake error.
    """
    import ssl

    load_material(ca_path, cert_path, key_path)
    context = ssl.create_default_context(cafile=ca_path) if verify else ssl.SSLContext(
        ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_path and key_path:
        context.load_cert_chain(cert_path, key_path)
    # Kept for the one handshake that must not verify (reading an expired certificate,
    # probes/http.py): a server demanding a client certificate wants it there too.
    context.client_files = (cert_path, key_path) if cert_path and key_path else None
    return context
