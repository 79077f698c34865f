"""``horizons topics delete NAME``: delete a topic, refusing to lose what is not archived.

Registered onto the ``topics`` sub-app with :func:`register`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..archiver.storage import ArchiveStorage
from ..errors import ArchiveError
from ..topics import TopicAdmin
from ..topics.deletion import Unarchived, delete_topic, unarchived_records
from .common import BootstrapOpt, StorageOpt, err_console, fail, load_settings, out_console
from .confirm import confirm_or_refuse
from .exits import Exit
from .topics import NameArg

__all__ = ["register"]


def _lost_line(lost: Unarchived) -> str:
    where = ", ".join(f"{p}: offsets {a}-{b - 1}" for p, (a, b) in sorted(lost.partitions.items()))
    return f"{lost.records:,} record(s) not in the archive at {lost.storage} ({where})"


def delete(
    name: NameArg,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete even records the archive does not hold."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")] = False,
    storage: StorageOpt = None,
    bootstrap: BootstrapOpt = None,
) -> None:
    """Delete a topic (DeleteTopics) after checking the archive holds its records.

    Refuses (exit 5, nothing deleted) while records the archive does not hold would be lost,
    unless --force; asks first (without a terminal it needs --yes). Exit 1 if it does not exist.
    """
    settings = load_settings(bootstrap, name)
    state = TopicAdmin(settings).describe(name)  # no such topic: exit 1
    try:
        lost: Unarchived | None = unarchived_records(settings, ArchiveStorage(storage), name)
    except ArchiveError as exc:
        if not force:
            fail(
                f"{name}: cannot tell what the archive holds ({exc}); --force deletes anyway; "
                "nothing was changed",
                Exit.REFUSED,
            )
        err_console.print(f"[yellow]warning:[/] {name}: archive not checked: {exc}", markup=True)
        lost = None
    if lost is not None and lost.records:
        if not force:
            fail(
                f"{name}: {_lost_line(lost)} would be lost; archive them first "
                "(horizons archive run) or pass --force; nothing was changed",
                Exit.REFUSED,
            )
        err_console.print(
            f"[yellow]warning:[/] {name}: {_lost_line(lost)} will be lost",
            markup=True,
            soft_wrap=True,
        )
    what = f"topic {name} ({state.partition_count} partition(s))"
    confirm_or_refuse(f"delete {what}", f"delete {what}?", yes=yes)
    delete_topic(settings, name)
    out_console.print(f"deleted topic {name}")


def register(app: typer.Typer) -> None:
    """Add ``delete`` to the ``topics`` sub-app."""
    app.command("delete")(delete)
