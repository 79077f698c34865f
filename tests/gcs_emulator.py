"""A GCS JSON-API endpoint on loopback (gcp-storage-emulator), for the gs:// tests."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gcp_storage_emulator import server as emulator_server
from gcp_storage_emulator.server import create_server

from cosmic_horizons.broker import find_free_port


@dataclass(frozen=True)
class Emulator:
    host: str  # host:port, the form STORAGE_EMULATOR_HOST usually takes
    server: Any  # gcp_storage_emulator.server.Server

    @property
    def url(self) -> str:
        return f"http://{self.host}"


class _ClientClosedRequest:
    value = 499
    phrase = "Client Closed Request"


def _cancel_upload(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
    """DELETE on a resumable upload session: GCS drops what it received and answers 499."""
    upload_id = (request.query.get("upload_id") or [""])[0]
    storage.resumable.pop(upload_id, None)
    response.status = _ClientClosedRequest()


def _serve_upload_cancel() -> None:
    """Teach the emulator to cancel a resumable upload, which it lacks (it answers 501).

    gcsfs cancels the session after a failed part and retries a 501 for half a minute.
    """
    for pattern, handlers in emulator_server.HANDLERS:
        if pattern.startswith(f"^{emulator_server.settings.UPLOAD_API_ENDPOINT}/b/"):
            handlers.setdefault(emulator_server.DELETE, _cancel_upload)


@contextmanager
def gcs_emulator(*buckets: str) -> Iterator[Emulator]:
    """An in-memory emulator serving on a free loopback port, with ``buckets`` created."""
    _serve_upload_cancel()
    port = find_free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        emulator = Emulator(f"127.0.0.1:{port}", server)
        for bucket in buckets:
            _call(emulator, "POST", "/storage/v1/b", {"name": bucket})
        yield emulator
    finally:
        server.stop()


def object_names(emulator: Emulator, bucket: str) -> list[str]:
    """The bucket's object names, listed over the JSON API directly (not through gcsfs)."""
    names: list[str] = []
    token = ""
    while True:
        query = urllib.parse.urlencode({"pageToken": token} if token else {})
        page = _call(emulator, "GET", f"/storage/v1/b/{bucket}/o?{query}")
        names.extend(item["name"] for item in page.get("items", []))
        token = page.get("nextPageToken", "")
        if not token:
            return sorted(names)


def _call(emulator: Emulator, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        emulator.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")
