"""Core commands: schema, broker, check, produce, consume, simulate, up."""

from __future__ import annotations

import sys
from typing import Annotated

import msgspec
import typer
from rich.table import Table

from ..broker import EmbeddedBroker
from ..cluster import check_broker
from ..packet import json_schema
from .common import (
    BootstrapOpt,
    JsonOpt,
    err_console,
    load_settings,
    out_console,
    sigterm_as_interrupt,
)


def schema() -> None:
    """Print the packet's JSON Schema (KafkaPayload, with units)."""
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(json_schema()), indent=2).decode())
    sys.stdout.write("\n")


def broker(
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 9092,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on and advertise.")
    ] = "127.0.0.1",
) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, in memory) until Ctrl-C or SIGTERM."""
    sigterm_as_interrupt()
    embedded = EmbeddedBroker(port, host=host)
    embedded.start()
    err_console.print(
        f"embedded broker (Tansu, in-memory) listening on [bold]{embedded.bootstrap}[/]; "
        f"clients use --bootstrap {embedded.bootstrap} "
        f"or KAFKA_BOOTSTRAP_SERVERS={embedded.bootstrap}. "
        "Ctrl-C stops it."
    )
    try:
        code = embedded.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        embedded.stop()
    err_console.print("embedded broker stopped")
    raise typer.Exit(code)


def check(
    bootstrap: BootstrapOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for an answer.")
    ] = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """Is the broker reachable? Cluster id, brokers, round-trip latency. Exit 1 when unreachable."""
    settings = load_settings(bootstrap)
    result = check_broker(settings, timeout=timeout)
    if as_json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    elif result.reachable:
        table = Table(title=f"Kafka at {result.bootstrap}: reachable in {result.latency_ms} ms")
        table.add_column("broker id", justify="right")
        table.add_column("host")
        table.add_column("port", justify="right")
        table.add_column("role")
        for b in result.brokers:
            table.add_row(
                str(b.id), b.host, str(b.port), "controller" if b.id == result.controller_id else ""
            )
        out_console.print(table)
        out_console.print(f"cluster id: {result.cluster_id}   topics: {result.topics}")
    else:
        err_console.print(f"[bold red]unreachable:[/] {result.error}", soft_wrap=True)
        err_console.print(
            "hint: start a local broker with `horizons broker`, or point --bootstrap / "
            "KAFKA_BOOTSTRAP_SERVERS at your cluster",
        )
    if not result.reachable:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(schema)
    app.command()(broker)
    app.command()(check)
