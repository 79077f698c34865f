"""A local Apache Kafka cluster (KRaft): N combined broker+controller nodes on 127.0.0.1.

Every node keeps its log on disk under the data dir, with its ``server.properties``
(:mod:`.properties`) and its JVM output (``node-<id>/kafka.log``); ``cluster.json``
(:mod:`.state`) keeps the cluster id and ports, so starting again on the same folder brings
the same cluster back on the same ports. The JVMs (:mod:`.process`) die with the thread that
started them. For fault tests: :meth:`LocalKafkaCluster.kill`,
:meth:`~LocalKafkaCluster.pause`, :meth:`~LocalKafkaCluster.resume`,
:meth:`~LocalKafkaCluster.restart` and :meth:`~LocalKafkaCluster.leader_of`.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from ..broker import find_free_port
from ..config import KafkaSettings, Profile
from ..errors import BrokerUnavailableError, ConfigError, HorizonsError
from .admin import ClusterClients
from .java import java_command
from .process import launch, reap, tail, terminate
from .properties import NodeSpec, broker_settings, server_properties
from .security import SECURE_USERS, SecureSetup
from .state import load_state, new_cluster_id, save_state

__all__ = ["LocalKafkaCluster"]


class LocalKafkaCluster(ClusterClients):
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
        users: tuple[str, ...] | None = None,
        jmx_exporter: bool = False,
    ) -> None:
        """``users``: the SCRAM users of a secured cluster besides ``admin`` and ``guest``
        (default: the components' users of :func:`cosmic_horizons.acls.default_users`)."""
        if nodes < 1:
            raise ConfigError(f"a Kafka cluster needs at least one node, not {nodes}")
        self.data_dir = Path(data_dir)
        self.host = host
        self.profile: Profile = profile
        self.overrides = dict(overrides or {})
        self.secure = secure
        if users is None:
            from ..acls import default_users

            users = default_users()
        extra = tuple(u for u in users if u not in SECURE_USERS)
        self.security = SecureSetup(self.data_dir / "secure", (*SECURE_USERS, *extra))
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: dict[int, IO[bytes]] = {}
        state = load_state(self.data_dir)
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
            self.cluster_id = new_cluster_id()
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

    def _save_state(self) -> None:
        save_state(self.data_dir, self.cluster_id, self.nodes)

    def broker_settings(self) -> dict[str, str]:
        """The settings every node shares: the profile's, capped at N replicas, then overrides."""
        # as started: brokers added later change no replica count
        return broker_settings(self.profile, sum(n.voter for n in self.nodes), self.overrides)

    def _properties(self, node: NodeSpec) -> str:
        return server_properties(
            node,
            self.nodes,
            host=self.host,
            log_dir=self.node_dir(node.node_id) / "data",
            profile=self.profile,
            settings=self.broker_settings(),
            security=self.security if self.secure else None,
        )

    # -- processes -------------------------------------------------------------------------

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
            cmd = java_command(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={self.cluster_id}",
                "--config",
                str(props),
                *(self.security.scram_args() if self.secure else ()),
            )
            proc = launch(cmd, log)
            pending.append((node, proc, log))
        failed: list[str] = []
        for node, proc, log in pending:
            code = reap(proc, 120)
            log.close()
            if code != 0:
                failed.append(
                    f"node {node.node_id} (exit {code}):\n{tail(self.log_path(node.node_id))}"
                )
        if failed:
            raise BrokerUnavailableError(
                "formatting the Kafka storage failed for " + "\n".join(failed)
            )

    def _spawn(self, node_id: int) -> None:
        proc = self._procs.get(node_id)
        if proc is not None and proc.poll() is None:
            return
        props = self.node_dir(node_id) / "server.properties"
        log = self._logs.get(node_id)
        if log is None:
            log = self._logs[node_id] = open(self.log_path(node_id), "ab")  # noqa: SIM115
        agent = self.spec(node_id).metrics_port
        self._procs[node_id] = launch(
            java_command("kafka.Kafka", str(props), metrics=(self.host, agent) if agent else None),
            log,
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
        terminate(proc)
        reap(proc, timeout)
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
        node = NodeSpec(max(self.node_ids) + 1, find_free_port(self.host), 0, metrics_port=metrics)
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
            terminate(proc)
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            reap(proc, max(0.0, deadline - time.monotonic()))
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

    def __enter__(self) -> LocalKafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
