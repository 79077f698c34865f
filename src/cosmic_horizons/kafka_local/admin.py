"""A local Kafka cluster's admin clients: the readiness wait, the registered brokers, leaders."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ..config import KafkaSettings
from ..errors import BrokerUnavailableError, HorizonsError
from .process import tail
from .properties import NodeSpec

__all__ = ["ClusterClients"]


class ClusterClients:
    """:class:`~.cluster.LocalKafkaCluster`'s admin clients and what they ask the nodes."""

    host: str
    secure: bool
    _procs: dict[int, subprocess.Popen[bytes]]

    if TYPE_CHECKING:

        @property
        def bootstrap(self) -> str: ...

        @property
        def node_ids(self) -> list[int]: ...

        def client_settings(self, user: str = "admin") -> KafkaSettings: ...

        def log_path(self, node_id: int) -> Path: ...

        def spec(self, node_id: int) -> NodeSpec: ...

    def _failure(self, what: str, node_ids: list[int]) -> BrokerUnavailableError:
        parts = [what]
        for node_id in node_ids:
            parts.append(
                f"-- node {node_id}, last lines of {self.log_path(node_id)}:\n"
                f"{tail(self.log_path(node_id))}"
            )
        return BrokerUnavailableError("\n".join(parts))

    def _admin_config(self, bootstrap: str, timeout: float, client_id: str) -> dict[str, Any]:
        """An admin client's config with bounded timeouts (logged in as the admin when secured:
        the client listener speaks SASL_SSL)."""
        ms = int(timeout * 1000)
        conf: dict[str, Any] = {}
        if self.secure:
            conf = self.client_settings("admin").client_config(client_id)
            conf.pop("logger", None)
        conf.update(
            {
                "bootstrap.servers": bootstrap,
                "socket.timeout.ms": ms,
                "socket.connection.setup.timeout.ms": ms,
                "log_level": 0,
            }
        )
        return conf

    def admin(self, timeout: float = 5.0) -> AdminClient:
        """An admin client on this cluster with bounded timeouts."""
        conf = self._admin_config(self.bootstrap, timeout, "kafka-local-admin")
        conf["reconnect.backoff.max.ms"] = 500
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
        address = f"{self.host}:{self.spec(node_id).port}"
        conf = self._admin_config(address, timeout, "kafka-local-probe")
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
