"""A GCS JSON-API endpoint on loopback (gcp-storage-emulator), for the gs:// tests."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gcp_storage_emulator.server import create_server

from cosmic_horizons.broker import find_free_port


@dataclass(frozen=True)
class Emulator:
    host: str  # host:port, the form STORAGE_EMULATOR_HOST usually takes
    server: Any  # gcp_storage_emulator.server.Server

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@contextmanager
def gcs_emulator(*buckets: str) -> Iterator[Emulator]:
    """An in-memory emulator serving on a free loopback port, with ``buckets`` created."""
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
