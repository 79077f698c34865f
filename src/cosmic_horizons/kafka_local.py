"""A local Apache Kafka cluster (KRaft): N combined broker+controller nodes on 127.0.0.1.

The jars come from ``tools/kafka/fetch`` (a Maven copy into ``~/.cache/cosmic-horizons``,
or ``$HORIZONS_KAFKA_HOME``). Every node keeps its log on disk under the data dir, with its
``server.properties`` and its JVM output (``node-<id>/kafka.log``); ``cluster.json`` keeps
the cluster id and ports, so starting again on the same folder brings the same cluster back
on the same ports. The broker settings come from :mod:`cosmic_horizons.tuning` (the same
place as ``horizons broker-config`` and ``deploy/``), with replication factors capped at N.

Child JVMs die with the thread that started them (``PR_SET_PDEATHSIG``) on Linux, so a
crashed parent leaves no Java behind. For fault tests: :meth:`LocalKafkaCluster.kill`,
:meth:`~LocalKafkaCluster.pause`, :meth:`~LocalKafkaCluster.resume`,
:meth:`~LocalKafkaCluster.restart` and :meth:`~LocalKafkaCluster.leader_of`.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ._certs import CertPaths, issue_certificates
from .broker import find_free_port
from .config import KafkaSettings, Profile, Secret
from .errors import BrokerUnavailableError, ConfigError, HorizonsError
from .tuning import recommended_settings

__all__ = [
    "KAFKA_VERSION",
    "LOCAL_SETTINGS",
    "LocalKafkaCluster",
    "NodeSpec",
    "SecureSetup",
    "kafka_home",
    "kafka_libs",
]

#: The Apache Kafka version ``tools/kafka/pom.xml`` pins (a unit test keeps them equal).
KAFKA_VERSION = "4.4.0"

#: Settings for a local cluster on top of the profile's: no delay before the first group
#: rebalance (consumers join in milliseconds, not 3 s).
LOCAL_SETTINGS: Mapping[str, str] = {"group.initial.rebalance.delay.ms": "0"}

#: Settings that name a replica count: capped at the number of nodes.
_REPLICA_COUNTS = (
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "share.coordinator.state.topic.replication.factor",
    "min.insync.replicas",
    "transaction.state.log.min.isr",
    "share.coordinator.state.topic.min.isr",
)

#: Small heaps, a serial GC and the C1 compiler only: three nodes fit beside the tests on
#: two cores and start in a few seconds. ``$HORIZONS_KAFKA_JVM_OPTS`` replaces these.
DEFAULT_JVM_OPTS = (
    "-Xms128m",
    "-Xmx384m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)

_STATE_FILE = "cluster.json"
_PR_SET_PDEATHSIG = 1


def kafka_home() -> Path:
    """The folder ``tools/kafka/fetch`` fills: ``$HORIZONS_KAFKA_HOME`` or the cache default."""
    env = os.environ.get("HORIZONS_KAFKA_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cosmic-horizons" / f"kafka-{KAFKA_VERSION}"


def kafka_libs() -> Path:
    """The folder of Kafka jars; raises :class:`HorizonsError` saying how to fetch them."""
    libs = kafka_home() / "libs"
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise HorizonsError(
            f"Apache Kafka {KAFKA_VERSION} is not in {libs}: run tools/kafka/fetch "
            "(needs Java 17+ and Maven) or set HORIZONS_KAFKA_HOME"
        )
    return libs


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` on PATH; raises :class:`HorizonsError` without one."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise HorizonsError("the Kafka engine needs Java 17 or newer: no 'java' on PATH")
    return found


def _log4j_config() -> Path | None:
    for candidate in (
        kafka_home() / "log4j2.properties",
        Path(__file__).resolve().parents[2] / "tools" / "kafka" / "log4j2.properties",
    ):
        if candidate.is_file():
            return candidate
    return None


def jmx_exporter_agent(host: str, port: int) -> str:
    """``-javaagent:`` for the Prometheus JMX exporter on ``host:port`` with the project's rules
    (the jar from ``tools/kafka/fetch``, the rules from ``deploy/kafka-metrics.yaml``)."""
    jars = sorted((kafka_home() / "agent").glob("jmx_prometheus_javaagent-*.jar"))
    rules = [
        p
        for p in (
            Path(__file__).resolve().parents[2] / "deploy" / "kafka-metrics.yaml",
            kafka_home() / "kafka-metrics.yaml",
        )
        if p.is_file()
    ]
    if not jars or not rules:
        raise HorizonsError(
            f"the Prometheus JMX exporter is not in {kafka_home() / 'agent'}: run tools/kafka/fetch"
        )
    return f"-javaagent:{jars[-1]}={host}:{port}:{rules[0]}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``preexec_fn``: SIGKILL this child when the thread that started it dies (Linux)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One combined broker+controller node: its id and its ports.

    ``ssl_port`` is the mTLS listener of a secured cluster and ``oauth_port`` its SASL_SSL
    OAUTHBEARER listener (both 0 when the cluster is not secured).
    """

    node_id: int
    port: int
    controller_port: int
    ssl_port: int = 0
    oauth_port: int = 0
    metrics_port: int = 0
    """The Prometheus JMX exporter's port (0: the node runs without it)."""

    @property
    def voter(self) -> bool:
        """A controller of the quorum too (nodes added later are brokers only)."""
        return self.controller_port != 0


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
        if self.certs.exist() and all(self.password_file(u).is_file() for u in SECURE_USERS):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        for name in (*SECURE_USERS, "client-key"):
            _write_secret(self.folder / f"{name}.password", secrets.token_hex(16))
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


