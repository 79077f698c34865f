"""``horizons broker --engine kafka``: a local cluster in the foreground until Ctrl-C."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path

from ..config import Profile
from .cluster import LocalKafkaCluster
from .java import KAFKA_VERSION
from .security import SCRAM_MECHANISM, SECURE_USERS
from .state import STATE_FILE

__all__ = ["run_foreground", "secure_instructions"]


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
    again = (Path(data_dir) / STATE_FILE).is_file()
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
            "the user 'guest' has no ACLs (everything it asks is refused: not authorized); "
            "the components' users (" + ", ".join(sec.users[len(SECURE_USERS) :]) + ") get "
            "theirs from `horizons acls apply` (passwords in the same folder).",
        ]
    )
