"""/api/stream and /api/array share one array snapshot per interval, whatever the clients.

No broker is needed: the view is fed by hand (``ingest``, what its consumer thread calls) and the
poller polls a dead address, so this runs the same on every engine.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import msgspec

from cosmic_horizons.api import ApiServer, ApiState, create_app
from cosmic_horizons.api.array_feed import ArrayFeed
from cosmic_horizons.array_view import ArraySnapshot, ArrayView
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.packet import encode_packet
from tests.helpers import make_packet

INTERVAL = 0.4
CLIENTS = 4
EVENTS = 3  # array events each client reads


class Counted:
    """Calls of a builder, with the monotonic time of each."""

    def __init__(self, build: object) -> None:
        self.build = build
        self.at: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> object:
        with self.lock:
            self.at.append(time.monotonic())
        return self.build()  # type: ignore[operator]


@contextmanager
def served_view() -> Iterator[tuple[ApiServer, ApiState, Counted, Counted]]:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")  # dead: nothing to consume
    view = ArrayView(settings)
    for n in range(20):
        view.ingest(encode_packet(make_packet(n)), offset=n)
    array_builds = Counted(view.snapshot)
    view.snapshot = array_builds  # type: ignore[method-assign]
    state = ApiState(
        settings=settings,
        monitor=Monitor(settings, timeout=1.0),
        array=view,
        poll_interval=0.3,
        array_interval=INTERVAL,
    )
    update_builds = Counted(state.data_plane)
    state.data_plane = update_builds  # type: ignore[method-assign]
    try:
        with ApiServer(create_app(state), port=0) as server:
            yield server, state, array_builds, update_builds
    finally:
        view.close()
        state.monitor.close()


def read_events(url: str, out: list[tuple[str, bytes]], ready: threading.Barrier) -> None:
    """Events of one client until it has read EVENTS array events."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        ready.wait(30)
        with client.stream("GET", "/api/stream") as response:
            assert response.status_code == 200
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: "):
                    out.append((event, line[len("data: ") :].encode()))
                    if sum(1 for kind, _ in out if kind == "array") >= EVENTS:
                        return


def test_several_stream_clients_share_one_array_snapshot_per_interval() -> None:
    with served_view() as (server, state, array_builds, update_builds):
        received: list[list[tuple[str, bytes]]] = [[] for _ in range(CLIENTS)]
        ready = threading.Barrier(CLIENTS)
        threads = [
            threading.Thread(target=read_events, args=(server.url, out, ready), daemon=True)
            for out in received
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a client got too few events"
        versions_polled = state.cache.version
    arrays = [
        msgspec.json.decode(data, type=ArraySnapshot)
        for events in received
        for kind, data in events
        if kind == "array"
    ]
    assert len(arrays) == CLIENTS * EVENTS
    builds = array_builds.at
    # Every event carried a snapshot that was built for all: as many snapshots as builds ...
    assert len({a.generated_at for a in arrays}) == len(builds)
    assert len(builds) < len(arrays)
    # ... and never two builds within one interval, however many clients asked.
    gaps = [b - a for a, b in itertools.pairwise(builds)]
    assert all(gap >= INTERVAL for gap in gaps), gaps
    # The data-plane update is built once per poll, not once per client.
    updates = [data for events in received for kind, data in events if kind == "snapshot"]
    assert len(update_builds.at) <= versions_polled + 1
    assert len(update_builds.at) == len(set(updates)) < len(updates)


def test_api_array_answers_the_shared_snapshot_within_its_interval() -> None:
    with (
        served_view() as (server, state, array_builds, _),
        httpx.Client(base_url=server.url) as client,
    ):
        first = client.get("/api/array")
        again = client.get("/api/array")
        assert first.status_code == again.status_code == 200
        assert first.headers["content-type"] == "application/json"
        assert first.content == again.content  # the same bytes: built and encoded once
        snap = msgspec.json.decode(first.content, type=ArraySnapshot)
        assert len(snap.elements) == 20
        assert state.array is not None and snap.element_limit == state.array.max_elements
        time.sleep(INTERVAL)
        later = msgspec.json.decode(client.get("/api/array").content, type=ArraySnapshot)
        assert later.generated_at > snap.generated_at
        assert len(array_builds.at) == 2


def test_a_feed_builds_only_when_its_snapshot_is_older_than_the_interval() -> None:
    now = [100.0]
    view = ArrayView(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    builds = Counted(view.snapshot)
    view.snapshot = builds  # type: ignore[method-assign]
    feed = ArrayFeed(view, interval=1.0, clock=lambda: now[0])
    assert feed.fresh() is None
    first = feed.latest()
    now[0] += 0.99
    assert feed.latest() is first and feed.fresh() is first
    now[0] += 0.01
    assert feed.fresh() is None
    assert feed.latest() is not first
    assert len(builds.at) == feed.builds == 2


def test_a_metrics_scrape_reads_the_shared_snapshot_and_builds_none_of_its_own() -> None:
    with (
        served_view() as (server, _state, array_builds, _),
        httpx.Client(base_url=server.url) as client,
    ):
        snap = msgspec.json.decode(client.get("/api/array").content, type=ArraySnapshot)
        for _ in range(3):
            scrape = client.get("/metrics")
            assert scrape.status_code == 200
            assert f"horizons_array_records_total {float(snap.records)}" in scrape.text
        assert len(array_builds.at) == 1  # /api/array's build served every scrape
        time.sleep(INTERVAL)
        assert client.get("/metrics").status_code == 200
        assert len(array_builds.at) == 2  # past the interval the scrape builds the next one
        client.get("/api/array")
        assert len(array_builds.at) == 2  # ... which /api/array then shares
