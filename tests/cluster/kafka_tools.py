"""Kafka's own command-line tools, run from the jars the local cluster runs on.

The referee tests compare what ``horizons`` reports with what these print. Each tool is the
main class behind the ``bin/kafka-*.sh`` script of Apache Kafka 4.x, started as
``java -cp '<libs>/*' <main class> ...`` with a small client JVM; their text output is parsed
here into plain values (nothing in this module talks to Kafka any other way).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from cosmic_horizons.kafka_local import java_binary, kafka_libs

#: ``bin/kafka-*.sh`` -> main class, as in Apache Kafka 4.4's scripts.
TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs": "org.apache.kafka.tools.ConfigCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-cluster": "org.apache.kafka.tools.ClusterTool",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
}

#: A client JVM that starts fast on a busy two-core machine: C1 only, a small serial heap.
_JVM_OPTS = (
    "-Xms32m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
)


class ToolError(AssertionError):
    """A tool exited non-zero: the referee could not answer (fails the test)."""


def run_tool(tool: str, *args: str, timeout: float = 60.0) -> str:
    """Run ``tool`` (a ``bin/kafka-*.sh`` name) with ``args``; its stdout.

    Raises :class:`ToolError` with the tool's stderr when it exits non-zero.
    """
    cmd = [java_binary(), *_JVM_OPTS, "-cp", str(kafka_libs() / "*"), TOOLS[tool], *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise ToolError(
            f"{tool} {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
            f"\n{proc.stdout[-2000:]}"
        )
    return proc.stdout


# -- kafka-topics ------------------------------------------------------------------------


def topics_list(bootstrap: str) -> list[str]:
    """``kafka-topics --list``: every topic name, internal ones included."""
    out = run_tool("kafka-topics", "--bootstrap-server", bootstrap, "--list")
    return sorted(line.strip() for line in out.splitlines() if line.strip())


@dataclass(frozen=True)
class ToolPartition:
    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class ToolTopic:
    name: str
    topic_id: str
    partition_count: int
    replication_factor: int
    configs: dict[str, str]
    partitions: list[ToolPartition] = field(default_factory=list)


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _fields(line: str) -> dict[str, str]:
    """``Topic: t\\tPartition: 0\\tLeader: 1 ...`` as a dict (tab-separated ``key: value``)."""
    out: dict[str, str] = {}
    for part in line.strip().split("\t"):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def topics_describe(bootstrap: str, topic: str) -> ToolTopic:
    """``kafka-topics --describe --topic T``: the summary line and one line per partition.

    The summary's ``Configs:`` lists only values set on the topic (comma-separated).
    """
    out = run_tool("kafka-topics", "--bootstrap-server", bootstrap, "--describe", "--topic", topic)
    head: dict[str, str] | None = None
    configs_text = ""
    partitions: list[ToolPartition] = []
    for line in out.splitlines():
        if not line.strip():
            continue
        if line.startswith("Topic:") and "PartitionCount:" in line:
            before, _, configs_text = line.partition("Configs:")
            head = _fields(before)
            continue
        f = _fields(line)
        if "Partition" in f:
            leader = int(f["Leader"]) if f["Leader"] not in ("none", "-1") else None
            partitions.append(
                ToolPartition(
                    partition=int(f["Partition"]),
                    leader=leader,
                    replicas=_ids(f["Replicas"]),
                    isr=_ids(f["Isr"]),
                )
            )
    if head is None:
        raise ToolError(f"kafka-topics --describe printed no summary line:\n{out}")
    configs = {}
    for item in configs_text.strip().split(","):
        key, sep, value = item.partition("=")
        if sep:
            configs[key.strip()] = value.strip()
    return ToolTopic(
        name=head["Topic"],
        topic_id=head.get("TopicId", ""),
        partition_count=int(head["PartitionCount"]),
        replication_factor=int(head["ReplicationFactor"]),
        configs=configs,
        partitions=sorted(partitions, key=lambda p: p.partition),
    )


# -- kafka-configs -----------------------------------------------------------------------

_CONFIG_LINE = re.compile(r"^\s+(?P<key>[a-z0-9_.\-]+)=(?P<value>.*?) sensitive=(?P<s>true|false) ")


def topic_configs(bootstrap: str, topic: str, *, all_configs: bool = True) -> dict[str, str | None]:
    """``kafka-configs --describe --entity-type topics --entity-name T [--all]``.

    Each config line is ``  key=value sensitive=false synonyms={...}``; a value the broker
    does not report (null) maps to None.
    """
    args = ["--bootstrap-server", bootstrap, "--describe", "--entity-type", "topics"]
    args += ["--entity-name", topic]
    if all_configs:
        args.append("--all")
    out = run_tool("kafka-configs", *args)
    configs: dict[str, str | None] = {}
    for line in out.splitlines():
        m = _CONFIG_LINE.match(line)
        if m:
            value = m.group("value")
            configs[m.group("key")] = None if value == "null" else value
    if not configs:
        raise ToolError(f"kafka-configs printed no config lines:\n{out}")
    return configs


# -- kafka-consumer-groups ---------------------------------------------------------------


@dataclass(frozen=True)
class ToolGroupPartition:
    topic: str
    partition: int
    current_offset: int | None
    log_end_offset: int | None
    lag: int | None
    consumer_id: str | None


def _opt_int(text: str) -> int | None:
    return None if text == "-" else int(text)


def consumer_group_describe(bootstrap: str, group: str) -> list[ToolGroupPartition]:
    """``kafka-consumer-groups --describe --group G``: one row per partition.

    Columns: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    (``-`` where there is no value).
    """
    out = run_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe",
                   "--group", group)  # fmt: skip
    rows: list[ToolGroupPartition] = []
    header: list[str] | None = None
    for line in out.splitlines():
        cells = line.split()
        if not cells:
            continue
        if cells[0] == "GROUP":
            header = cells
            continue
        if header is None or cells[0] != group:
            continue
        row = dict(zip(header, cells, strict=False))
        rows.append(
            ToolGroupPartition(
                topic=row["TOPIC"],
                partition=int(row["PARTITION"]),
                current_offset=_opt_int(row["CURRENT-OFFSET"]),
                log_end_offset=_opt_int(row["LOG-END-OFFSET"]),
                lag=_opt_int(row["LAG"]),
                consumer_id=None if row["CONSUMER-ID"] == "-" else row["CONSUMER-ID"],
            )
        )
    return sorted(rows, key=lambda r: (r.topic, r.partition))


# -- brokers, cluster id, quorum ---------------------------------------------------------

_API_VERSIONS_HEAD = re.compile(r"^(?P<host>[^\s:]+):(?P<port>\d+) \(id: (?P<id>-?\d+)")


def broker_api_versions(bootstrap: str) -> dict[int, tuple[str, int]]:
    """``kafka-broker-api-versions``: {broker id: (host, port)} from each broker's head line."""
    out = run_tool("kafka-broker-api-versions", "--bootstrap-server", bootstrap)
    brokers: dict[int, tuple[str, int]] = {}
    for line in out.splitlines():
        m = _API_VERSIONS_HEAD.match(line)
        if m:
            brokers[int(m.group("id"))] = (m.group("host"), int(m.group("port")))
    return brokers


