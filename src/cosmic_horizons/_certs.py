"""Throwaway certificates for a secured local Kafka: a CA, the brokers', and a client's.

Everything is written as PEM under one folder (private keys ``0600``): ``ca.pem`` (give it
to clients as ``KAFKA_SSL_CA_LOCATION``), ``broker.pem``/``broker.key`` (CN ``broker``,
subject alternative names for every host asked, by default ``127.0.0.1`` and ``localhost``),
and ``client.pem``/``client.key`` (CN ``horizons``, for mTLS; the key is encrypted with a
key password). Nothing here is meant for a real deployment: the CA key lives beside them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DEFAULT_HOSTS", "CertPaths", "issue_ca", "issue_certificates"]

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost")
_VALID_DAYS = 30


@dataclass(frozen=True, slots=True)
class CertPaths:
    """Where the PEM files are."""

    folder: Path
    ca: Path
    ca_key: Path
    broker_cert: Path
    broker_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def under(cls, folder: Path) -> CertPaths:
        return cls(
            folder,
            folder / "ca.pem",
            folder / "ca.key",
            folder / "broker.pem",
            folder / "broker.key",
            folder / "client.pem",
            folder / "client.key",
        )

    def exist(self) -> bool:
        return all(
            p.is_file()
            for p in (self.ca, self.ca_key, self.broker_cert, self.broker_key, self.client_cert)
        )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: str | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue_ca(
    name: str = "cosmic-horizons local CA",
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA certificate and its key."""
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    hosts: Sequence[str],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def issue_certificates(
    folder: Path,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    client_key_password: str | None = None,
) -> CertPaths:
    """A new CA, broker certificate (``hosts`` as SANs) and client certificate in ``folder``."""
    paths = CertPaths.under(Path(folder))
    paths.folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = issue_ca()
    pem = serialization.Encoding.PEM
    paths.ca.write_bytes(ca.public_bytes(pem))
    _write_private(paths.ca_key, _key_pem(ca_key, None))
    broker, broker_key = _leaf(ca, ca_key, "broker", hosts)
    paths.broker_cert.write_bytes(broker.public_bytes(pem) + ca.public_bytes(pem))
    _write_private(paths.broker_key, _key_pem(broker_key, None))
    client, client_key = _leaf(ca, ca_key, "horizons", ())
    paths.client_cert.write_bytes(client.public_bytes(pem))
    _write_private(paths.client_key, _key_pem(client_key, client_key_password))
    return paths