class LocalKafkaCluster:
    """``nodes`` combined KRaft nodes with their data under ``data_dir``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``profile`` picks the
    broker settings (:func:`~cosmic_horizons.tuning.recommended_settings`); ``overrides`` are
    applied last (tests add e.g. ``log.retention.check.interval.ms``).
    """

    def __init__(
        self,
        data_dir: Path,
        nodes: int = 1,
        *,
        profile: Profile = "dev",
        overrides: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        secure: bool = False,
        jmx_exporter: bool = False,
    ) -> None:
        if nodes < 1:
            raise ConfigError(f"a Kafka cluster needs at least one node, not {nodes}")
        self.data_dir = Path(data_dir)
        self.host = host
        self.profile: Profile = profile
        self.overrides = dict(overrides or {})
        self.secure = secure
        self.security = SecureSetup(self.data_dir / "secure")
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: dict[int, IO[bytes]] = {}
        state = self._load_state()
        if state is not None:
            self.cluster_id, self.nodes = state
            was_secure = all(n.ssl_port for n in self.nodes)
            if was_secure != secure:
                raise ConfigError(
                    f"{self.data_dir} holds a {'secured' if was_secure else 'plaintext'} Kafka "
                    f"cluster: {'add' if was_secure else 'drop'} --secure or use another "
                    "data folder"
                )
            voters = sum(n.voter for n in self.nodes)
            if voters != nodes:
                raise ConfigError(
                    f"{self.data_dir} holds a {voters}-node Kafka cluster, "
                    f"not {nodes} nodes (use --nodes {voters} or another data folder)"
                )
        else:
            self.cluster_id = _new_cluster_id()
            self.nodes = [
                NodeSpec(
                    i,
                    find_free_port(host),
                    find_free_port(host),
                    find_free_port(host) if secure else 0,
                    find_free_port(host) if secure else 0,
                    find_free_port(host) if jmx_exporter else 0,
                )
                for i in range(1, nodes + 1)
            ]

    # -- layout ----------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """Every node's client address, comma-separated (SASL_SSL when secured)."""
        return ",".join(f"{self.host}:{n.port}" for n in self.nodes)

    @property
    def mtls_bootstrap(self) -> str:
        """A secured cluster's mTLS (SSL, client certificate required) addresses."""
        if not self.secure:
            raise HorizonsError("this Kafka cluster is not secured: it has no mTLS listener")
        return ",".join(f"{self.host}:{n.ssl_port}" for n in self.nodes)

    @property
    def oauth_bootstrap(self) -> str:
        """A secured cluster's SASL_SSL OAUTHBEARER addresses (Kafka's unsecured-JWS validator:
        for tests of the OAUTHBEARER client path, not for real tokens)."""
        if not self.secure:
            raise HorizonsError("this Kafka cluster is not secured: it has no OAUTHBEARER listener")
        return ",".join(f"{self.host}:{n.oauth_port}" for n in self.nodes)

    def client_settings(self, user: str = "admin") -> KafkaSettings:
        """Settings for a client of this cluster (``user`` over SASL_SSL when secured)."""
        if self.secure:
            return self.security.settings(self.bootstrap, user)
        return KafkaSettings(bootstrap_servers=self.bootstrap)

    def node_dir(self, node_id: int) -> Path:
        return self.data_dir / f"node-{node_id}"

    def log_path(self, node_id: int) -> Path:
        """The node's JVM output (its stdout and stderr)."""
        return self.node_dir(node_id) / "kafka.log"

    def spec(self, node_id: int) -> NodeSpec:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise ConfigError(f"no node {node_id} in this cluster (nodes: {self.node_ids})")

    @property
    def node_ids(self) -> list[int]:
        return [n.node_id for n in self.nodes]

    def _load_state(self) -> tuple[str, list[NodeSpec]] | None:
        path = self.data_dir / _STATE_FILE
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text())
            nodes = [
                NodeSpec(
                    int(n["id"]),
                    int(n["port"]),
                    int(n["controller_port"]),
                    int(n.get("ssl_port", 0)),
                    int(n.get("oauth_port", 0)),
                    int(n.get("metrics_port", 0)),
                )
                for n in raw["nodes"]
            ]
            return str(raw["cluster_id"]), nodes
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a Kafka cluster state file ({exc})") from None

    def _save_state(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "kafka_version": KAFKA_VERSION,
            "cluster_id": self.cluster_id,
            "nodes": [
                {
                    "id": n.node_id,
                    "port": n.port,
                    "controller_port": n.controller_port,
                    **({"ssl_port": n.ssl_port} if n.ssl_port else {}),
                    **({"oauth_port": n.oauth_port} if n.oauth_port else {}),
                    **({"metrics_port": n.metrics_port} if n.metrics_port else {}),
                }
                for n in self.nodes
            ],
        }
        (self.data_dir / _STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def broker_settings(self) -> dict[str, str]:
        """The settings every node shares: the profile's, capped at N replicas, then overrides."""
        settings = recommended_settings(self.profile)
        settings.update(LOCAL_SETTINGS)
        count = sum(n.voter for n in self.nodes)  # as started: added brokers change nothing
        for name in _REPLICA_COUNTS:
            current = int(settings.get(name, "3"))
            settings[name] = str(min(current, count))
        settings.update(self.overrides)
        return settings

    def _properties(self, node: NodeSpec) -> str:
        voters = ",".join(
            f"{n.node_id}@{self.host}:{n.controller_port}" for n in self.nodes if n.voter
        )
        own = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.host}:{node.port},CONTROLLER://{self.host}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.node_dir(node.node_id) / "data"),
        }
        if self.secure:
            own.update(self._secure_properties(node))
        if not node.voter:  # a broker added later: the quorum stays the first nodes
            own["process.roles"] = "broker"
            own["listeners"] = f"PLAINTEXT://{self.host}:{node.port}"
        lines = [f"# written by cosmic_horizons.kafka_local ({self.profile} profile)"]
        lines += [f"{k}={v}" for k, v in own.items()]
        lines += [f"{k}={v}" for k, v in self.broker_settings().items()]
        return "\n".join(lines) + "\n"

    def _secure_properties(self, node: NodeSpec) -> dict[str, str]:
        """SASL_SSL for clients, mTLS (SSL) for clients with a certificate and between
        brokers, TLS with the brokers' certificate on the controller listener; the
        StandardAuthorizer denies whatever no ACL allows."""
        h = self.host
        sec = self.security
        return {
            "listeners": f"SASL_SSL://{h}:{node.port},SSL://{h}:{node.ssl_port},"
            f"OAUTH://{h}:{node.oauth_port},CONTROLLER://{h}:{node.controller_port}",
            "advertised.listeners": f"SASL_SSL://{h}:{node.port},SSL://{h}:{node.ssl_port},"
            f"OAUTH://{h}:{node.oauth_port}",
            "listener.security.protocol.map": (
                "SASL_SSL:SASL_SSL,SSL:SSL,OAUTH:SASL_SSL,CONTROLLER:SSL"
            ),
            "inter.broker.listener.name": "SSL",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(sec.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(sec.ca),
            "ssl.endpoint.identification.algorithm": "https",
            "listener.name.ssl.ssl.client.auth": "required",
            "listener.name.controller.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
            "sasl.enabled.mechanisms": f"{SCRAM_MECHANISM},OAUTHBEARER",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": SCRAM_MECHANISM,
            # OAUTHBEARER with Kafka's default (unsecured JWS) validator: the token's ``sub``
            # is the principal. Enough to exercise the client side (OIDC client credentials).
            "listener.name.oauth.sasl.enabled.mechanisms": "OAUTHBEARER",
            "listener.name.oauth.oauthbearer.sasl.jaas.config": (
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                'unsecuredLoginStringClaim_sub="admin";'
            ),
            f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:admin;{BROKER_PRINCIPAL};{CLIENT_PRINCIPAL}",
            "allow.everyone.if.no.acl.found": "false",
        }

    # -- processes -------------------------------------------------------------------------

    def _java(self, main: str, *args: str, metrics_port: int = 0) -> list[str]:
        opts = os.environ.get("HORIZONS_KAFKA_JVM_OPTS")
        cmd = [java_binary(), *(shlex.split(opts) if opts else DEFAULT_JVM_OPTS)]
        log4j = _log4j_config()
        if log4j is not None:
            cmd.append(f"-Dlog4j2.configurationFile={log4j}")
        if metrics_port:
            cmd.append(jmx_exporter_agent(self.host, metrics_port))
        cmd += ["-cp", str(kafka_libs() / "*"), main, *args]
        return cmd

    def _format(self) -> None:
        """Write each node's properties; format the storage of nodes not formatted yet.

        A secured cluster gets its certificates and SCRAM users first (the users are written
        into the metadata at format time, so they exist before any broker starts)."""
        if self.secure:
            hosts = tuple(dict.fromkeys((self.host, "127.0.0.1", "localhost")))
            self.security.ensure(hosts)
        self._save_state()
        pending: list[tuple[NodeSpec, subprocess.Popen[bytes], IO[bytes]]] = []
        for node in self.nodes:
            folder = self.node_dir(node.node_id)
            folder.mkdir(parents=True, exist_ok=True)
            props = folder / "server.properties"
            props.write_text(self._properties(node))
            if (folder / "data" / "meta.properties").is_file():
                continue
            log: IO[bytes] = open(self.log_path(node.node_id), "ab")  # noqa: SIM115
            cmd = self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={self.cluster_id}",
                "--config",
                str(props),
                *self._scram_args(),
            )
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_parent
            )
            pending.append((node, proc, log))
        failed: list[str] = []
        for node, proc, log in pending:
            try:
                code = proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            log.close()
            if code != 0:
                failed.append(
                    f"node {node.node_id} (exit {code}):\n{_tail(self.log_path(node.node_id))}"
                )
        if failed:
            raise BrokerUnavailableError(
                "formatting the Kafka storage failed for " + "\n".join(failed)
            )

    def _scram_args(self) -> list[str]:
        if not self.secure:
            return []
        args: list[str] = []
        for user in SECURE_USERS:
            password = self.security.password(user).reveal()
            args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
        return args

    def _spawn(self, node_id: int) -> None:
        proc = self._procs.get(node_id)
        if proc is not None and proc.poll() is None:
            return
        props = self.node_dir(node_id) / "server.properties"
        log = self._logs.get(node_id)
        if log is None:
            log = self._logs[node_id] = open(self.log_path(node_id), "ab")  # noqa: SIM115
        self._procs[node_id] = subprocess.Popen(
            self._java("kafka.Kafka", str(props), metrics_port=self.spec(node_id).metrics_port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent,
        )

    def pid(self, node_id: int) -> int | None:
        proc = self._procs.get(node_id)
        return None if proc is None or proc.poll() is not None else proc.pid

    def running(self, node_id: int) -> bool:
        return self.pid(node_id) is not None

    def start(self, timeout: float = 90.0) -> LocalKafkaCluster:
        """Format what is new, start every node, wait until each is registered."""
        self._format()
        for node in self.nodes:
            self._spawn(node.node_id)
        self.wait_ready(timeout=timeout)
        return self

    def _failure(self, what: str, node_ids: list[int]) -> BrokerUnavailableError:
        parts = [what]
        for node_id in node_ids:
            parts.append(
                f"-- node {node_id}, last lines of {self.log_path(node_id)}:\n"
                f"{_tail(self.log_path(node_id))}"
            )
        return BrokerUnavailableError("\n".join(parts))

    def admin(self, timeout: float = 5.0) -> AdminClient:
        """An admin client on this cluster with bounded timeouts."""
        ms = int(timeout * 1000)
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap}
        if self.secure:
            conf = self.client_settings("admin").client_config("kafka-local-admin")
            conf.pop("logger", None)
        conf.update(
            {
                "socket.timeout.ms": ms,
                "socket.connection.setup.timeout.ms": ms,
                "reconnect.backoff.max.ms": 500,
                "log_level": 0,
            }
        )
        return AdminClient(conf)

    def registered(self, timeout: float = 5.0, *, admin: AdminClient | None = None) -> set[int]:
        """Ids of the brokers the cluster reports now (empty when nobody answers)."""
        client = admin or self.admin(timeout)  # held until the future resolves
        try:
            result = client.describe_cluster(request_timeout=timeout).result(timeout + 1)
        except (KafkaException, TimeoutError):
            return set()
        return {int(node.id) for node in result.nodes}

    def _answers(self, node_id: int, timeout: float = 2.0) -> bool:
        """The node serves requests itself: a client knowing only its address gets metadata."""
        ms = int(timeout * 1000)
        conf: dict[str, Any] = {}
        if self.secure:  # the client listener speaks SASL_SSL: log in as the admin
            conf = self.client_settings("admin").client_config("kafka-local-probe")
            conf.pop("logger", None)
        conf.update(
            {
                "bootstrap.servers": f"{self.host}:{self.spec(node_id).port}",
                "socket.timeout.ms": ms,
                "socket.connection.setup.timeout.ms": ms,
                "log_level": 0,
            }
        )
        client = AdminClient(conf)
        try:
            client.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True

    def wait_ready(self, node_ids: list[int] | None = None, *, timeout: float = 90.0) -> None:
        """Wait until every node of ``node_ids`` (default: all) is registered as a broker.

        Raises :class:`BrokerUnavailableError` quoting the log of a node whose JVM exited, or
        of the missing nodes after ``timeout``.
        """
        wanted = set(self.node_ids if node_ids is None else node_ids)
        deadline = time.monotonic() + timeout
        admin = self.admin(2.0)
        while True:
            dead = [
                n for n in sorted(wanted) if n in self._procs and self._procs[n].poll() is not None
            ]
            if dead:
                codes = ", ".join(f"{n}: exit {self._procs[n].returncode}" for n in dead)
                raise self._failure(f"Kafka node(s) exited while starting ({codes})", dead)
            registered = self.registered(timeout=2.0, admin=admin)
            # A node SIGKILLed moments ago stays registered until its session times out:
            # it counts only once it answers itself.
            missing = {n for n in wanted if n not in registered or not self._answers(n)}
            if not missing:
                return
            if time.monotonic() > deadline:
                raise self._failure(
                    f"Kafka nodes {sorted(missing)} not registered within {timeout:.0f} s "
                    f"(bootstrap {self.bootstrap})",
                    sorted(missing),
                )
            time.sleep(0.2)

    def _signal(self, node_id: int, sig: signal.Signals) -> subprocess.Popen[bytes]:
        self.spec(node_id)
        proc = self._procs.get(node_id)
        if proc is None or proc.poll() is not None:
            raise HorizonsError(f"Kafka node {node_id} is not running")
        proc.send_signal(sig)
        return proc

    def stop_node(self, node_id: int, timeout: float = 20.0) -> None:
        """SIGTERM one node (a clean shutdown); SIGKILL after ``timeout`` seconds."""
        proc = self._procs.get(node_id)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)  # a paused JVM cannot shut down
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        del self._procs[node_id]

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (a crash: no clean shutdown); returns when it is gone."""
        self._signal(node_id, signal.SIGKILL).wait()
        del self._procs[node_id]

    def pause(self, node_id: int) -> None:
        """SIGSTOP one node: it keeps its sockets but answers nothing (a hung broker)."""
        self._signal(node_id, signal.SIGSTOP)

    def resume(self, node_id: int) -> None:
        """SIGCONT a paused node."""
        self._signal(node_id, signal.SIGCONT)

    def start_node(self, node_id: int, *, timeout: float = 90.0) -> None:
        """Start one stopped or killed node on its old ports and log; wait until registered."""
        self.spec(node_id)
        self._spawn(node_id)
        self.wait_ready([node_id], timeout=timeout)

    def add_node(self, *, timeout: float = 90.0) -> NodeSpec:
        """Add a broker-only node (the next id) to the running cluster; wait until registered.

        It joins the same controller quorum and takes no partition by itself: a reassignment
        gives it replicas (``horizons cluster rebalance``). Plaintext clusters only."""
        if self.secure:
            raise HorizonsError("adding a node to a secured local Kafka cluster is not supported")
        metrics = find_free_port(self.host) if any(n.metrics_port for n in self.nodes) else 0
        node = NodeSpec(
            max(self.node_ids) + 1, find_free_port(self.host), 0, metrics_port=metrics
        )
        self.nodes.append(node)
        self._format()
        self._spawn(node.node_id)
        self.wait_ready([node.node_id], timeout=timeout)
        return node

    def metrics_url(self, node_id: int) -> str:
        """The node's JMX exporter endpoint (``http://host:port/metrics``)."""
        port = self.spec(node_id).metrics_port
        if not port:
            raise HorizonsError(f"Kafka node {node_id} runs without the JMX exporter")
        return f"http://{self.host}:{port}/metrics"

    def restart(self, node_id: int, *, hard: bool = False, timeout: float = 90.0) -> None:
        """Stop one node (SIGTERM; SIGKILL when ``hard``), start it again, wait for it."""
        if hard and self.running(node_id):
            self.kill(node_id)
        else:
            self.stop_node(node_id)
        self.start_node(node_id, timeout=timeout)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every node: SIGTERM to all at once, SIGKILL to any left after ``timeout``."""
        procs = dict(self._procs)
        for proc in procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    def wait(self, poll: Callable[[], bool] | None = None) -> int:
        """Block until any node exits (or ``poll()`` says stop); that node's exit code, or 0."""
        while True:
            for proc in self._procs.values():
                if proc.poll() is not None:
                    return int(proc.returncode)
            if poll is not None and poll():
                return 0
            time.sleep(0.2)

    # -- queries ---------------------------------------------------------------------------

    def leader_of(self, topic: str, partition: int = 0, *, timeout: float = 5.0) -> int | None:
        """The node id leading ``topic``/``partition`` now, or None when it has no leader."""
        admin = self.admin(timeout)
        try:
            metadata = admin.list_topics(topic, timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailableError(
                f"metadata for {topic!r} from {self.bootstrap}: {exc}"
            ) from None
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or partition not in info.partitions:
            raise HorizonsError(f"no partition {topic}[{partition}] on {self.bootstrap}")
        leader = int(info.partitions[partition].leader)
        return leader if leader >= 0 else None

    def __enter__(self) -> LocalKafkaCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_foreground(
    data_dir: Path,
    nodes: int,
    say: Callable[[str], None],
    *,
    profile: Profile = "dev",
    secure: bool = False,
) -> int:
    """``horizons broker --engine kafka``: start the cluster, print its bootstrap, run until
    Ctrl-C/SIGTERM (as KeyboardInterrupt) or a node exits, stop it; the exit code.

    The bootstrap list goes to stdout alone (for scripts); progress goes to ``say``. A
    ``secure`` cluster also prints, to ``say``, the CA path and the settings to export (the
    password as a ``$(cat FILE)``: it is never printed).
    """
    cluster = LocalKafkaCluster(data_dir, nodes, profile=profile, secure=secure)
    again = (Path(data_dir) / _STATE_FILE).is_file()
    say(
        f"{'restarting' if again else 'starting'} Apache Kafka {KAFKA_VERSION} "
        f"({nodes} KRaft node{'s' if nodes > 1 else ''}, {profile} profile"
        f"{', secured' if secure else ''}) in {data_dir}"
    )
    code = 0
    try:
        started = time.monotonic()
        cluster.start()
        say(
            f"Kafka cluster {cluster.cluster_id} up in {time.monotonic() - started:.1f} s; "
            f"clients use --bootstrap {cluster.bootstrap}. Ctrl-C stops it."
        )
        if secure:
            say(secure_instructions(cluster))
        print(cluster.bootstrap, flush=True)
        code = cluster.wait()
        if code:
            say(f"a Kafka node exited with code {code}; see the kafka.log files in {data_dir}")
    except KeyboardInterrupt:
        code = 0
    finally:
        cluster.stop()
    say("Kafka cluster stopped")
    return code


def secure_instructions(cluster: LocalKafkaCluster) -> str:
    """What a client of a secured local cluster exports (the password stays in its file)."""
    sec = cluster.security
    return "\n".join(
        [
            f"CA certificate: {sec.ca}",
            "SASL_SSL (SCRAM-SHA-512) as the super user 'admin':",
            f"  export KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap}",
            "  export KAFKA_SECURITY_PROTOCOL=SASL_SSL",
            f"  export KAFKA_SASL_MECHANISM={SCRAM_MECHANISM}",
            "  export KAFKA_SASL_USERNAME=admin",
            f'  export KAFKA_SASL_PASSWORD="$(cat {shlex.quote(str(sec.password_file("admin")))})"',
            f"  export KAFKA_SSL_CA_LOCATION={sec.ca}",
            "mTLS (client certificate, principal User:horizons):",
            f"  export KAFKA_BOOTSTRAP_SERVERS={cluster.mtls_bootstrap}",
            "  export KAFKA_SECURITY_PROTOCOL=SSL",
            f"  export KAFKA_SSL_CA_LOCATION={sec.ca}",
            f"  export KAFKA_SSL_CERTIFICATE_LOCATION={sec.certs.client_cert}",
            f"  export KAFKA_SSL_KEY_LOCATION={sec.certs.client_key}",
            "  export KAFKA_SSL_KEY_PASSWORD="
            f'"$(cat {shlex.quote(str(sec.client_key_password_file))})"',
            f"OAUTHBEARER (unsecured-JWS validator, token 'sub' is the principal; for tests): "
            f"{cluster.oauth_bootstrap}",
            "the user 'guest' has no ACLs (everything it asks is refused: not authorized).",
        ]
    )
