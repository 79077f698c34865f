"""Store and forward: what a publisher cannot deliver waits on disk, in order, checksummed.

:mod:`.records` is the record format, :mod:`.store` the segment files and the cursor of what
is acknowledged. The publisher's side (when to spool, the drain) is
:mod:`cosmic_horizons.publisher.forward`. See docs/publisher.md, "Store and forward".
"""

from __future__ import annotations

from .records import Damage, SpoolRecord
from .store import Spool, SpoolPolicy, SpoolSettings, SpoolStatus

__all__ = ["Damage", "Spool", "SpoolPolicy", "SpoolRecord", "SpoolSettings", "SpoolStatus"]
