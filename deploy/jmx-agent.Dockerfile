# The Prometheus JMX exporter agent for the Kafka brokers, as a small image whose only job is
# to copy the jar into a volume the broker mounts (compose: the jmx-agent service; Kubernetes:
# the broker pods' init container). The version is the one tools/kafka/pom.xml pins. Build
# from the project root:
#   docker build -f deploy/jmx-agent.Dockerfile -t jmx-exporter-agent:0.1.0 .
FROM maven:3.9-eclipse-temurin-17 AS fetch
COPY tools/kafka/pom.xml /build/pom.xml
RUN mvn -q -B -f /build/pom.xml dependency:copy-dependencies \
        -DincludeGroupIds=io.prometheus.jmx -DexcludeTransitive=true -Dmdep.stripVersion=true \
        -DoutputDirectory=/agent

FROM busybox:1.37
COPY --from=fetch /agent/jmx_prometheus_javaagent.jar /agent/jmx_prometheus_javaagent.jar
# Copies the agent into the mounted folder (default /opt/jmx-exporter) and exits.
ENTRYPOINT ["sh", "-c", "cp /agent/jmx_prometheus_javaagent.jar \"${1:-/opt/jmx-exporter}/\"", "copy"]
