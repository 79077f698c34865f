"""The dashboard's records panel in headless chromium: it shows an element's latest records
decoded, and ids made of HTML stay text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from cosmic_horizons.api import ApiServer, ApiState, create_app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.publisher import Publisher
from tests.browser.test_dashboard import XSS_ID, XSS_SITE, page, wait_until
from tests.helpers import create_topic, make_packet

pytestmark = pytest.mark.browser
__all__ = ["page"]  # the page fixture, shared with the dashboard's test


@pytest.fixture
def served(settings: KafkaSettings) -> Iterator[str]:
    """Five packets of an element whose id (and site) is HTML, two of another, on 2
    partitions; the API over them (no array view)."""
    create_topic(settings.bootstrap_servers or "", settings.topic, 2)
    publisher = Publisher(settings)
    for i in range(5):
        p = make_packet(i, element=XSS_ID)
        publisher.publish(p.__class__(**{**_fields(p), "site_id": XSS_SITE}))
        publisher.flush(10)  # one batch each: Tansu's high watermark counts batches
    for i in range(2):
        publisher.publish(make_packet(i, element="element-quiet"))
        publisher.flush(10)
    publisher.close()
    state = ApiState(settings=settings, monitor=Monitor(settings, timeout=5.0), poll_interval=1.0)
    server = ApiServer(create_app(state), port=0).start()
    try:
        yield server.url
    finally:
        server.stop()
        state.monitor.close()


def _fields(p: object) -> dict[str, object]:
    return {f: getattr(p, f) for f in p.__struct_fields__}  # type: ignore[attr-defined]


def test_records_panel_shows_an_elements_records_as_text(served: str, page: Page) -> None:
    page.goto(served + "/")
    page.fill("#records-element", XSS_ID)
    page.fill("#records-limit", "3")
    page.click("#records-show")
    wait_until(
        page, "document.querySelectorAll('#records-table tbody tr:not(.empty)').length === 3"
    )
    cells = page.evaluate(
        "[...document.querySelectorAll('#records-table tbody tr')].map(tr => "
        "[...tr.querySelectorAll('td')].map(td => td.textContent))"
    )
    assert {c[3] for c in cells} == {XSS_ID}  # the element id, as text
    assert {c[4] for c in cells} == {XSS_SITE}
    offsets = [int(c[1]) for c in cells]
    assert offsets == sorted(offsets, reverse=True)  # newest first
    assert all(c[2].endswith("Z") and c[5] != "—" for c in cells)  # record time, RFI
    assert page.evaluate("document.querySelectorAll('#records img').length") == 0
    assert page.evaluate("window.__xss") is None

    # A partition that does not exist: the error, as one line, and no rows left over.
    page.fill("#records-element", "")
    page.fill("#records-partition", "9")
    page.click("#records-show")
    wait_until(page, "!document.getElementById('records-error').hidden")
    assert "no partition 9" in (page.text_content("#records-error") or "")
