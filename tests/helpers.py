"""Test helpers: packets, topics and consumers against the embedded broker."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, TypeVar

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.packet import KafkaPayload, Metrics

if TYPE_CHECKING:
    from cosmic_horizons.archiver.records import RecordRange


def make_packet(
    n: int = 0, *, element: str | None = None, chunk: str | None = None
) -> KafkaPayload:
    site = n % 5 + 1
    return KafkaPayload(
        source_id=element or f"element-{site}-{n}",
        target_id=f"site-{site}",
        route_type="node_to_hub",
        element_id=element or f"element-{site}-{n}",
        site_id=f"site-{site}",
        timestamp=f"2026-11-27T12:00:{n % 60:02d}.{n % 1000:03d}Z",
        metrics=Metrics(
            vibration=0.01 * n, power_usage=1500.0 + n, noise_floor=-98.5, rfi_level=-107.25
        ),
        data_chunk=chunk,
    )


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    """Create ``name`` and wait until each partition has a leader.

    Kafka answers CreateTopics before the leaders are serving: a producer's first batch
    there may be refused and retried behind later ones, which reorders records.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)

    def led() -> bool:
        topic = admin.list_topics(name, timeout=10).topics.get(name)
        return (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        )

    wait_for(led, f"leaders for {name}", 30)


def fast_consumer(bootstrap: str, group: str | None = None, **extra: object) -> Consumer:
    """A consumer with the short group timeouts the embedded broker needs to assign quickly."""
    conf: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "group.id": group or f"test-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(extra)
    return Consumer(conf)


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[Message]:
    """Read ``expected`` records from the start of ``topic`` (fails the test on timeout)."""
    consumer = fast_consumer(bootstrap)
    consumer.subscribe([topic])
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise AssertionError(f"consumer error: {msg.error()}")
            got.append(msg)
    finally:
        consumer.close()
    assert len(got) == expected, f"read {len(got)} of {expected} records from {topic}"
    return got


T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll ``probe`` until it returns something truthy, and return that (fails on timeout).

    Deadlines are generous: the machine is shared and has two cores.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def commit_retrying(
    consumer: Consumer,
    offsets: list[TopicPartition],
    timeout: float,
    retry_codes: Collection[int] | None = None,
) -> None:
    """Commit ``offsets`` synchronously, again every 0.2 s for up to ``timeout`` s while the
    commit fails with one of ``retry_codes`` (None: any error), as while a fresh cluster's
    group coordinator loads."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
            return
        except KafkaException as exc:
            retriable = retry_codes is None or exc.args[0].code() in retry_codes
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def sigterm_and_wait(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str]:
    """SIGTERM a CLI process (started with ``PYTHONFAULTHANDLER=1`` and stderr piped, its
    first lines already read); its exit code and the rest of its stderr.

    Its stderr is drained meanwhile, so a full pipe cannot hold it up. When it has not
    exited within ``timeout`` s, SIGABRT makes faulthandler print every thread's stack, and
    the test fails with that dump: where it hung, not only that it did.
    """
    assert proc.stderr is not None
    stream = proc.stderr
    chunks: list[str] = []
    drain = threading.Thread(target=lambda: chunks.append(stream.read()), daemon=True)
    drain.start()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drain.join(10)
        raise AssertionError(
            f"not stopped {timeout:.0f} s after SIGTERM; its stderr, thread stacks last:\n"
            + "".join(chunks)[-12_000:]
        ) from None
    drain.join(10)
    return code, "".join(chunks)


def decoded_through_shared_memory(
    records: RecordRange,
) -> tuple[list[dict[str, object]], list[tuple[int, str]]]:
    """``records`` written into a shared-memory block, read back as an encoder worker reads
    them and decoded: the rows and ``(index, error)`` pairs, as plain values (nothing left
    pointing into the block, which is gone when this returns)."""
    import gc
    from multiprocessing import shared_memory

    from cosmic_horizons.archiver.decode import decode_range
    from cosmic_horizons.archiver.records import RecordRange

    block = shared_memory.SharedMemory(create=True, size=records.shared_size())
    try:
        shared = RecordRange.from_shared(records.to_shared(block), block)
        table, errors = decode_range(shared.records)
        out = table.to_pylist(), [(i, str(e)) for i, e in errors]
        del table, errors
        shared.release()
        del shared
        gc.collect()  # the exact decoder's errors may sit in a reference cycle
        return out
    finally:
        block.close()
        block.unlink()
