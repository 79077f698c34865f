"""The dashboard in a real headless chromium, live against the embedded broker."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from playwright.sync_api import Page, sync_playwright

from cosmic_horizons.api import ApiServer, ApiState, create_app
from cosmic_horizons.array_view import ArrayView, HealthThresholds
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.packet import KafkaPayload, Metrics
from cosmic_horizons.publisher import Publisher
from tests.helpers import create_topic, fast_consumer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SITES = 4
PER_SITE = 12
XSS_ID = "<img src=x onerror=window.__xss=1>"
XSS_SITE = "<img src=x onerror=window.__xss=2>"
XSS_SITE_ELEMENT = "element-xss-site"
# Records every content-security-policy violation the page reports (an init script is not
# subject to the page's policy).
CSP_WATCH = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', "
    "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)
QUIET_ID = "element-4-12"  # sends once, then goes stale
TIMEOUT_MS = 60_000


def packet(element: str, site: str, rfi: float, noise: float, rng: random.Random) -> KafkaPayload:
    return KafkaPayload(
        source_id=element,
        target_id=site,
        route_type="node_to_hub",
        element_id=element,
        site_id=site,
        timestamp=datetime.now(UTC).isoformat(timespec="milliseconds"),
        metrics=Metrics(
            vibration=round(abs(rng.gauss(0.02, 0.01)), 4),
            power_usage=round(rng.gauss(1850.0, 40.0), 1),
            noise_floor=noise,
            rfi_level=rfi,
        ),
    )


@dataclass
class Array:
    """A small simulated array publishing at 2 Hz per element from a background thread."""

    publisher: Publisher
    elements: dict[str, str] = field(default_factory=dict)  # element id -> site id
    overrides: dict[str, float] = field(default_factory=dict)  # element id -> RFI dBm
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        for s in range(1, SITES + 1):
            for n in range(1, PER_SITE + 1):
                self.elements[f"element-{s}-{n}"] = f"site-{s}"
        self.elements[XSS_ID] = "site-2"
        self.elements[XSS_SITE_ELEMENT] = XSS_SITE  # a site id made of HTML
        self.elements["element-1-5"] = "site-1"
        self.overrides["element-1-5"] = -72.0  # an RFI warning from the start
        self.overrides["element-3-7"] = -51.0  # an RFI alarm from the start

    def round(self, rng: random.Random, skip: str | None = None) -> None:
        for element, site in list(self.elements.items()):
            if element == skip:
                continue
            noise = round(rng.gauss(-100.0, 0.8), 2)
            rfi = self.overrides.get(element, round(noise + abs(rng.gauss(3.0, 1.5)), 2))
            self.publisher.publish(packet(element, site, rfi, noise, rng))

    def run(self) -> None:
        rng = random.Random(7)
        self.round(rng)  # everyone, the quiet element included, once
        while not self.stop.wait(0.5):
            self.round(rng, skip=QUIET_ID)


@pytest.fixture
def live_array(settings: KafkaSettings) -> Iterator[tuple[str, Array]]:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic, 2)
    # A consumer group that read nothing and committed offset 0 on both partitions: it lags.
    lagging = fast_consumer(bootstrap, "archiver-stopped")
    lagging.assign([TopicPartition(settings.topic, p) for p in (0, 1)])
    lagging.commit(
        offsets=[TopicPartition(settings.topic, p, 0) for p in (0, 1)], asynchronous=False
    )
    lagging.close()

    publisher = Publisher(settings)
    array = Array(publisher)
    state = ApiState(
        settings=settings,
        monitor=Monitor(settings, timeout=5.0),
        array=ArrayView(
            settings, from_beginning=True, thresholds=HealthThresholds(stale_after_s=5.0)
        ),
        publisher=publisher,
        poll_interval=1.0,
    )
    server = ApiServer(create_app(state), port=0).start()
    feeder = threading.Thread(target=array.run, name="test-array-feeder", daemon=True)
    feeder.start()
    try:
        yield server.url, array
    finally:
        array.stop.set()
        feeder.join(10)
        server.stop()
        assert state.array is not None
        state.array.close()
        state.monitor.close()
        publisher.close()


@pytest.fixture
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        context.add_init_script(CSP_WATCH)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        yield page
        violations = page.evaluate("window.__csp") if not page.is_closed() else []
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"
        assert not violations, f"content-security-policy violations: {violations}"


def wait_until(page: Page, expression: str, timeout: float = TIMEOUT_MS) -> None:
    """Wait until ``expression`` is truthy in the page.

    Given as a function: Playwright would eval() a bare expression inside the page, which the
    page's content-security policy (rightly) refuses.
    """
    page.wait_for_function(f"() => ({expression})", timeout=timeout)


def tile_health(page: Page, element: str) -> str | None:
    result: str | None = page.evaluate(
        "id => { const t = [...document.querySelectorAll('.tile')]"
        ".find(t => t.dataset.elementId === id); return t ? t.dataset.health : null; }",
        element,
    )
    return result


def test_dashboard_shows_the_array_live(
    live_array: tuple[str, Array], page: Page, output_dir: Path
) -> None:
    url, array = live_array
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    response = page.goto(url + "/")
    # The page works under a policy that forbids inline script (the fixture checks violations).
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    expected_tiles = len(array.elements)
    wait_until(
        page, f"document.querySelectorAll('.tile').length >= {expected_tiles}", timeout=TIMEOUT_MS
    )
    page.evaluate("window.__marker = 'same page'")

    # Tiles are grouped by site, in the order the array view sorts them.
    layout: dict[str, list[str]] = dict(
        page.evaluate(
            "[...document.querySelectorAll('.site')].map(s => "
            "[s.dataset.siteId, [...s.querySelectorAll('.tile')].map(t => t.dataset.elementId)])"
        )
    )
    assert sorted(layout) == sorted([f"site-{s}" for s in range(1, SITES + 1)] + [XSS_SITE])
    for element, site in array.elements.items():
        assert element in layout[site], f"{element} not under {site}"
    assert layout["site-1"][:3] == ["element-1-1", "element-1-2", "element-1-3"]

    # Health colours from the metrics.
    wait_until(
        page,
        "[...document.querySelectorAll('.tile')].some(t => t.dataset.health === 'alarm')",
        timeout=TIMEOUT_MS,
    )
    assert tile_health(page, "element-3-7") == "alarm"
    assert tile_health(page, "element-1-5") == "warn"
    assert tile_health(page, "element-2-1") == "ok"

    # An element id made of HTML is shown as text and never runs.
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('#sites img').length") == 0
    xss_label = page.evaluate(
        "id => [...document.querySelectorAll('.tile')].find(t => t.dataset.elementId === id)"
        ".querySelector('.t-id').textContent",
        XSS_ID,
    )
    assert xss_label == XSS_ID
    page.evaluate(
        "id => [...document.querySelectorAll('.tile')].find(t => t.dataset.elementId === id)"
        ".click()",
        XSS_ID,
    )
    assert page.text_content("#detail-title") == XSS_ID
    # A site id made of HTML: its heading and its filter option are text, no element made.
    site_texts = page.evaluate(
        "id => [[...document.querySelectorAll('.site')].find(s => s.dataset.siteId === id)"
        ".querySelector('.site-name').textContent,"
        " [...document.querySelectorAll('#site-filter option')].map(o => o.textContent)]",
        XSS_SITE,
    )
    assert site_texts[0] == XSS_SITE and XSS_SITE in site_texts[1]
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("window.__xss") is None

    # The data-plane panel: broker up, partitions listed, the lagging group judged.
    wait_until(
        page,
        "document.getElementById('broker-status').textContent === 'connected'",
        timeout=TIMEOUT_MS,
    )
    wait_until(
        page,
        "document.querySelectorAll('#partitions tbody tr:not(.empty)').length === 2",
        timeout=TIMEOUT_MS,
    )
    wait_until(
        page,
        "[...document.querySelectorAll('#groups tbody td')]"
        ".some(td => td.textContent === 'archiver-stopped')",
        timeout=TIMEOUT_MS,
    )
    assert page.locator("#groups .badge").count() >= 1
    # Stream up and broker answering: the badge is live (green).
    wait_until(
        page, "document.getElementById('stream-status').textContent === 'live'", timeout=TIMEOUT_MS
    )
    assert page.get_attribute("#stream-status", "data-state") == "live"
    # The tile's number is labelled: legend, tooltip of the number and the tile's aria-label.
    assert page.text_content("#tile-legend") == "tile number: RFI level (dBm)"
    labels = page.evaluate(
        "id => { const t = [...document.querySelectorAll('.tile')]"
        ".find(t => t.dataset.elementId === id);"
        " return [t.getAttribute('aria-label'), t.querySelector('.t-val').title]; }",
        "element-3-7",
    )
    assert labels == ["element-3-7: RFI -51 dBm, alarm", "RFI level (dBm)"]

    # Live updates without reload: a changed packet recolours its tile, counters climb.
    records_before = int(page.text_content("#kpi-records").replace(",", ""))  # type: ignore[union-attr]
    array.overrides["element-2-1"] = -48.0
    wait_until(
        page,
        "[...document.querySelectorAll('.tile')].find(t => t.dataset.elementId === "
        "'element-2-1').dataset.health === 'alarm'",
        timeout=TIMEOUT_MS,
    )
    value = page.evaluate(
        "[...document.querySelectorAll('.tile')].find(t => t.dataset.elementId === "
        "'element-2-1').querySelector('.t-val').textContent"
    )
    assert value == "-48 dBm"
    records_after = int(page.text_content("#kpi-records").replace(",", ""))  # type: ignore[union-attr]
    assert records_after > records_before
    array.elements["element-5-1"] = "site-5"  # a new site comes online
    wait_until(
        page,
        "[...document.querySelectorAll('.site')].some(s => s.dataset.siteId === 'site-5')",
        timeout=TIMEOUT_MS,
    )
    # The element that stopped sending turns stale.
    wait_until(
        page,
        f"[...document.querySelectorAll('.tile')].find(t => t.dataset.elementId === "
        f"'{QUIET_ID}').dataset.health === 'stale'",
        timeout=TIMEOUT_MS,
    )
    assert page.evaluate("window.__marker") == "same page"

    # The site filter hides the other sites.
    page.select_option("#site-filter", "site-3")
    visible = page.evaluate(
        "[...document.querySelectorAll('.site')].filter(s => !s.hidden).map(s => s.dataset.siteId)"
    )
    assert visible == ["site-3"]
    page.select_option("#site-filter", "")

    # Offline: the page asked nothing of any other host.
    assert requests and all(r.startswith(url) for r in requests), requests
    page.evaluate("document.getElementById('detail-close').click()")
    page.wait_for_timeout(1500)  # let the chart collect a few seconds of rate for the picture
    page.screenshot(path=str(output_dir / "dashboard.png"), full_page=True)


def test_dashboard_with_the_broker_unreachable_says_so_once(page: Page, output_dir: Path) -> None:
    from cosmic_horizons.broker import find_free_port

    address = f"127.0.0.1:{find_free_port()}"
    dead = KafkaSettings(bootstrap_servers=address)
    state = ApiState(settings=dead, monitor=Monitor(dead, timeout=1.0), poll_interval=0.5)
    server = ApiServer(create_app(state), port=0).start()
    try:
        page.goto(server.url + "/")
        wait_until(
            page,
            "document.getElementById('broker-status').textContent === 'unreachable'",
            timeout=TIMEOUT_MS,
        )
        # The stream is up but no data is live: the badge is not a green LIVE.
        wait_until(
            page,
            "document.getElementById('stream-status').textContent === 'broker down'",
            timeout=TIMEOUT_MS,
        )
        assert page.get_attribute("#stream-status", "data-state") == "down"
        message = f"broker unreachable at {address} (connection refused)"
        assert page.text_content("#broker-error") == message
        body = page.inner_text("body")
        assert body.count(message) == 1, body
        assert body.count("unreachable at") == 1, body
        assert "KafkaError" not in body and "_TRANSPORT" not in body
        assert page.is_hidden("#lag-error")
        assert page.text_content("#topics tbody tr.empty td") == "no data"
        page.screenshot(path=str(output_dir / "dashboard-unreachable.png"), full_page=True)
    finally:
        server.stop()
        state.monitor.close()


def test_dashboard_with_a_token_opens_once_with_it_then_streams(page: Page) -> None:
    from cosmic_horizons.api.guard import ApiGuard
    from cosmic_horizons.broker import find_free_port

    token = "browser-test-token-4711"
    dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{find_free_port()}")
    state = ApiState(settings=dead, monitor=Monitor(dead, timeout=1.0), poll_interval=0.5)
    server = ApiServer(create_app(state, ApiGuard(token=token)), port=0).start()
    try:
        refused = page.goto(server.url + "/")
        assert refused is not None and refused.status == 401
        page.goto(server.url + "/?token=" + token)
        assert page.url == server.url + "/"  # the token left the address bar
        # The EventSource carries the session cookie: the stream is up (the broker is not).
        wait_until(
            page,
            "document.getElementById('stream-status').textContent === 'broker down'",
            timeout=TIMEOUT_MS,
        )
        cookies = page.context.cookies()
        assert [c["httpOnly"] for c in cookies] == [True]
        assert [c["sameSite"] for c in cookies] == ["Strict"]
        assert token not in page.content()
    finally:
        server.stop()
        state.monitor.close()


FULL_ARRAY = 26_300  # the full array: 100 sites of 263 elements


def test_dashboard_renders_the_full_array(page: Page, output_dir: Path) -> None:
    # No broker is needed to render: the view is fed by hand (ingest, what its consumer calls).
    import httpx
    import msgspec

    from cosmic_horizons.array_view import ArraySnapshot
    from cosmic_horizons.broker import find_free_port
    from cosmic_horizons.packet import encode_packet
    from cosmic_horizons.simulator import element_ids

    dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{find_free_port()}")
    # Nothing goes stale while the test runs: this checks drawing the array, not its health.
    view = ArrayView(dead, thresholds=HealthThresholds(stale_after_s=3600.0))
    rng = random.Random(3)
    for n, (element, site) in enumerate(element_ids(FULL_ARRAY, 100)):
        noise = round(rng.gauss(-100.0, 0.8), 2)
        p = packet(element, f"site-{site}", round(noise + abs(rng.gauss(3.0, 1.5)), 2), noise, rng)
        assert view.ingest(encode_packet(p), offset=n)
    state = ApiState(settings=dead, monitor=Monitor(dead, timeout=1.0), array=view)
    server = ApiServer(create_app(state), port=0).start()
    try:
        answer = msgspec.json.decode(
            httpx.get(server.url + "/api/array", timeout=30).content, type=ArraySnapshot
        )
        assert len(answer.elements) == FULL_ARRAY and answer.untracked == 0
        page.goto(server.url + "/")
        wait_until(
            page,
            f"document.querySelectorAll('.tile').length === {FULL_ARRAY}",
            timeout=120_000,
        )
        shown = page.text_content("#kpi-elements")
        assert shown == f"{len(answer.elements):,}"
        assert page.locator(".site").count() == len(answer.sites) == 100
        # The tooltip is written on demand, from the latest snapshot.
        page.hover(".tile >> nth=0", timeout=TIMEOUT_MS)
        title = page.get_attribute(".tile >> nth=0", "title", timeout=TIMEOUT_MS)
        assert title is not None and title.startswith(answer.elements[0].element_id + "\n")
        page.screenshot(path=str(output_dir / "dashboard-full-array.png"))
    finally:
        server.stop()
        view.close()
        state.monitor.close()
