"""A local Apache Kafka cluster (KRaft): N combined broker+controller nodes on 127.0.0.1."""

from .cluster import LocalKafkaCluster
from .foreground import run_foreground as run_foreground
from .foreground import secure_instructions as secure_instructions
from .java import DEFAULT_JVM_OPTS as DEFAULT_JVM_OPTS
from .java import KAFKA_VERSION, kafka_home, kafka_libs
from .java import java_binary as java_binary
from .properties import LOCAL_SETTINGS, NodeSpec
from .security import BROKER_PRINCIPAL as BROKER_PRINCIPAL
from .security import CLIENT_PRINCIPAL as CLIENT_PRINCIPAL
from .security import SCRAM_MECHANISM as SCRAM_MECHANISM
from .security import SECURE_USERS as SECURE_USERS
from .security import SecureSetup

__all__ = [
    "KAFKA_VERSION",
    "LOCAL_SETTINGS",
    "LocalKafkaCluster",
    "NodeSpec",
    "SecureSetup",
    "kafka_home",
    "kafka_libs",
]
