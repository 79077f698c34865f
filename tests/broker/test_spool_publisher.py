"""Store and forward against a real broker: live, through an outage, and after it."""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import decode_packet, encode_packet
from cosmic_horizons.publisher import Publisher
from cosmic_horizons.publisher.forward import DRAIN_BATCH, DRAIN_WINDOW
from cosmic_horizons.spool import Spool, SpoolSettings
from cosmic_horizons.spool.records import SpoolRecord, scan
from cosmic_horizons.spool.store import CURSOR_EVERY
from tests.broker.conftest import Outage
from tests.engines import only_tansu
from tests.helpers import consume_all, create_topic, fast_consumer, make_packet, wait_for

ELEMENTS = 10


def packet(n: int) -> object:
    return make_packet(n, element=f"el-{n % ELEMENTS}")


def numbers(bootstrap: str, topic: str, expected: int) -> dict[str, list[int]]:
    """Per element, the packet numbers in the topic in offset order."""
    by_element: dict[str, list[int]] = {}
    for msg in consume_all(bootstrap, topic, expected, timeout=60):
        p = decode_packet(msg.value() or b"")
        by_element.setdefault(p.element_id, []).append(round(p.metrics.power_usage - 1500))
    return by_element


def every_number(bootstrap: str, topic: str, at_least: int) -> list[int]:
    """Every packet number in the topic: read until ``at_least`` and then 2 s of quiet."""
    consumer = fast_consumer(bootstrap)
    consumer.subscribe([topic])
    got: list[int] = []
    quiet_since = time.monotonic()
    deadline = quiet_since + 60
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                if len(got) >= at_least and time.monotonic() - quiet_since > 2:
                    break
                continue
            assert not msg.error(), msg.error()
            quiet_since = time.monotonic()
            got.append(round(decode_packet(msg.value() or b"").metrics.power_usage - 1500))
    finally:
        consumer.close()
    return got


def publish_range(pub: Publisher, start: int, stop: int, rate: float = 2000.0) -> None:
    """Publish packets ``start..stop`` in ticks of ELEMENTS at about ``rate`` per second."""
    began = time.monotonic()
    for tick_start in range(start, stop, ELEMENTS):
        batch = [packet(n) for n in range(tick_start, min(stop, tick_start + ELEMENTS))]
        assert pub.publish_many(batch) == len(batch)  # type: ignore[arg-type]
        due = began + (tick_start - start + ELEMENTS) / rate
        time.sleep(max(0.0, due - time.monotonic()))


def test_live_with_a_spool_delivers_everything_and_empties_it(
    settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic, partitions=3)
    with Publisher(settings, spool=SpoolSettings(path=tmp_path)) as pub:
        publish_range(pub, 0, 2000, rate=1e9)
        assert pub.flush(30) == 0
        view = pub.spool_view()
        assert view is not None and view.live and view.status.records == 0
    report = pub.close()
    assert report.kept and report.spooled == 0
    got = numbers(settings.bootstrap_servers or "", settings.topic, 2000)
    assert sorted(n for ns in got.values() for n in ns) == list(range(2000))
    assert all(ns == sorted(ns) for ns in got.values())


def test_outage_spools_then_drains_in_element_order_exactly_once(
    outage: Outage, topic_name: str, tmp_path: Path
) -> None:
    settings = KafkaSettings(bootstrap_servers=outage.bootstrap, topic=topic_name)
    create_topic(outage.bootstrap, topic_name, partitions=3)
    spool = SpoolSettings(path=tmp_path, drain_rate=5000)
    with Publisher(settings, spool=spool) as pub:
        publish_range(pub, 0, 1000)
        assert pub.flush(20) == 0  # before the outage: all acknowledged
        outage.down()
        publish_range(pub, 1000, 7000)  # 3 s at 2,000/s while the broker is gone
        view = pub.spool_view()
        assert view is not None and view.outage is not None and not view.live
        assert view.status.records >= 4000 and view.status.oldest_age_s is not None
        shown = pub.snapshot().spool  # what the API, /metrics and the dashboard show
        assert shown is not None and shown.spooling and shown.records >= 4000
        outage.up(topic_name)
        publish_range(pub, 7000, 9000)  # live publishing goes on while the spool drains
        assert pub.flush(60) == 0
        view = wait_for(lambda: (v := pub.spool_view()) and v.live and v, "live again", 5)
        assert view.status.records == 0 and view.drain_rate > 0
    report = pub.close()
    assert report.kept and report.failed == 0 and report.spooled == 0
    first = 0 if outage.keeps_data else 1000
    got = numbers(outage.bootstrap, topic_name, 9000 - first)
    everything = sorted(n for ns in got.values() for n in ns)
    assert everything == list(range(first, 9000)), "each packet once, none missing"
    for element, ns in got.items():
        assert ns == sorted(ns), f"{element} out of order"


