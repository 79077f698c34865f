"""A secured one-node Apache Kafka for the tests of this folder (Kafka only).

SASL_SSL with SCRAM-SHA-512 users ``admin`` (super user) and ``guest`` (no ACLs), an mTLS
listener (client certificate required; the client certificate is principal ``horizons``, a
super user), a throwaway CA, and the StandardAuthorizer with
``allow.everyone.if.no.acl.found=false``. It starts once for the folder.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.kafka_local import LocalKafkaCluster
from tests.conftest import warm_group_coordinator

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("HORIZONS_TEST_OUTPUT", ROOT / "test-output"))

#: Variables a secured run sets; the tests start from an environment without any of them.
_KAFKA_VARS = tuple(k for k in os.environ if k.startswith(("KAFKA_", "HORIZONS_")))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    kafka_selected = str(config.getoption("--engine")) in ("kafka", "both")
    for item in items:
        if here in Path(item.path).parents and "secure_kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)
            # One worker runs these, so the secured cluster starts once per run.
            item.add_marker(pytest.mark.xdist_group("secure_kafka"))
            if not kafka_selected:
                item.add_marker(
                    pytest.mark.skip(
                        reason="kafka only: Tansu has no TLS, SASL or ACLs "
                        "(run with --engine kafka or both)"
                    )
                )


@dataclass
class Run:
    """One `horizons` run: its command, exit code and both outputs."""

    args: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class SecureKafka:
    """The secured cluster, and every output of the `horizons` runs against it."""

    cluster: LocalKafkaCluster
    runs: list[Run] = field(default_factory=list)
    start_s: float = 0.0

    @property
    def ca(self) -> Path:
        return self.cluster.security.ca

    def password(self, user: str = "admin") -> str:
        return self.cluster.security.password(user).reveal()

    def env(self, user: str = "admin", **extra: str) -> dict[str, str]:
        """SASL_SSL client variables for ``user``, plus ``extra`` (a value "" unsets)."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.cluster.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": self.password(user),
            "KAFKA_SSL_CA_LOCATION": str(self.ca),
        }
        env.update(extra)
        return {k: v for k, v in env.items() if v != ""}

    def mtls_env(self, **extra: str) -> dict[str, str]:
        sec = self.cluster.security
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.cluster.mtls_bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_LOCATION": str(sec.ca),
            "KAFKA_SSL_CERTIFICATE_LOCATION": str(sec.certs.client_cert),
            "KAFKA_SSL_KEY_LOCATION": str(sec.certs.client_key),
            "KAFKA_SSL_KEY_PASSWORD": sec.client_key_password().reveal(),
        }
        env.update(extra)
        return {k: v for k, v in env.items() if v != ""}

    def horizons(
        self, *args: str, env: Mapping[str, str], timeout: float = 60.0, debug: bool = True
    ) -> Run:
        """Run ``horizons [--log-level debug] ARGS`` in a subprocess; remember its output."""
        base = {k: v for k, v in os.environ.items() if k not in _KAFKA_VARS}
        base.update(env)
        cmd = [sys.executable, "-m", "cosmic_horizons"]
        if debug:
            cmd += ["--log-level", "debug"]
        cmd += list(args)
        proc = subprocess.run(
            cmd, env=base, capture_output=True, text=True, timeout=timeout, check=False
        )
        run = Run(cmd, proc.returncode, proc.stdout, proc.stderr)
        self.runs.append(run)
        return run

    def settings(self, user: str = "admin") -> KafkaSettings:
        return self.cluster.client_settings(user)


@pytest.fixture(scope="package")
def secure_kafka() -> Iterator[SecureKafka]:
    data = OUTPUT / "kafka-secure"
    shutil.rmtree(data, ignore_errors=True)
    cluster = LocalKafkaCluster(data, 1, secure=True)
    started = time.monotonic()
    cluster.start()
    try:
        start_s = time.monotonic() - started
        # as the other clusters of the tests: the first commits find a group coordinator
        conf = cluster.client_settings("admin").client_config("test-warm-up")
        conf.pop("logger", None)
        warm_group_coordinator(cluster.bootstrap, conf=conf)
        yield SecureKafka(cluster, start_s=start_s)
    finally:
        cluster.stop()


class TcpForward:
    """A loopback TCP forwarder: ``listen_host:port`` to ``target`` (for a hostname that the
    broker's certificate does not name)."""

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server((listen_host, 0))
        self.address = f"{listen_host}:{self.server.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop = True
        self.server.close()


class TokenEndpoint:
    """An OIDC token endpoint on loopback for the client-credentials grant: it checks the
    client id and secret (HTTP basic auth, as librdkafka sends them) and hands out an
    unsigned JWS whose ``sub`` is ``subject`` (Kafka's unsecured validator accepts it)."""

    def __init__(self, client_id: str, client_secret: str, subject: str = "admin") -> None:
        expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        owner = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.requests += 1
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                now = int(time.time())
                claims = {"sub": subject, "iat": now, "exp": now + 3600}
                token = f"{_b64({'alg': 'none'})}.{_b64(claims)}."
                body = json.dumps(
                    {"access_token": token, "token_type": "bearer", "expires_in": 3600}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
