"""``horizons broker-config``: the brokers' tuning as desired vs actual (the spec's table).

Exit codes (:class:`.exits.Exit`): 0 every parameter ok on every broker; 1 a parameter is
below, above or unknown; 2 bad arguments or settings; 3 the broker is unreachable, or does
not report its configs (DescribeConfigs for brokers refused or answered with nothing); 4 SASL
authentication or TLS failed.
"""

from __future__ import annotations

import sys
from typing import Annotated

import msgspec
import typer
from rich.table import Table

from ..errors import UnsupportedByBrokerError
from ..tuning import TUNING, TuningCheck, compare, describe_broker_configs, server_properties
from .common import (
    BootstrapOpt,
    JsonOpt,
    ProfileOpt,
    fail,
    load_settings,
    out_console,
    print_json,
)
from .exits import Exit, exit_for

__all__ = ["broker_config", "register"]

_STYLE = {"ok": "green", "below": "bold red", "above": "yellow", "unknown": "magenta"}


class BrokerReport(msgspec.Struct, frozen=True):
    broker_id: int
    parameters: list[TuningCheck]


class ConfigReport(msgspec.Struct, frozen=True):
    profile: str
    bootstrap: str
    ok: bool
    brokers: list[BrokerReport]


def _cell(check: TuningCheck) -> str:
    actual = "-" if check.actual is None else check.actual
    style = _STYLE[check.status]
    return f"{actual} [{style}]{check.status}[/]"


def _print_table(report: ConfigReport) -> None:
    table = Table(
        title=f"broker tuning at {report.bootstrap}: desired ({report.profile}) vs actual"
    )
    table.add_column("parameter")
    table.add_column(f"desired ({report.profile})", justify="right")
    for broker in report.brokers:
        table.add_column(f"broker {broker.broker_id}", justify="right")
    table.add_column("purpose")
    for index, parameter in enumerate(TUNING):
        checks = [b.parameters[index] for b in report.brokers]
        table.add_row(
            parameter.name,
            checks[0].desired,
            *(_cell(c) for c in checks),
            parameter.purpose,
        )
    out_console.print(table)
    notes = sorted(
        {
            f"{c.name}: {c.note}"
            for b in report.brokers
            for c in b.parameters
            if c.note and c.status != "ok"
        }
    )
    for note in notes:
        out_console.print(f"  note: {note}", markup=False)
    if report.ok:
        out_console.print(f"every broker matches the {report.profile} profile")
    else:
        out_console.print(
            f"differs from the {report.profile} profile; "
            f"`horizons broker-config --print --profile {report.profile}` shows the settings"
        )


def broker_config(
    profile: ProfileOpt = None,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
    print_properties: Annotated[
        bool,
        typer.Option(
            "--print",
            help="Print the profile's recommended settings as server.properties lines "
            "(no broker needed).",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each broker request.")
    ] = 10.0,
) -> None:
    """Broker tuning (the spec's Performance Tuning table): desired vs actual on every broker."""
    try:
        settings = load_settings(bootstrap, profile=profile)
        if print_properties:
            sys.stdout.write(server_properties(settings.profile))
            return
        configs = describe_broker_configs(settings, timeout=timeout)
    except UnsupportedByBrokerError as exc:
        fail(
            f"{exc}\nhint: `horizons broker-config --print --profile {settings.profile}` shows "
            "the recommended settings to compare with the broker's own configuration",
            exit_for(exc),
        )
    brokers = [
        BrokerReport(broker_id, compare(values, settings.profile))
        for broker_id, values in configs.items()
    ]
    ok = all(c.status == "ok" for b in brokers for c in b.parameters)
    report = ConfigReport(
        profile=settings.profile,
        bootstrap=settings.require_bootstrap(),
        ok=ok,
        brokers=brokers,
    )
    if as_json:
        print_json(report)
    else:
        _print_table(report)
    if not ok:
        raise typer.Exit(Exit.PROBLEM)


def register(app: typer.Typer) -> None:
    app.command("broker-config")(broker_config)
