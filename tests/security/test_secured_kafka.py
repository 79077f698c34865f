"""horizons against a secured Kafka: SASL_SSL (SCRAM-SHA-512), mTLS, ACLs enforced.

The commands work for a principal that is allowed; every security failure (wrong password,
unknown user, untrusted CA, hostname mismatch, no ACL) is one line naming the cause and what
to check, exit 4, no traceback, and nothing written. The last test greps every output of
every run here for the secrets.
"""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from cosmic_horizons._certs import issue_ca
from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.kafka_local import secure_instructions
from tests.security.conftest import Run, SecureKafka, TcpForward, TokenEndpoint

pytestmark = pytest.mark.timeout(120)

WRONG_PASSWORD = "not-the-password-" + uuid.uuid4().hex
OAUTH_SECRET = "oauth-client-secret-" + uuid.uuid4().hex


def _topic() -> str:
    return f"secure.{uuid.uuid4().hex[:10]}"


def _record_count(secure_kafka: SecureKafka, topic: str) -> int | None:
    """Records in ``topic`` (None when it does not exist), read as the admin."""
    conf = secure_kafka.settings("admin").client_config("test-count")
    conf.pop("logger", None)
    admin = AdminClient(conf)
    meta = admin.list_topics(timeout=15)
    if topic not in meta.topics:
        return None
    consumer = Consumer({**conf, "group.id": f"count-{uuid.uuid4().hex[:6]}"})
    try:
        total = 0
        for partition in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 15)
            total += high - low
        return total
    finally:
        consumer.close()


def _one_clear_line(run: Run, *needles: str) -> str:
    """The run failed with exit 4 and one ``error:`` line holding every needle; returned."""
    assert run.code == Exit.SECURITY, run.output
    assert "Traceback" not in run.output, run.output
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr
    for needle in needles:
        assert needle.lower() in errors[0].lower(), errors[0]
    return errors[0]


def test_secure_node_start_time_is_reported(secure_kafka: SecureKafka) -> None:
    # The figure the docs quote; a secured node still comes up well inside the 90 s limit.
    print(f"secured Kafka node up in {secure_kafka.start_s:.1f} s")
    assert secure_kafka.start_s < 90


def test_admin_runs_every_command_over_sasl_ssl(secure_kafka: SecureKafka) -> None:
    topic = _topic()
    env = secure_kafka.env("admin", HORIZONS_TOPIC=topic)
    check = secure_kafka.horizons("check", env=env)
    assert check.code == 0, check.output
    ensure = secure_kafka.horizons("topics", "ensure", env=env)
    assert ensure.code == 0, ensure.output
    simulate = secure_kafka.horizons(
        "simulate", "--count", "20", "--elements", "4", "--sites", "2", env=env
    )
    assert simulate.code == 0, simulate.output
    assert _record_count(secure_kafka, topic) == 20
    consume = secure_kafka.horizons(
        "consume", "--from-beginning", "--max-messages", "20", "--timeout", "20s", env=env
    )
    assert consume.code == 0, consume.output
    assert len([line for line in consume.stdout.splitlines() if line.startswith("{")]) == 20
    monitor = secure_kafka.horizons("monitor", "--json", env=env)
    assert monitor.code == 0, monitor.output
    assert json.loads(monitor.stdout)["connected"] is True


def test_mtls_client_certificate_works(secure_kafka: SecureKafka) -> None:
    topic = _topic()
    env = secure_kafka.mtls_env(HORIZONS_TOPIC=topic)
    check = secure_kafka.horizons("check", env=env)
    assert check.code == 0, check.output
    simulate = secure_kafka.horizons(
        "simulate", "--count", "5", "--elements", "2", "--sites", "1", env=env
    )
    assert simulate.code == 0, simulate.output
    assert _record_count(secure_kafka, topic) == 5


def test_mtls_without_a_client_certificate_is_refused(secure_kafka: SecureKafka) -> None:
    env = secure_kafka.mtls_env(
        KAFKA_SSL_CERTIFICATE_LOCATION="", KAFKA_SSL_KEY_LOCATION="", KAFKA_SSL_KEY_PASSWORD=""
    )
    _refused_simulate(secure_kafka, env, "TLS handshake", "KAFKA_SSL_CERTIFICATE_LOCATION")


def _refused_simulate(secure_kafka: SecureKafka, env: dict[str, str], *needles: str) -> str:
    topic = _topic()
    env = {**env, "HORIZONS_TOPIC": topic}
    run = secure_kafka.horizons(
        "simulate", "--count", "5", "--elements", "2", "--sites", "1", env=env
    )
    line = _one_clear_line(run, *needles)
    assert _record_count(secure_kafka, topic) is None  # nothing written, not even the topic
    return line


def test_wrong_password(secure_kafka: SecureKafka) -> None:
    env = secure_kafka.env("admin", KAFKA_SASL_PASSWORD=WRONG_PASSWORD)
    _refused_simulate(secure_kafka, env, "SASL authentication", "KAFKA_SASL_PASSWORD")


def test_unknown_user(secure_kafka: SecureKafka) -> None:
    env = secure_kafka.env("admin", KAFKA_SASL_USERNAME="nobody")
    _refused_simulate(secure_kafka, env, "SASL authentication", "KAFKA_SASL_USERNAME")


