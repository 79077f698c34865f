"""The files under deploy/ agree with the code: settings, commands, probes, KRaft layout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from cosmic_horizons.api import ApiState, create_app
from cosmic_horizons.api.routes import ROUTERS
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import DEFAULT_TOPIC, KafkaSettings
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.tuning import TUNING, compare, recommended_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
NAMESPACE = "data-plane"
# Variables the apache/kafka image passes to the JVM or the scripts, not to server.properties.
NOT_PROPERTIES = {"KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS", "KAFKA_LOG4J_OPTS"}
PINNED_KAFKA = re.compile(r"^apache/kafka:\d+\.\d+\.\d+$")


# -- loading -------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    with (DEPLOY / "compose.yaml").open() as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


def _k8s_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        with path.open() as f:
            docs.extend(d for d in yaml.safe_load_all(f) if d is not None)
    return docs


def _k8s(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _properties(env: dict[str, Any]) -> dict[str, str]:
    """The apache/kafka image's KAFKA_* variables as the server.properties it writes."""
    props: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith("KAFKA_") or name in NOT_PROPERTIES:
            continue
        key = name[len("KAFKA_") :].replace("___", "\0").replace("__", "\1").replace("_", ".")
        props[key.replace("\0", "-").replace("\1", "_").lower()] = str(value)
    return props


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif node is not None:
        yield str(node)


def _api_paths() -> set[str]:
    """Every path the app serves: its own routes and those of the routers it includes."""
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    api = create_app(ApiState(settings=settings, monitor=Monitor(settings)))
    paths = {getattr(route, "path", "") for route in api.routes}
    return paths | {getattr(r, "path", "") for router in ROUTERS for r in router.routes}


