"""The Kafka jars and the JVM that runs them.

The jars come from ``tools/kafka/fetch`` (a Maven copy into ``~/.cache/cosmic-horizons``,
or ``$HORIZONS_KAFKA_HOME``); :func:`java_command` is the command line of one Kafka tool or
node with the project's JVM options and log4j configuration.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from ..errors import HorizonsError

__all__ = [
    "DEFAULT_JVM_OPTS",
    "KAFKA_VERSION",
    "java_binary",
    "java_command",
    "kafka_home",
    "kafka_libs",
]

#: The Apache Kafka version ``tools/kafka/pom.xml`` pins (a unit test keeps them equal).
KAFKA_VERSION = "4.4.0"

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
        Path(__file__).resolve().parents[3] / "tools" / "kafka" / "log4j2.properties",
    ):
        if candidate.is_file():
            return candidate
    return None


def java_command(main: str, *args: str, metrics: tuple[str, int] | None = None) -> list[str]:
    """The command line running the Kafka class ``main`` with ``args``."""
    opts = os.environ.get("HORIZONS_KAFKA_JVM_OPTS")
    cmd = [java_binary(), *(shlex.split(opts) if opts else DEFAULT_JVM_OPTS)]
    log4j = _log4j_config()
    if log4j is not None:
        cmd.append(f"-Dlog4j2.configurationFile={log4j}")
    if metrics is not None:  # the Prometheus JMX exporter on (host, port)
        cmd.append(jmx_exporter_agent(*metrics))
    cmd += ["-cp", str(kafka_libs() / "*"), main, *args]
    return cmd


def jmx_exporter_agent(host: str, port: int) -> str:
    """``-javaagent:`` for the Prometheus JMX exporter on ``host:port`` with the project's rules
    (the jar from ``tools/kafka/fetch``, the rules from ``deploy/kafka-metrics.yaml``)."""
    jars = sorted((kafka_home() / "agent").glob("jmx_prometheus_javaagent-*.jar"))
    rules = [
        p
        for p in (
            Path(__file__).resolve().parents[3] / "deploy" / "kafka-metrics.yaml",
            kafka_home() / "kafka-metrics.yaml",
        )
        if p.is_file()
    ]
    if not jars or not rules:
        raise HorizonsError(
            f"the Prometheus JMX exporter is not in {kafka_home() / 'agent'}: run tools/kafka/fetch"
        )
    return f"-javaagent:{jars[-1]}={host}:{port}:{rules[0]}"
