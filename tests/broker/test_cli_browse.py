"""The record browser against a real broker: `consume --partition/--offset/--element/
--from-time/--follow`, `archive replay --from-kafka`, and `/api/records`; what they print is
compared with what an independent consumer reads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import msgspec
import pytest
from confluent_kafka import OFFSET_BEGINNING, Producer, TopicPartition
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cosmic_horizons.api import ApiState, create_app
from cosmic_horizons.api.models import RecordsPage
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.packet import encode_packet
from cosmic_horizons.publisher import Publisher
from tests.engines import only_kafka
from tests.helpers import consume_all, create_topic, fast_consumer, make_packet

runner = CliRunner()
ELEMENTS = [f"element-{s}-{n}" for s in (1, 2, 3) for n in (1, 2)]


def horizons(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def published(settings: KafkaSettings, bootstrap: str) -> dict[tuple[int, int], str]:
    """24 packets of 6 elements on 2 partitions, keyed as the publisher keys them;
    {(partition, offset): element} as an independent consumer reads them back."""
    create_topic(bootstrap, settings.topic, partitions=2)
    publisher = Publisher(settings)
    for i in range(24):
        publisher.publish(make_packet(i, element=ELEMENTS[i % len(ELEMENTS)]))
        publisher.flush(10)  # one batch each: Tansu's high watermark counts batches
    publisher.close()
    reader = fast_consumer(bootstrap)  # assigned, no group join: quick
    reader.assign([TopicPartition(settings.topic, p, OFFSET_BEGINNING) for p in (0, 1)])
    found: dict[tuple[int, int], str] = {}
    deadline = time.monotonic() + 30
    while len(found) < 24 and time.monotonic() < deadline:
        m = reader.poll(0.2)
        if m is not None and m.error() is None:
            found[(m.partition() or 0, m.offset() or 0)] = json.loads(m.value() or b"")["elementId"]
    reader.close()
    assert len(found) == 24
    return found


def test_consume_one_partition_from_an_offset(
    settings: KafkaSettings, bootstrap: str, published: dict[tuple[int, int], str]
) -> None:
    target = ["-b", bootstrap, "-t", settings.topic, "--timeout", "1s", "--meta"]
    code, out, err = horizons("consume", "--partition", "1", "--offset", "0", *target)
    assert code == 0, err
    read = [(r["partition"], r["offset"]) for r in lines(out)]
    assert read == sorted(k for k in published if k[0] == 1)

    last = max(o for p, o in published if p == 0)
    code, out, err = horizons("consume", "--partition", "0", "--offset", "-2", *target)
    assert code == 0, err
    assert [(r["partition"], r["offset"]) for r in lines(out)] == [(0, last - 1), (0, last)]


def test_consume_one_element_reads_its_partition_only(
    settings: KafkaSettings, bootstrap: str, published: dict[tuple[int, int], str]
) -> None:
    element = ELEMENTS[3]
    code, out, err = horizons("consume", "--element", element, "--from-beginning", "--meta",
                              "--timeout", "1s", "-b", bootstrap, "-t", settings.topic)  # fmt: skip
    assert code == 0, err
    records = lines(out)
    assert [(r["partition"], r["offset"]) for r in records] == sorted(
        k for k, e in published.items() if e == element
    )
    assert {r["value"]["elementId"] for r in records} == {element}  # type: ignore[index]
    assert f"{len(records)} record(s)" in err


def test_consume_browse_options_refuse_a_group_and_a_missing_partition(
    settings: KafkaSettings, bootstrap: str, published: dict[tuple[int, int], str]
) -> None:
    target = ["-b", bootstrap, "-t", settings.topic, "--timeout", "1s"]
    code, out, err = horizons("consume", "--group", "g", "--partition", "0", *target)
    assert (code, out) == (2, "") and "--group" in err
    code, out, err = horizons("consume", "--partition", "7", *target)
    assert (code, out) == (2, "") and "--partition 7" in err and "partitions 0-1" in err
    code, out, err = horizons("consume", "--from-time", "soon", *target)
    assert (code, out) == (2, "") and "--from-time" in err


def test_consume_follow_waits_past_the_timeout(settings: KafkaSettings, bootstrap: str) -> None:
    create_topic(bootstrap, settings.topic)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(settings.topic, encode_packet(make_packet(1)))
    producer.flush(10)

    def later() -> None:
        time.sleep(2.5)  # longer than --timeout: only --follow is still reading
        producer.produce(settings.topic, encode_packet(make_packet(2)))
        producer.flush(10)

    feeder = threading.Thread(target=later)
    feeder.start()
    target = ["-b", bootstrap, "-t", settings.topic]
    code, out, err = horizons(
        "consume", "--offset", "0", "--follow", "--timeout", "1s", "--max-messages", "2", *target
    )
    feeder.join()
    assert code == 0, err
    assert len(lines(out)) == 2


def _timed(bootstrap: str, topic: str) -> None:
    """Four packets two hours old, then four of now, on one partition."""
    create_topic(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap})
    now = int(time.time() * 1000)
    for i in range(8):
        stamp = now - 7_200_000 if i < 4 else now
        producer.produce(topic, encode_packet(make_packet(i)), timestamp=stamp)
        producer.flush(10)


@only_kafka("Tansu answers ListOffsets by timestamp with the log start, whatever the time")
def test_consume_from_time(settings: KafkaSettings, bootstrap: str) -> None:
    _timed(bootstrap, settings.topic)
    code, out, err = horizons("consume", "--from-time", "now-1h", "--meta", "--timeout", "1s",
                              "-b", bootstrap, "-t", settings.topic)  # fmt: skip
    assert code == 0, err
    assert [r["offset"] for r in lines(out)] == [4, 5, 6, 7]


@only_kafka("Tansu answers ListOffsets by timestamp with the log start, whatever the time")
def test_replay_from_kafka_by_time(
    settings: KafkaSettings, bootstrap: str, topic_name: str
) -> None:
    _timed(bootstrap, topic_name)
    window = ["--from", "now-3h", "--to", "now-1h", "--source", topic_name, "-b", bootstrap]
    code, out, err = horizons("archive", "replay", "--from-kafka", *window, "--to-stdout")
    assert code == 0, err
    assert [p["elementId"] for p in lines(out)] == [make_packet(i).element_id for i in range(4)]

    destination = f"{topic_name}.replayed"
    create_topic(bootstrap, destination)
    code, _, err = horizons("archive", "replay", "--from-kafka", *window, "--topic", destination,
                            "--storage", "file:///nonexistent/archive")  # fmt: skip
    assert code == 0, err
    assert "4 packets from Kafka, 4 delivered" in err
    got = consume_all(bootstrap, destination, 4)
    headers = [dict(m.headers() or [])["replay.source"] for m in got]
    assert headers == [f"{topic_name}/0/{i}".encode() for i in range(4)]


# -- /api/records ------------------------------------------------------------------------


def client_of(settings: KafkaSettings) -> Iterator[TestClient]:
    """The app over ``settings``, its lifespan (the poller) not started: the route reads
    Kafka itself."""
    state = ApiState(settings=settings, monitor=Monitor(settings, timeout=5.0))
    yield TestClient(create_app(state))
    state.monitor.close()


@pytest.fixture
def api(settings: KafkaSettings) -> Iterator[TestClient]:
    yield from client_of(settings)


def test_api_records_of_a_partition_and_of_an_element(
    api: TestClient, published: dict[tuple[int, int], str]
) -> None:
    answer = api.get("/api/records", params={"partition": 0, "limit": 3})
    assert answer.status_code == 200, answer.text
    page = msgspec.json.decode(answer.content, type=RecordsPage)
    last = sorted(k for k in published if k[0] == 0)[-3:]
    assert [(r.partition, r.offset) for r in page.records] == last
    assert all(r.packet is not None and r.timestamp_ms for r in page.records)
    assert [r.packet.element_id for r in page.records if r.packet] == [published[k] for k in last]

    element = ELEMENTS[0]
    body = api.get("/api/records", params={"element": element}).json()
    mine = sorted(k for k, e in published.items() if e == element)
    assert [(r["partition"], r["offset"]) for r in body["records"]] == mine
    assert {r["packet"]["elementId"] for r in body["records"]} == {element}
    assert "timestampMs" in body["records"][0]

    assert api.get("/api/records", params={"partition": 9}).status_code == 400
    assert api.get("/api/records", params={"partition": 0, "element": element}).status_code == 400
    assert api.get("/api/records", params={"limit": 0}).status_code == 422


def test_api_records_of_a_missing_topic_is_404(api: TestClient, topic_name: str) -> None:
    answer = api.get("/api/records")
    assert answer.status_code == 404
    assert topic_name in answer.json()["detail"]
