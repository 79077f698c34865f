"""What each local Kafka node is told: its ports and the ``server.properties`` it runs with.

The broker settings come from :mod:`cosmic_horizons.tuning` (the same place as
``horizons broker-config`` and ``deploy/``), with replication factors capped at the node
count; a secured cluster's nodes get SASL_SSL, mTLS and OAUTHBEARER listeners.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Profile
from ..tuning import recommended_settings
from .security import BROKER_PRINCIPAL, CLIENT_PRINCIPAL, SCRAM_MECHANISM, SecureSetup

__all__ = ["LOCAL_SETTINGS", "NodeSpec", "broker_settings", "server_properties"]

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


def broker_settings(profile: Profile, count: int, overrides: Mapping[str, str]) -> dict[str, str]:
    """The settings every node shares: the profile's, capped at ``count`` replicas, then
    ``overrides``."""
    settings = recommended_settings(profile)
    settings.update(LOCAL_SETTINGS)
    for name in _REPLICA_COUNTS:
        current = int(settings.get(name, "3"))
        settings[name] = str(min(current, count))
    settings.update(overrides)
    return settings


def server_properties(
    node: NodeSpec,
    nodes: Sequence[NodeSpec],
    *,
    host: str,
    log_dir: Path,
    profile: Profile,
    settings: Mapping[str, str],
    security: SecureSetup | None,
) -> str:
    """``node``'s ``server.properties``: its own listeners and log folder, the quorum of
    ``nodes``, then the shared ``settings`` (secured listeners when ``security`` is given)."""
    voters = ",".join(f"{n.node_id}@{host}:{n.controller_port}" for n in nodes if n.voter)
    own = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{host}:{node.port},CONTROLLER://{host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
    }
    if security is not None:
        own.update(_secure_properties(node, host, security))
    if not node.voter:  # a broker added later: the quorum stays the first nodes
        own["process.roles"] = "broker"
        own["listeners"] = f"PLAINTEXT://{host}:{node.port}"
    lines = [f"# written by cosmic_horizons.kafka_local ({profile} profile)"]
    lines += [f"{k}={v}" for k, v in own.items()]
    lines += [f"{k}={v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def _secure_properties(node: NodeSpec, host: str, security: SecureSetup) -> dict[str, str]:
    """SASL_SSL for clients, mTLS (SSL) for clients with a certificate and between
    brokers, TLS with the brokers' certificate on the controller listener; the
    StandardAuthorizer denies whatever no ACL allows."""
    h = host
    sec = security
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
