"""Certificates as plain facts: who, by whom, valid from when until when, for which names.

Read from PEM files (``check_etcd certs``) or from the DER bytes a TLS handshake
delivered. Nothing here judges: days left, thresholds and wording are the checks'.
Certificates are parsed with the ``cryptography`` package, imported inside the
functions that parse, so a check that reads no certificate never loads it (its import
costs tens of milliseconds: docs/certificates.md). Key material is read only to compare
public keys and never leaves this module.
"""

from __future__ import annotations

import os

from healthprobes.probes.errors import ProbeError
from healthprobes.probes.local_files import FileProblem, read_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime

    from cryptography.x509 import Certificate as X509


class CertificateFacts:
    """One certificate as a check needs it. ``presented_by`` says where it came from: a
    file's path, "server" or "client" (the end of a connection that presented it)."""

    __slots__ = ("is_ca", "issuer", "names", "not_after", "not_before", "position",
                 "presented_by", "subject")

    def __init__(self, subject: str, issuer: str, not_before: datetime.datetime,
                 not_after: datetime.datetime, names: list[str], is_ca: bool,
                 presented_by: str, position: int = 0) -> None:
        self.subject, self.issuer, self.names, self.is_ca = subject, issuer, names, is_ca
        self.not_before, self.not_after = not_before, not_after
        # 0 is the leaf; 1, 2 ... the certificates sent or bundled after it.
        self.presented_by, self.position = presented_by, position

    def __repr__(self) -> str:
        return f"CertificateFacts({self.subject!r}, not_after={self.not_after.isoformat()})"


def facts(certificate: X509, presented_by: str, position: int = 0) -> CertificateFacts:
    """The facts of one parsed certificate."""
    from cryptography import x509

    try:
        basic = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = basic.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateFacts(_name(certificate.subject), _name(certificate.issuer),
                            certificate.not_valid_before_utc, certificate.not_valid_after_utc,
                            subject_names(certificate), is_ca, presented_by, position)


def _name(name) -> str:
    text = name.rfc4514_string()
    return text or "(empty)"


def subject_names(certificate: X509) -> list[str]:
    """The DNS names and IP addresses of the subjectAltName extension, as text."""
    from cryptography import x509

    try:
        alternative = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = list(alternative.get_values_for_type(x509.DNSName))
    names += [str(address) for address in alternative.get_values_for_type(x509.IPAddress)]
    return names


def from_der(blobs: list[bytes], presented_by: str) -> list[CertificateFacts]:
    """The facts of the certificates a handshake delivered, leaf first. A blob that does
    not parse is left out: the handshake accepted it or verification was off."""
    from cryptography import x509

    found = []
    for position, blob in enumerate(blobs):
        try:
            found.append(facts(x509.load_der_x509_certificate(blob), presented_by, position))
        except ValueError:
            continue
    return found


def read_pem(path: str) -> list[X509]:
    """Every certificate in a PEM file, in file order; ProbeError(config) if none."""
    from cryptography import x509

    try:
        data = read_regular(path, 1 << 20)
    except FileProblem as problem:
        raise ProbeError("", f"certificate: {problem}", ProbeError.CONFIG) from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if not certificates:
        raise ProbeError("", f"{path} holds no PEM certificate", ProbeError.CONFIG)
    return certificates


def exposed_mode(path: str) -> int:
    """The permission bits that let the file's group or others read it (0 if none)."""
    return os.stat(path).st_mode & 0o044


def key_matches(certificate: X509, key_path: str) -> bool:
    """Whether the private key in ``key_path`` belongs to the certificate. Raises
    ProbeError(config) for a key that cannot be read or parsed; the key's bytes are
    never part of any message."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        data = read_regular(key_path, 1 << 20)
    except FileProblem as problem:
        raise ProbeError("", f"key: {problem}", ProbeError.CONFIG) from None
    try:
        key = serialization.load_pem_private_key(data, password=None,
                                                 unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise ProbeError("", f"key {key_path} is encrypted", ProbeError.CONFIG) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ProbeError("", f"key {key_path} is no PEM private key", ProbeError.CONFIG) from None
    finally:
        del data
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)


def chain_problem(chain: list[X509], anchors: list[X509]) -> str:
    """Why ``chain[0]`` does not lead to one of ``anchors`` through ``chain[1:]`` ("" if it
    does). Signatures are checked link by link; validity dates are not (the checks judge
    those per certificate, so an expired intermediate is named rather than failing the
    whole chain)."""
    pool = chain[1:] + anchors
    current = chain[0]
    for _ in range(len(pool) + 1):
        if any(current == anchor for anchor in anchors):
            return ""
        issuer = _issuer_in(current, pool)
        if issuer is None:
            return f"no certificate given signed {_name(current.subject)}" + (
                f" (issuer {_name(current.issuer)})")
        if any(issuer == anchor for anchor in anchors):
            return ""
        if issuer == current:  # self-signed and not an anchor
            return f"{_name(current.subject)} is self-signed and not the CA"
        current = issuer
    return "the chain loops"


def _issuer_in(certificate: X509, pool: list[X509]) -> X509 | None:
    for candidate in pool:
        if candidate.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(candidate)
        except Exception:  # wrong signature, unsupported key type, name mismatch
            continue
        return candidate
    return None


def names_missing(names: list[str], expected: list[str]) -> list[str]:
    """The expected names (DNS names or IP addresses) the certificate's names lack. IP
    addresses compare as addresses (``::1`` is ``0:0::1``), DNS names without case;
    a ``*.`` wildcard covers one label."""
    import ipaddress

    def address(text: str):
        try:
            return ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            return None

    addresses = {address(name) for name in names} - {None}
    dns = {name.lower().rstrip(".") for name in names if address(name) is None}
    missing = []
    for name in expected:
        wanted = address(name)
        if wanted is not None:
            if wanted not in addresses:
                missing.append(name)
            continue
        host = name.lower().rstrip(".")
        wildcard = "*." + host.partition(".")[2]
        if host not in dns and wildcard not in dns:
            missing.append(name)
    return missing


def expired_words(leaf: bytes) -> str:
    """"certificate has expired: N days ago (not after ...)" for a handshake's leaf that
    verification refused as expired; "" when it does not parse or has not expired."""
    import datetime

    found = from_der([leaf], "server")
    if not found:
        return ""
    not_after = found[0].not_after
    seconds = (datetime.datetime.now(datetime.UTC) - not_after).total_seconds()
    if seconds <= 0:
        return ""
    ago = f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds / 3600:.1f} hours"
    return (f"certificate has expired: {ago} ago, not after "
            f"{not_after.strftime('%Y-%m-%d %H:%M:%SZ')}")
