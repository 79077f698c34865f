"""Store and forward: what a publisher cannot deliver waits on disk, in order, checksummed.

:mod:`.records` is the record format, :mod:`.store` the segment files and the cursor of what
is acknowledged (:mod:`.acks` the acknowledged seqs, :mod:`.segments` the files and their
recovery), :mod:`.reader` reads them back, :mod:`.settings` its settings and status,
:mod:`.inspect` reads a spool without taking it. The publisher's side (when to spool, the drain) is
:mod:`cosmic_horizons.publisher.forward`. See docs/publisher.md, "Store and forward".
"""

from __future__ import annotations

from .reader import SpoolReader
from .records import Damage, SpoolRecord
from .settings import SpoolPolicy, SpoolSettings, SpoolStatus
from .store import Spool

__all__ = [
    "Damage",
    "Spool",
    "SpoolPolicy",
    "SpoolReader",
    "SpoolRecord",
    "SpoolSettings",
    "SpoolStatus",
]