def test_a_damaged_record_is_skipped_and_the_spool_still_empties(
    settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic, partitions=3)
    packets = [packet(n) for n in range(500)]
    with Spool(SpoolSettings(path=tmp_path)) as spool:
        spool.append(
            [(p.element_id.encode(), encode_packet(p), p.timestamp_ms(), None) for p in packets]  # type: ignore[attr-defined]
        )
    [segment] = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    ends = [r.end for r in scan(bytes(data)) if isinstance(r, SpoolRecord)]
    data[ends[99] + 40] ^= 0xFF  # inside record 100's body: its checksum no longer matches
    segment.write_bytes(bytes(data))
    with Publisher(settings, spool=SpoolSettings(path=tmp_path)) as pub:
        assert pub.flush(15) == 0, "the damaged record's seq must not hold the spool"
        view = pub.spool_view()
        assert view is not None and view.status.corrupt == 1 and view.status.acked_seq == 500
    got = numbers(settings.bootstrap_servers or "", settings.topic, 499)
    assert sorted(n for ns in got.values() for n in ns) == [n for n in range(500) if n != 100]


CHILD = (sys.executable, "-m", "tests.broker.spool_child")


class Child:
    """A publishing subprocess (tests/broker/spool_child.py); what it said it published."""

    def __init__(self, bootstrap: str, topic: str, spool: Path, first: int, rate: float) -> None:
        self.returned: list[int] = []
        self.proc = subprocess.Popen(
            [*CHILD, bootstrap, topic, str(spool), str(first), str(rate), "1500"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            _, first, accepted = line.split()
            self.returned.extend(range(int(first), int(first) + int(accepted)))

    def run_for(self, seconds: float) -> None:
        """Let it publish ``seconds`` (and a random part of a second), then SIGKILL it."""
        time.sleep(seconds + random.uniform(0, 0.5))
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)


def test_sigkill_during_an_outage_and_the_drain_loses_nothing_returned(
    outage: Outage, topic_name: str, tmp_path: Path
) -> None:
    create_topic(outage.bootstrap, topic_name, partitions=3)
    spool = tmp_path / "spool"
    returned: list[int] = []
    outage.down()
    for k in range(2):  # killed while spooling, twice
        child = Child(outage.bootstrap, topic_name, spool, 100_000 * k, 2000)
        child.run_for(1.0)
        returned += child.returned
    outage.up(topic_name)
    for k in range(2, 4):  # killed while draining (1,500/s) with live publishing on top
        child = Child(outage.bootstrap, topic_name, spool, 100_000 * k, 500)
        child.run_for(1.0)
        returned += child.returned
    last = subprocess.run(
        [*CHILD, outage.bootstrap, topic_name, str(spool), "0", "0", "0"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=Path(__file__).parents[2],
    )
    assert last.returncode == 0, last.stdout + last.stderr
    assert len(returned) > 3000
    topic = every_number(outage.bootstrap, topic_name, at_least=len(returned))
    missing = set(returned) - set(topic)
    assert not missing, f"{len(missing)} packets publish() returned for are not in the topic"
    duplicates = len(topic) - len(set(topic))
    # At most, per kill, what was in flight, the rest of its block and the cursor's lag.
    assert duplicates <= 4 * (DRAIN_WINDOW + DRAIN_BATCH + CURSOR_EVERY)
    print(f"returned {len(returned)}, in topic {len(topic)}, duplicates {duplicates}")


@only_tansu("client-side logging only; a Kafka node restart would add ~30 s for nothing new")
def test_without_a_spool_an_outage_is_said_once_and_close_is_a_few_lines(
    outage: Outage, topic_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = KafkaSettings(bootstrap_servers=outage.bootstrap, topic=topic_name)
    create_topic(outage.bootstrap, topic_name)
    with caplog.at_level(logging.WARNING):
        pub = Publisher(settings)
        publish_range(pub, 0, 100, rate=1e9)
        assert pub.flush(20) == 0
        outage.down()
        publish_range(pub, 100, 3100, rate=1e9)
        time.sleep(3)  # librdkafka retries the connection every few hundred ms meanwhile
        report = pub.close(timeout=1.0)
    assert report.failed == 3000 and report.undelivered_at_close == 3000
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("cosmic_horizons")]
    assert sum("keeps retrying" in m for m in lines) <= 2, lines  # once a minute per error
    assert len(lines) <= 12, lines  # never one line per packet
