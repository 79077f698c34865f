"""Options, settings and output helpers shared by every ``horizons`` command."""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import msgspec
import typer
from rich.console import Console
from rich.markup import escape

from ..config import KafkaSettings
from .exits import Exit

__all__ = [
    "BootstrapOpt",
    "EncodingOpt",
    "JsonOpt",
    "PartitionerOpt",
    "ProfileOpt",
    "StorageOpt",
    "TopicOpt",
    "err_console",
    "fail",
    "load_settings",
    "out_console",
    "print_json",
]

BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        "-b",
        help="Kafka bootstrap servers host:port[,host:port]; overrides KAFKA_BOOTSTRAP_SERVERS, "
        "KAFKA_HOST/KAFKA_PORT.",
        show_default=False,
    ),
]
TopicOpt = Annotated[
    str | None,
    typer.Option(
        "--topic", "-t", help="Topic name \\[default: element.raw_data or HORIZONS_TOPIC]."
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="dev or prod \\[default: HORIZONS_PROFILE or dev]."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
PartitionerOpt = Annotated[
    str | None,
    typer.Option(
        "--partitioner",
        help="Where keys go, as the topic's other producers put them: java (Java client, "
        "KafkaJS DefaultPartitioner, librdkafka murmur2_random), kafkajs-legacy (KafkaJS "
        "LegacyPartitioner), consistent_random (librdkafka's default) "
        "\\[default: HORIZONS_PARTITIONER or java].",
        show_default=False,
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="How packets are written: json (the spec's) or binary (the chunk as raw bytes, "
        "see the packet page) \\[default: HORIZONS_ENCODING or json].",
        show_default=False,
    ),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        "-s",
        help="Archive URL: file:///path, s3://bucket/prefix or gs://bucket/prefix "
        "(default: HORIZONS_ARCHIVE_URL, else file://./data/archive).",
        show_default=False,
    ),
]

# Piped or captured output gets room for whole tables instead of rich's 80 columns.
_PIPE_WIDTH = None if "COLUMNS" in os.environ else 160
out_console = Console(
    highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPE_WIDTH
)
err_console = Console(
    stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else _PIPE_WIDTH
)


def load_settings(
    bootstrap: str | None = None, topic: str | None = None, profile: str | None = None
) -> KafkaSettings:
    """Settings from the environment with the command line's overrides applied."""
    return KafkaSettings.from_env().with_overrides(
        bootstrap=bootstrap, topic=topic, profile=profile
    )


def print_json(value: object) -> None:
    """One JSON document on a line of stdout, flushed (for scripts and ``--watch`` pipes)."""
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")
    sys.stdout.flush()


def fail(message: str, code: Exit = Exit.PROBLEM) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(code)
