"""Entry point of the ``horizons`` command: every command group is registered here, and every
command runs under the one error-to-exit mapping (:func:`.exits.guarded`).

Modules by what the commands act on: :mod:`.broker` (broker, check), :mod:`.tuning`
(broker-config), :mod:`.records` (schema, produce, consume), :mod:`.simulate` (simulate, up),
:mod:`.topics` (topics ensure, list, describe), :mod:`.topics_alter` (topics alter),
:mod:`.topics_trim` (topics trim), :mod:`.monitor` (monitor, lag), :mod:`.serve` (serve),
:mod:`.archive` (archive run), :mod:`.archive_read` (archive ls, verify, replay),
:mod:`.spool` (spool status, inspect, drain).
:mod:`.topics_trim` (topics trim), :mod:`.topics_delete` (topics delete), :mod:`.groups`
(groups reset, delete), :mod:`.monitor` (monitor, lag), :mod:`.serve` (serve),
:mod:`.archive` (archive run), :mod:`.archive_read` (archive ls, verify, replay).
:mod:`.acls` (acls --print, apply, check).
:mod:`.cluster` (cluster status, rebalance, drain).
Exit codes: :class:`.exits.Exit`, docs/exit-codes.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Annotated, NoReturn

import typer
from rich.logging import RichHandler

from ..errors import HorizonsError
from . import acls as acls_cli
from . import (
    archive,
    archive_read,
    records,
    serve,
    simulate,
    topics,
    topics_alter,
    topics_delete,
    topics_trim,
)
from . import broker as broker_cli
from . import cluster as cluster_cli
from . import doctor as doctor_cli
from . import groups as groups_cli
from . import monitor as monitor_cli
from . import plan as plan_cli
from . import spool as spool_cli
from . import topics_usage as topics_usage_cli
from . import tuning as tuning_cli
from .common import err_console
from .exits import fail_with, guarded

app = typer.Typer(
    name="horizons",
    help="Cosmic Horizons data plane: array telemetry into Kafka, monitored, archived, replayable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "warning",
) -> None:
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    logging.basicConfig(
        level=level,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=False)],
    )


records.register(app)
broker_cli.register(app)
simulate.register(app)
monitor_cli.register(app)
serve.register(app)
tuning_cli.register(app)
doctor_cli.register(app)
plan_cli.register(app)
topics_alter.register(topics.app)
topics_trim.register(topics.app)
topics_usage_cli.register(topics.app)
topics_delete.register(topics.app)
app.add_typer(topics.app, name="topics")
app.add_typer(groups_cli.app, name="groups")
archive_read.register(archive.app)
app.add_typer(archive.app, name="archive")
app.add_typer(spool_cli.app, name="spool")
app.add_typer(acls_cli.app, name="acls")
app.add_typer(cluster_cli.app, name="cluster")


def _guard_every_command(typer_app: typer.Typer) -> None:
    """Wrap every command (of every group) in :func:`.exits.guarded`, once."""
    for info in typer_app.registered_commands:
        if info.callback is not None and not hasattr(info.callback, "__wrapped__"):
            info.callback = guarded(info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _guard_every_command(group.typer_instance)


_guard_every_command(app)


def main() -> None:
    """Run ``horizons``; errors of this package become one clear line and a non-zero exit."""
    try:
        try:
            app()
        except HorizonsError as exc:  # raised outside a command (the root callback)
            sys.exit(fail_with(exc).exit_code)
        except KeyboardInterrupt:  # a second Ctrl-C/SIGTERM: stop now
            sys.exit(130)
    except SystemExit as done:
        leave(done.code)
    leave(0)


def leave(code: object) -> NoReturn:
    """End the process with ``code`` (as :class:`SystemExit` reads it), its output flushed.

    When pyarrow was loaded (every command loads it), without the interpreter's teardown:
    pyarrow's thread pools can abort the process there (``terminate called without an active
    exception``, SIGABRT) after the command had done its work; every command closes its own
    clients, files and workers before it returns, so nothing is left for that teardown.
    """
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    if "pyarrow" not in sys.modules:
        sys.exit(status)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
