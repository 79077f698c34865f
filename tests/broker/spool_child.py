"""A publishing process for the SIGKILL test: prints each packet number publish returned for.

Usage: python -m tests.broker.spool_child BOOTSTRAP TOPIC SPOOL FIRST RATE DRAIN_RATE
(RATE 0: publish nothing, drain the spool, close, exit 0 when it is empty).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.publisher import Publisher
from cosmic_horizons.spool import SpoolSettings
from tests.helpers import make_packet

ELEMENTS = 10


def main() -> int:
    bootstrap, topic, spool, first, rate, drain = sys.argv[1:7]
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic=topic)
    pub = Publisher(
        settings,
        check_topic=False,
        spool=SpoolSettings(path=Path(spool), drain_rate=float(drain), fsync_every=0),
    )
    print("ready", flush=True)
    if float(rate) == 0:
        left = pub.flush(60)
        report = pub.close()
        print(f"left {left} spooled {report.spooled}", flush=True)
        return 0 if left == 0 else 1
    n = int(first)
    period = ELEMENTS / float(rate)
    while True:
        batch = [make_packet(i, element=f"el-{i % ELEMENTS}") for i in range(n, n + ELEMENTS)]
        accepted = pub.publish_many(batch)
        print(f"ok {n} {accepted}", flush=True)
        n += ELEMENTS
        time.sleep(period)


if __name__ == "__main__":
    sys.exit(main())
