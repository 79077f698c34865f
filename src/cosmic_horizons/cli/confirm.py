"""Asking before a destructive change: on a terminal a yes/no question, otherwise ``--yes``.

Not confirmed (declined, or no terminal and no ``--yes``) exits 5 with nothing changed.
"""

from __future__ import annotations

import sys

import typer

from .common import fail
from .exits import Exit

__all__ = ["confirm_or_refuse", "interactive"]


def interactive() -> bool:
    """Whether a person can be asked (standard input and error are terminals)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirm_or_refuse(what: str, question: str, *, yes: bool) -> None:
    """Return when confirmed (``yes``, or answered yes); otherwise exit 5 naming ``what``."""
    if yes:
        return
    if not interactive():
        fail(
            f"{what}: refusing without --yes (no terminal to ask); nothing was changed",
            Exit.REFUSED,
        )
    if not typer.confirm(question, err=True):
        fail(f"{what}: not confirmed; nothing was changed", Exit.REFUSED)