def cluster_id(bootstrap: str) -> str:
    """``kafka-cluster cluster-id``: the ``Cluster ID: ...`` line."""
    out = run_tool("kafka-cluster", "cluster-id", "--bootstrap-server", bootstrap)
    m = re.search(r"Cluster ID:\s*(\S+)", out)
    if m is None:
        raise ToolError(f"kafka-cluster cluster-id printed no id:\n{out}")
    return m.group(1)


def quorum_status(bootstrap: str) -> dict[str, str]:
    """``kafka-metadata-quorum describe --status``: its ``Key: value`` lines."""
    out = run_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap, "describe",
                   "--status")  # fmt: skip
    status: dict[str, str] = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            status[key.strip()] = value.strip()
    return status


# -- kafka-get-offsets -------------------------------------------------------------------


def get_offsets(bootstrap: str, topic: str, time: str = "-1") -> dict[int, int]:
    """``kafka-get-offsets --topic T --time X``: {partition: offset} (-1 latest, -2 earliest)."""
    out = run_tool("kafka-get-offsets", "--bootstrap-server", bootstrap, "--topic", topic,
                   "--time", time)  # fmt: skip
    offsets: dict[int, int] = {}
    for line in out.splitlines():
        parts = line.strip().rsplit(":", 2)
        if len(parts) == 3 and parts[0] == topic:
            offsets[int(parts[1])] = int(parts[2])
    return offsets


# -- kafka-reassign-partitions -------------------------------------------------------------


def reassign_verify(bootstrap: str, plan_file: str) -> dict[str, str]:
    """``kafka-reassign-partitions --verify``: {"topic-partition": "completed" | "in progress" |
    what else it said} from its ``Reassignment of partition X is ...`` lines."""
    out = run_tool("kafka-reassign-partitions", "--bootstrap-server", bootstrap, "--verify",
                   "--reassignment-json-file", plan_file)  # fmt: skip
    states: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"Reassignment of partition (\S+) is (.+?)\.?$", line.strip())
        if m:
            text = m.group(2)
            states[m.group(1)] = "completed" if text.startswith("complete") else text
    if not states:
        raise ToolError(f"kafka-reassign-partitions --verify printed no partition:\n{out}")
    return states
