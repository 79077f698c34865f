"""``cluster.json``: a local cluster's id and ports, so that it comes back the same.

Starting again on the same data folder brings the same cluster back on the same ports.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from ..errors import ConfigError
from .java import KAFKA_VERSION
from .properties import NodeSpec

__all__ = ["STATE_FILE", "load_state", "new_cluster_id", "save_state"]

STATE_FILE = "cluster.json"


def new_cluster_id() -> str:
    """A fresh KRaft cluster id (a UUID in URL-safe base64, as ``kafka-storage`` makes)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def load_state(data_dir: Path) -> tuple[str, list[NodeSpec]] | None:
    """The cluster id and nodes kept in ``data_dir``, or None for a new folder."""
    path = data_dir / STATE_FILE
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


def save_state(data_dir: Path, cluster_id: str, nodes: list[NodeSpec]) -> None:
    """Keep the cluster id and every node's ports in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "kafka_version": KAFKA_VERSION,
        "cluster_id": cluster_id,
        "nodes": [
            {
                "id": n.node_id,
                "port": n.port,
                "controller_port": n.controller_port,
                **({"ssl_port": n.ssl_port} if n.ssl_port else {}),
                **({"oauth_port": n.oauth_port} if n.oauth_port else {}),
                **({"metrics_port": n.metrics_port} if n.metrics_port else {}),
            }
            for n in nodes
        ],
    }
    (data_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
