"""Entry point of the ``horizons`` command."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.markup import escape

from ..errors import ConfigError, HorizonsError, SecurityError
from ..publisher import TopicMissingError
from . import archive, core, serve, topics
from . import monitor as monitor_cli
from . import tuning as tuning_cli
from .common import EXIT_SECURITY, err_console

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


core.register(app)
app.add_typer(topics.app, name="topics")
monitor_cli.register(app)
serve.register(app)
tuning_cli.register(app)
app.add_typer(archive.app, name="archive")


def main() -> None:
    """Run ``horizons``; errors of this package become one clear line and a non-zero exit."""
    try:
        app()
    except ConfigError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
    except TopicMissingError as exc:  # publishers never create topics (simulate --no-ensure)
        err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        sys.exit(core.EXIT_TOPIC_MISSING)
    except SecurityError as exc:  # SASL or TLS failed: the message says what to check
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(EXIT_SECURITY)
    except HorizonsError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