def test_untrusted_ca(secure_kafka: SecureKafka, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    other, _ = issue_ca("some other CA")
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(other.public_bytes(Encoding.PEM))
    env = secure_kafka.env("admin", KAFKA_SSL_CA_LOCATION=str(other_ca))
    _refused_simulate(secure_kafka, env, "certificate", "KAFKA_SSL_CA_LOCATION")


def test_hostname_mismatch(secure_kafka: SecureKafka) -> None:
    # 127.0.0.2 reaches the broker (a forwarder) but its certificate names 127.0.0.1 only.
    port = secure_kafka.cluster.nodes[0].port
    forward = TcpForward("127.0.0.2", ("127.0.0.1", port))
    try:
        env = secure_kafka.env("admin", KAFKA_BOOTSTRAP_SERVERS=forward.address)
        _refused_simulate(secure_kafka, env, "certificate", "names the host")
        # Hostname verification can be turned off (KAFKA_SSL_VERIFY_HOSTNAME=false) ...
        off = secure_kafka.env(
            "admin", KAFKA_BOOTSTRAP_SERVERS=forward.address, KAFKA_SSL_VERIFY_HOSTNAME="false"
        )
        check = secure_kafka.horizons("check", env=off)
        assert check.code == 0, check.output
    finally:
        forward.close()


def test_principal_without_acl_is_not_authorized(secure_kafka: SecureKafka) -> None:
    topic = _topic()
    admin_env = secure_kafka.env("admin", HORIZONS_TOPIC=topic)
    assert secure_kafka.horizons("topics", "ensure", env=admin_env).code == 0
    guest = secure_kafka.env("guest", HORIZONS_TOPIC=topic)
    run = secure_kafka.horizons(
        "simulate", "--count", "5", "--elements", "2", "--sites", "1", "--no-ensure", env=guest
    )
    _one_clear_line(run, "not authorized", "topic", "ACL")
    assert _record_count(secure_kafka, topic) == 0
    ensure = secure_kafka.horizons(
        "topics", "ensure", env=secure_kafka.env("guest", HORIZONS_TOPIC=_topic())
    )
    _one_clear_line(ensure, "not authorized")


def test_broker_secure_prints_the_ca_and_exports_without_the_password(
    secure_kafka: SecureKafka,
) -> None:
    text = secure_instructions(secure_kafka.cluster)
    secure_kafka.runs.append(Run(["horizons", "broker", "--secure", "(instructions)"], 0, text, ""))
    assert f"CA certificate: {secure_kafka.ca}" in text
    assert f"export KAFKA_BOOTSTRAP_SERVERS={secure_kafka.cluster.bootstrap}" in text
    assert "export KAFKA_SECURITY_PROTOCOL=SASL_SSL" in text
    assert 'KAFKA_SASL_PASSWORD="$(cat ' in text
    assert f"export KAFKA_SSL_CA_LOCATION={secure_kafka.ca}" in text
    assert f"export KAFKA_BOOTSTRAP_SERVERS={secure_kafka.cluster.mtls_bootstrap}" in text


def test_oauthbearer_oidc_client_credentials(secure_kafka: SecureKafka) -> None:
    # librdkafka's OIDC method fetches a token from the endpoint; Kafka's unsecured-JWS
    # validator takes its ``sub`` (admin) as the principal.
    endpoint = TokenEndpoint("horizons", OAUTH_SECRET)
    topic = _topic()
    try:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": secure_kafka.cluster.oauth_bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "KAFKA_SSL_CA_LOCATION": str(secure_kafka.ca),
            "KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": endpoint.url,
            "KAFKA_SASL_OAUTHBEARER_CLIENT_ID": "horizons",
            "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": OAUTH_SECRET,
            "HORIZONS_TOPIC": topic,
        }
        simulate = secure_kafka.horizons(
            "simulate", "--count", "5", "--elements", "2", "--sites", "1", env=env
        )
        assert simulate.code == 0, simulate.output
        assert _record_count(secure_kafka, topic) == 5
        assert endpoint.requests >= 1
    finally:
        endpoint.close()


def test_help_does_not_show_secrets(secure_kafka: SecureKafka) -> None:
    helps = (["--help"], ["broker", "--help"], ["check", "--help"], ["simulate", "--help"])
    for args in (*helps, ["acls", "--help"], ["acls", "apply", "--help"]):
        run = secure_kafka.horizons(*args, env=secure_kafka.env("admin"), debug=False)
        assert run.code == 0, run.output


def test_zz_no_secret_in_any_output(secure_kafka: SecureKafka) -> None:
    """Runs last in this file: every stdout and stderr of the runs above, and the broker's
    own log, hold no password, wrong password or key password."""
    assert len(secure_kafka.runs) >= 15
    secrets = [
        secure_kafka.password("admin"),
        secure_kafka.password("guest"),
        *(secure_kafka.password(u) for u in secure_kafka.cluster.security.users),
        secure_kafka.cluster.security.client_key_password().reveal(),
        WRONG_PASSWORD,
        OAUTH_SECRET,
    ]
    debug_lines = 0
    for run in secure_kafka.runs:
        debug_lines += run.stderr.count("DEBUG")
        for secret in secrets:
            assert secret not in run.output, f"secret in the output of {run.args[3:]}"
    assert debug_lines > 0  # the runs did log at debug level
    log = secure_kafka.cluster.log_path(1).read_text(errors="replace")
    for secret in secrets:
        assert secret not in log
