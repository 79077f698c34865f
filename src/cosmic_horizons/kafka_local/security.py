"""The secrets and certificates of a secured local Kafka cluster.

A secured cluster has SASL/SCRAM users (``admin`` a super user, ``guest`` with no ACLs), a
throwaway CA with broker and client certificates, and a password file per user (``0600``).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .._certs import CertPaths, issue_certificates
from ..config import KafkaSettings, Secret

__all__ = [
    "BROKER_PRINCIPAL",
    "CLIENT_PRINCIPAL",
    "SCRAM_MECHANISM",
    "SECURE_USERS",
    "SecureSetup",
]


#: The SASL/SCRAM users a secured cluster is formatted with: ``admin`` is a super user,
#: ``guest`` has no ACLs at all (so everything it asks for is "not authorized").
SECURE_USERS = ("admin", "guest")
SCRAM_MECHANISM = "SCRAM-SHA-512"
#: The principals of the brokers' own certificate (controller and inter-broker listeners) and
#: of the client certificate (mTLS listener): both super users, as is ``User:admin``.
BROKER_PRINCIPAL = "User:broker"
CLIENT_PRINCIPAL = "User:horizons"


@dataclass(frozen=True, slots=True)
class SecureSetup:
    """The secrets and certificates of a secured local cluster, all under ``folder``.

    ``password_file(user)`` holds that user's SCRAM password (``0600``); the CA is ``ca``.
    """

    folder: Path
    users: tuple[str, ...] = SECURE_USERS

    @property
    def certs(self) -> CertPaths:
        return CertPaths.under(self.folder)

    @property
    def ca(self) -> Path:
        return self.certs.ca

    @property
    def keystore(self) -> Path:
        return self.folder / "broker-keystore.pem"

    def password_file(self, user: str) -> Path:
        return self.folder / f"{user}.password"

    @property
    def client_key_password_file(self) -> Path:
        return self.folder / "client-key.password"

    def password(self, user: str) -> Secret:
        return Secret(self.password_file(user).read_text().strip())

    def client_key_password(self) -> Secret:
        return Secret(self.client_key_password_file.read_text().strip())

    def ensure(self, hosts: tuple[str, ...]) -> None:
        """Create the CA, certificates and passwords unless they exist already."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        for user in self.users:  # a user added later gets a password, the rest stay
            if not self.password_file(user).is_file():
                _write_secret(self.password_file(user), secrets.token_hex(16))
        if self.certs.exist():
            return
        _write_secret(self.client_key_password_file, secrets.token_hex(16))
        paths = issue_certificates(
            self.folder,
            hosts=hosts,
            client_key_password=self.client_key_password().reveal(),
        )
        _write_secret(
            self.keystore,
            paths.broker_key.read_text() + paths.broker_cert.read_text(),
        )

    def settings(self, bootstrap: str, user: str = "admin") -> KafkaSettings:
        """Client settings for ``user`` over SASL_SSL."""
        return KafkaSettings(
            bootstrap_servers=bootstrap,
            security_protocol="SASL_SSL",
            sasl_mechanism=SCRAM_MECHANISM,
            sasl_username=user,
            sasl_password=self.password(user),
            ssl_ca_location=str(self.ca),
        )

    def scram_args(self) -> list[str]:
        """``kafka-storage format`` arguments that write every user's SCRAM credentials."""
        args: list[str] = []
        for user in self.users:
            password = self.password(user).reveal()
            args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
        return args

    def mtls_settings(self, bootstrap: str) -> KafkaSettings:
        """Client settings for the mTLS listener with the client certificate."""
        return KafkaSettings(
            bootstrap_servers=bootstrap,
            security_protocol="SSL",
            ssl_ca_location=str(self.ca),
            ssl_certificate_location=str(self.certs.client_cert),
            ssl_key_location=str(self.certs.client_key),
            ssl_key_password=self.client_key_password(),
        )


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + ("" if text.endswith("\n") else "\n"))
