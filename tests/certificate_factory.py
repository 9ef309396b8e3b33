"""Certificates with exact validity, made at test time with cryptography's x509 builder
(trustme fixes not_before to its own choice; expiry tests need both ends chosen)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)


def days(count: float) -> datetime.datetime:
    """NOW plus ``count`` days (negative: in the past)."""
    return NOW + datetime.timedelta(days=count)


class Made:
    """A certificate and its key, able to sign others when it is a CA."""

    def __init__(self, common_name: str, not_before: datetime.datetime,
                 not_after: datetime.datetime, issuer: Made | None = None,
                 is_ca: bool = False, names: tuple[str, ...] = ()) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        signer = issuer or self
        builder = (x509.CertificateBuilder()
                   .subject_name(self.name).issuer_name(signer.name)
                   .public_key(self.key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None),
                                  critical=True))
        if names:
            entries = []
            for name in names:
                try:
                    entries.append(x509.IPAddress(ipaddress.ip_address(name)))
                except ValueError:
                    entries.append(x509.DNSName(name))
            builder = builder.add_extension(x509.SubjectAlternativeName(entries),
                                            critical=False)
        if not is_ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False)
        self.issuer = issuer
        self.cert = builder.sign(signer.key, hashes.SHA256())

    def issue(self, common_name: str, valid_days: float, *, not_before_days: float = -1,
              names: tuple[str, ...] = ("localhost", "127.0.0.1"), is_ca: bool = False) -> Made:
        return Made(common_name, days(not_before_days), days(valid_days), self, is_ca, names)

    def cert_pem(self, with_chain: bool = False) -> bytes:
        pem = self.cert.public_bytes(serialization.Encoding.PEM)
        issuer = self.issuer
        while with_chain and issuer is not None and issuer.issuer is not None:
            pem += issuer.cert.public_bytes(serialization.Encoding.PEM)
            issuer = issuer.issuer
        return pem

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def write(self, folder: Path, stem: str, with_chain: bool = False,
              key_mode: int = 0o600) -> tuple[Path, Path]:
        cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert.write_bytes(self.cert_pem(with_chain))
        key.write_bytes(self.key_pem())
        key.chmod(key_mode)
        return cert, key


def make_ca(valid_days: float = 3650, common_name: str = "etcd-ca") -> Made:
    return Made(common_name, days(-1), days(valid_days), is_ca=True)


def kubeadm_pki(folder: Path, ca: Made | None = None, member: str = "10.0.0.1",
                **valid: float) -> Made:
    """kubeadm's etcd layout in ``folder``: ca, server, peer, healthcheck-client; leaves of
    one year unless ``valid`` says otherwise (``server=10``)."""
    ca = ca or make_ca()
    ca.write(folder, "ca")
    names = ("etcd-0", "localhost", member, "127.0.0.1", "::1")
    for stem in ("server", "peer", "healthcheck-client"):
        leaf_names = () if stem == "healthcheck-client" else names
        ca.issue(f"etcd-0-{stem}", valid.get(stem.replace("-", "_"), 365),
                 names=leaf_names).write(folder, stem)
    return ca
