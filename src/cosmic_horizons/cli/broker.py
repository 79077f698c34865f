"""What acts on the broker itself: ``broker`` (run one) and ``check`` (is it reachable?).

``broker-config`` (the broker's tuning) is in :mod:`.tuning`.
"""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.markup import escape
from rich.table import Table

from .._units import parse_duration
from ..broker import EmbeddedBroker
from ..cluster import BrokerCheck, check_broker, make_admin
from ..config import KafkaSettings
from ..errors import ConfigError
from ..kafka_local import run_foreground
from .common import BootstrapOpt, JsonOpt, err_console, load_settings, out_console, print_json
from .exits import Exit, stop_on_signals

__all__ = ["DataOpt", "Engine", "EngineOpt", "NodesOpt", "broker", "check", "register"]


class Engine(enum.StrEnum):
    tansu = "tansu"
    kafka = "kafka"


EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="tansu: the embedded in-memory broker (no JVM); kafka: a local Apache Kafka "
        "(KRaft) cluster on disk, from tools/kafka/fetch (needs Java 17+).",
    ),
]
NodesOpt = Annotated[int, typer.Option("--nodes", min=1, help="Kafka engine: number of nodes.")]
DataOpt = Annotated[
    Path,
    typer.Option(
        "--data", help="Kafka engine: data folder (the same folder brings the same cluster back)."
    ),
]


def broker(
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on (Tansu).")] = 9092,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on and advertise.")
    ] = "127.0.0.1",
    engine: EngineOpt = Engine.tansu,
    nodes: NodesOpt = 1,
    data: DataOpt = Path("data/kafka"),
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Kafka engine: SASL_SSL (SCRAM-SHA-512) and mTLS listeners, a throwaway CA, "
            "ACLs enforced; prints the client settings to export.",
        ),
    ] = False,
) -> None:
    """Run a broker until Ctrl-C or SIGTERM: embedded Tansu (in memory) or local Kafka."""
    if secure and engine is not Engine.kafka:
        raise ConfigError("--secure needs --engine kafka (Tansu has no TLS or SASL)")
    if engine is Engine.kafka:
        # A plain wait on the nodes' processes (no Kafka client call): the signal interrupts it.
        with stop_on_signals(interrupt=True):
            code = run_foreground(data, nodes, err_console.print, secure=secure)
        raise typer.Exit(code)
    with stop_on_signals() as stop:
        embedded = EmbeddedBroker(port, host=host)
        embedded.start()
        err_console.print(
            f"embedded broker (Tansu, in-memory) listening on [bold]{embedded.bootstrap}[/] "
            f"(pid {embedded.pid}, cluster id {embedded.cluster_id}); "
            f"clients use --bootstrap {embedded.bootstrap} "
            f"or KAFKA_BOOTSTRAP_SERVERS={embedded.bootstrap}. "
            "Ctrl-C stops it; it also stops when this process is killed."
        )
        try:
            while embedded.running and not stop.wait(0.2):
                pass
            code = 0 if stop.is_set() else embedded.wait()
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
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait",
            help="Retry until the broker answers or this long has passed (30s, 2m).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Is the broker reachable? Cluster id, brokers, round-trip latency. Exit 3 when unreachable,
    4 when SASL/TLS failed."""
    settings = load_settings(bootstrap)
    if wait is None:
        result = check_broker(settings, timeout=timeout)
    else:
        wait_s = parse_duration(wait, what="--wait")
        result = _wait_for_broker(settings, wait_s, timeout, quiet=as_json)
    if as_json:
        print_json(result)
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
    elif result.failure in ("authentication", "tls"):
        # The broker answered; the connection's security failed: no "start a broker" hint.
        err_console.print(
            f"[bold red]{result.failure} failed:[/] {escape(result.error or '')}", soft_wrap=True
        )
    else:
        err_console.print(f"[bold red]unreachable:[/] {escape(result.error or '')}", soft_wrap=True)
        err_console.print(
            "hint: start a local broker with `horizons broker`, or point --bootstrap / "
            "KAFKA_BOOTSTRAP_SERVERS at your cluster",
        )
    if not result.reachable:
        security = result.failure in ("authentication", "tls")
        raise typer.Exit(Exit.SECURITY if security else Exit.UNREACHABLE)


def _wait_for_broker(
    settings: KafkaSettings, wait_s: float, timeout: float, *, quiet: bool
) -> BrokerCheck:
    """Retry :func:`check_broker` on one admin client until it answers or ``wait_s`` passes."""
    deadline = time.monotonic() + wait_s
    admin = make_admin(settings, timeout_ms=int(timeout * 1000))
    attempts = 0
    while True:
        attempt_s = max(0.5, min(timeout, deadline - time.monotonic()))
        result = check_broker(settings, timeout=attempt_s, admin=admin)
        attempts += 1
        left = deadline - time.monotonic()
        if result.reachable or left <= 0 or result.failure in ("authentication", "tls"):
            break  # refused credentials or certificates do not fix themselves
        if attempts == 1 and not quiet:
            err_console.print(
                f"Kafka at {settings.bootstrap_servers} not reachable yet; "
                f"retrying for up to {left:.0f} s"
            )
        time.sleep(min(0.5, left))
    if result.reachable or result.failure in ("authentication", "tls"):
        return result
    waited = f"{result.error}; still unreachable after waiting {wait_s:g} s"
    return msgspec.structs.replace(result, error=waited)


def register(app: typer.Typer) -> None:
    for command in (broker, check):
        app.command()(command)