def _without_interpolation(arg: str) -> str:
    """Compose's ``${VAR:-default}`` as its default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", arg)


# -- helpers' own checks -------------------------------------------------------------------


def test_env_names_map_to_properties_as_the_image_does() -> None:
    assert _properties(
        {
            "KAFKA_NUM_IO_THREADS": 16,
            "KAFKA_LISTENER_NAME_INTERNAL_SSL__X": "a",
            "KAFKA_A___B": "c",
            "KAFKA_HEAP_OPTS": "-Xmx1g",
            "CLUSTER_ID": "x",
        }
    ) == {"num.io.threads": "16", "listener.name.internal.ssl_x": "a", "a-b": "c"}


# -- dev: Compose --------------------------------------------------------------------------


def test_compose_broker_is_a_pinned_single_kraft_node() -> None:
    kafka = _compose()["services"]["kafka"]
    assert PINNED_KAFKA.match(kafka["image"]), kafka["image"]
    props = _properties(kafka["environment"])
    assert set(props["process.roles"].split(",")) == {"broker", "controller"}
    node_id = props["node.id"]
    assert props["controller.quorum.voters"] == f"{node_id}@{kafka['hostname']}:9093"
    assert kafka["environment"]["CLUSTER_ID"]
    assert "healthcheck" in kafka
    assert props["log.dirs"] in {v.split(":")[1] for v in kafka["volumes"]}


def test_compose_broker_settings_are_the_dev_profile() -> None:
    props = _properties(_compose()["services"]["kafka"]["environment"])
    for name, value in recommended_settings("dev").items():
        assert props.get(name) == value, name
    assert props["auto.create.topics.enable"] == "false"
    assert {c.name: c.status for c in compare(props, "dev")} == {p.name: "ok" for p in TUNING}


def test_compose_listeners_reach_containers_and_host() -> None:
    services = _compose()["services"]
    kafka = services["kafka"]
    props = _properties(kafka["environment"])
    listeners = dict(item.split("://") for item in props["listeners"].split(","))
    advertised = dict(item.split("://") for item in props["advertised.listeners"].split(","))
    assert props["controller.listener.names"] not in advertised
    binds = [_without_interpolation(p).split(":") for p in kafka["ports"]]
    # Published on the host's loopback only: the dev broker has no authentication.
    assert [b[0] for b in binds] == ["127.0.0.1"] * len(binds)
    published = {int(b[2]): int(b[1]) for b in binds}
    # The listener behind the published port advertises localhost and that port.
    for name, bind in listeners.items():
        container_port = int(bind.rsplit(":", 1)[1])
        if container_port in published:
            assert advertised[name] == f"localhost:{published[container_port]}"
    assert any(a.startswith("localhost:") for a in advertised.values())
    # The other containers bootstrap from a listener that advertises that same address.
    bootstrap = services["simulator"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap in advertised.values()
    assert bootstrap.split(":")[0] == kafka["hostname"]
    assert props["inter.broker.listener.name"] in advertised


def test_compose_services_read_the_dev_settings() -> None:
    services = _compose()["services"]
    ours = {n: s for n, s in services.items() if s.get("image", "").startswith("cosmic-horizons")}
    assert set(ours) == {"topics-init", "simulator", "api", "archiver"}
    for name, service in ours.items():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
        env = {k: str(v) for k, v in service["environment"].items() if v is not None}
        settings = KafkaSettings.from_env(env)
        assert settings.profile == "dev", name
        assert settings.topic == DEFAULT_TOPIC, name
        assert settings.bootstrap_servers == "kafka:19092", name
        if name != "topics-init":
            assert service["depends_on"]["topics-init"]["condition"] == (
                "service_completed_successfully"
            )
    assert ours["topics-init"]["command"] == ["topics", "ensure", "--profile", "dev", "--with-dlq"]
    assert ours["topics-init"]["restart"] == "no"


def test_compose_api_and_archiver() -> None:
    services = _compose()["services"]
    api = services["api"]
    # Every interface inside the container, loopback only on the host unless asked otherwise.
    assert api["command"] == ["serve", "--host", "0.0.0.0", "--port", "8000", "--insecure"]
    assert [_without_interpolation(p) for p in api["ports"]] == ["127.0.0.1:8000:8000"]
    assert api["environment"]["HORIZONS_API_TOKEN"] == "${HORIZONS_API_TOKEN:-}"
    probe = " ".join(api["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/[^'\" ]*)", probe)
    assert path is not None and path.group(1) in _api_paths()
    archiver = services["archiver"]
    storage = _without_interpolation(archiver["command"][-1])
    assert archiver["command"][:3] == ["archive", "run", "--storage"]
    assert storage == "file:///data/archive"
    assert storage.removeprefix("file://") in {v.split(":")[1] for v in archiver["volumes"]}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(archiver["environment"])
    assert archiver["shm_size"] == "512m"  # room for the encoder processes' ranges


# -- prod: Kubernetes ----------------------------------------------------------------------


def test_kustomization_applies_every_manifest_into_data_plane() -> None:
    with (K8S / "kustomization.yaml").open() as f:
        kustomization = yaml.safe_load(f)
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == NAMESPACE
    for doc in _k8s_documents():
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        elif doc["kind"] != "Kustomization":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


def _broker_set() -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    sts = _k8s("StatefulSet", "kafka-broker")
    service = _k8s("Service", sts["spec"]["serviceName"])
    config = _k8s("ConfigMap", "kafka-broker-config")["data"]
    return sts, service, config


def _pod_dns(sts: dict[str, Any], service: dict[str, Any], ordinal: int) -> str:
    name, svc = sts["metadata"]["name"], service["metadata"]["name"]
    return f"{name}-{ordinal}.{svc}.{NAMESPACE}.svc.cluster.local"


def test_three_kraft_brokers_with_combined_roles() -> None:
    sts, service, config = _broker_set()
    props = _properties(config)
    replicas = sts["spec"]["replicas"]
    assert replicas == 3
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert set(props["process.roles"].split(",")) == {"broker", "controller"}
    voters = props["controller.quorum.voters"].split(",")
    assert voters == [f"{i}@{_pod_dns(sts, service, i)}:9093" for i in range(replicas)]
    assert props["default.replication.factor"] == str(replicas)
    assert props["min.insync.replicas"] == "2"
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert PINNED_KAFKA.match(container["image"]), container["image"]
    script = container["command"][-1]
    assert 'KAFKA_NODE_ID="${HOSTNAME##*-}"' in script
    pod = "${HOSTNAME}." + _pod_dns(sts, service, 0).split(".", 1)[1]
    assert f"PLAINTEXT://{pod}:9092" in script
    assert container["envFrom"] == [{"configMapRef": {"name": "kafka-broker-config"}}]


def test_broker_resources_storage_and_disruption_budget() -> None:
    sts, _, config = _broker_set()
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "4", "memory": "8Gi"},
        "limits": {"cpu": "8", "memory": "16Gi"},
    }
    assert config["KAFKA_HEAP_OPTS"] == "-Xms4g -Xmx4g"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "500Gi"
    mount = next(m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    assert config["KAFKA_LOG_DIRS"].startswith(mount["mountPath"] + "/")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    pdb = _k8s("PodDisruptionBudget", "kafka-broker")
    assert pdb["spec"]["minAvailable"] == int(_properties(config)["min.insync.replicas"])
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"


def test_prod_broker_settings_are_the_prod_profile() -> None:
    _, _, config = _broker_set()
    props = _properties(config)
    for name, value in recommended_settings("prod").items():
        assert props.get(name) == value, name
    for parameter in TUNING:
        assert props[parameter.name] == str(parameter.prod.recommended)
    assert {c.name: c.status for c in compare(props, "prod")} == {p.name: "ok" for p in TUNING}
    assert props["log.retention.bytes"] == str(2**40)
    assert props["log.segment.bytes"] == str(2**30)


def test_services_read_the_prod_settings() -> None:
    sts, service, _ = _broker_set()
    data = _k8s("ConfigMap", "horizons-config")["data"]
    settings = KafkaSettings.from_env(data)
    assert settings.profile == "prod"
    assert settings.topic == DEFAULT_TOPIC
    assert settings.bootstrap_servers == ",".join(
        f"{_pod_dns(sts, service, i)}:9092" for i in range(sts["spec"]["replicas"])
    )
    assert data["HORIZONS_ARCHIVE_URL"].startswith("s3://")


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = doc["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_topic_init_job_waits_then_ensures_the_prod_layout() -> None:
    job = _k8s("Job", "topic-init")
    wait, ensure = _containers(job)
    assert wait["args"][:2] == ["check", "--wait"]
    assert ensure["args"] == ["topics", "ensure", "--profile", "prod", "--with-dlq"]
    for container in (wait, ensure):
        assert {"configMapRef": {"name": "horizons-config"}} in container["envFrom"]


def test_archiver_has_room_in_shared_memory_for_its_encoder_processes() -> None:
    deployment = _k8s("Deployment", "horizons-archiver")
    (container,) = _containers(deployment)
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    (volume,) = deployment["spec"]["template"]["spec"]["volumes"]
    assert volume["name"] == mount["name"]
    assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "512Mi"}


def test_api_probes_and_scrape_annotations_point_at_real_endpoints() -> None:
    deployment = _k8s("Deployment", "horizons-api")
    (container,) = _containers(deployment)
    port = container["ports"][0]
    assert container["args"] == [
        *("serve", "--host", "0.0.0.0", "--port", str(port["containerPort"])),
        "--insecure",  # the Service is cluster-internal; a token is for exposing it further
    ]
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/health"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    paths = _api_paths()
    for path in (
        container["readinessProbe"]["httpGet"]["path"],
        container["livenessProbe"]["httpGet"]["path"],
        annotations["prometheus.io/path"],
    ):
        assert path in paths, path
    service = _k8s("Service", "horizons-api")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def test_archiver_takes_s3_credentials_from_a_secret() -> None:
    (container,) = _containers(_k8s("Deployment", "horizons-archiver"))
    assert container["args"] == ["archive", "run"]
    assert {"secretRef": {"name": "archive-s3"}} in container["envFrom"]
    assert {"configMapRef": {"name": "horizons-config"}} in container["envFrom"]


def test_network_policy_admits_brokers_and_data_plane_clients_only() -> None:
    sts, _, _ = _broker_set()
    policy = _k8s("NetworkPolicy", "kafka-broker")["spec"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    rules = {
        ("pods" if "podSelector" in r["from"][0] else "namespace"): (
            r["from"][0],
            sorted(p["port"] for p in r["ports"]),
        )
        for r in policy["ingress"]
    }
    peer, ports = rules["pods"]
    assert peer["podSelector"]["matchLabels"].items() <= labels.items()
    assert ports == [9092, 9093]
    peer, ports = rules["namespace"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": NAMESPACE}
    assert ports == [9092, 9404]  # clients, and the JMX exporter for the dashboard


def test_brokers_run_the_jmx_exporter_with_the_projects_rules() -> None:
    rules = yaml.safe_load((DEPLOY / "kafka-metrics.yaml").read_text())
    config_map = _k8s("ConfigMap", "kafka-metrics")["data"]["kafka-metrics.yaml"]
    assert yaml.safe_load(config_map) == rules, "deploy/k8s/kafka-metrics.yaml is out of step"
    agent = "-javaagent:/opt/jmx-exporter/jmx_prometheus_javaagent.jar=9404:"
    rules_path = "/etc/kafka-metrics/kafka-metrics.yaml"
    sts, _, config = _broker_set()
    assert config["KAFKA_OPTS"] == agent + rules_path
    pod = sts["spec"]["template"]["spec"]
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert {"/opt/jmx-exporter", "/etc/kafka-metrics"} <= mounts
    assert pod["initContainers"][0]["image"] == "jmx-exporter-agent"
    kafka = _compose()["services"]["kafka"]
    assert kafka["environment"]["KAFKA_OPTS"] == agent + rules_path
    assert f"./kafka-metrics.yaml:{rules_path}:ro" in kafka["volumes"]
    api = _compose()["services"]["api"]["environment"]
    assert api["HORIZONS_BROKER_METRICS"] == "http://kafka:9404/metrics"


# -- both ----------------------------------------------------------------------------------


def test_no_zookeeper_anywhere() -> None:
    texts = [*_strings(_compose()), *(s for d in _k8s_documents() for s in _strings(d))]
    assert not [t for t in texts if "zookeeper" in t.lower()]
    assert "zookeeper" not in (DEPLOY / "Dockerfile").read_text().lower()


def _horizons_invocations() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for name, service in _compose()["services"].items():
        if service.get("image", "").startswith("cosmic-horizons"):
            found.append(
                (f"compose {name}", [_without_interpolation(a) for a in service["command"]])
            )
    for doc in _k8s_documents():
        if doc["kind"] in {"Deployment", "Job", "StatefulSet"}:
            for container in _containers(doc):
                if container["image"].startswith("cosmic-horizons"):
                    found.append((f"k8s {container['name']}", container["args"]))
    return found


def _parse(args: list[str]) -> None:
    """Parse ``horizons ARGS`` as the CLI would, without running it (raises on errors)."""
    command: Any = typer.main.get_command(app)
    rest = list(args)
    while hasattr(command, "commands"):  # a group: the next word names its subcommand
        name = rest.pop(0)
        assert name in command.commands, f"no command {name!r} in {args}"
        command = command.commands[name]
    command.make_context(args[0], rest)


@pytest.mark.parametrize(
    ("where", "args"),
    [pytest.param(where, args, id=where) for where, args in _horizons_invocations()],
)
def test_every_command_in_the_deploy_files_parses(where: str, args: list[str]) -> None:
    _parse(args)


# -- the secured variant (deploy/k8s-secure: Strimzi, SASL_SSL, one KafkaUser per component) --

SECURE = DEPLOY / "k8s-secure"
#: The component each secured service logs in as.
SECURE_LOGINS = {
    "horizons-api": "horizons-monitor",
    "horizons-archiver": "horizons-archiver",
    "topic-init": "horizons-operator",
}


def _secure(name: str) -> list[dict[str, Any]]:
    with (SECURE / name).open() as f:
        return [d for d in yaml.safe_load_all(f) if d]


def test_kafka_users_are_what_horizons_acls_print_gives() -> None:
    from cosmic_horizons.acls import acl_plan
    from cosmic_horizons.acls_text import strimzi_users

    printed = [d for d in yaml.safe_load_all(strimzi_users(acl_plan(DEFAULT_TOPIC, "prod"))) if d]
    assert _secure("users.yaml") == printed  # regenerate: see the head of users.yaml
    for user in printed:
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "horizons"


def test_secured_kafka_has_sasl_ssl_and_mtls_listeners_and_the_prod_settings() -> None:
    docs = {d["kind"]: d for d in _secure("kafka.yaml")}
    kafka = docs["Kafka"]["spec"]["kafka"]
    auth = {lst["name"]: (lst["tls"], lst["authentication"]["type"]) for lst in kafka["listeners"]}
    assert auth == {"scram": (True, "scram-sha-512"), "mtls": (True, "tls")}
    assert kafka["authorization"]["type"] == "simple"
    assert {k: str(v).lower() for k, v in kafka["config"].items()} == {
        k: v.lower() for k, v in recommended_settings("prod").items()
    }
    assert docs["KafkaNodePool"]["spec"]["replicas"] == 3


def test_secured_services_log_in_as_their_own_kafka_user() -> None:
    users = {d["metadata"]["name"] for d in _secure("users.yaml")}
    patched = {d["metadata"]["name"]: d for d in _secure("credentials.yaml")}
    assert set(patched) == set(SECURE_LOGINS)
    for name, doc in patched.items():
        spec = doc["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            env = {e["name"]: e for e in container["env"]}
            user = env["KAFKA_SASL_USERNAME"]["value"]
            assert user == SECURE_LOGINS[name] and user in users
            assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
            assert env["KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
            ref = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": user, "key": "password"}  # the User Operator's Secret
            assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"].endswith(":9093")  # the scram listener
        assert spec["volumes"][0]["secret"]["secretName"] == "horizons-cluster-ca-cert"
    pods = [d for d in _k8s_documents() if d["kind"] in ("Deployment", "Job")]
    base = {c["name"] for d in pods for c in _containers(d) if c["image"].startswith("cosmic-")}
    secured = {c["name"] for d in patched.values() for c in _containers(d)}
    assert secured == base  # every service of the base logs in
