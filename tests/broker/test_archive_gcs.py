"""The archive on a real GCS endpoint (gcp-storage-emulator on loopback), through gcsfs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cosmic_horizons.config import KafkaSettings
from tests.broker.archive_roundtrip import archive_holds_every_packet_once
from tests.gcs_emulator import Emulator, gcs_emulator, object_names

pytestmark = pytest.mark.gcs

BUCKET = "horizons-archive"


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The emulator with the bucket; STORAGE_EMULATOR_HOST points at it, as a user would."""
    with gcs_emulator(BUCKET) as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.host)
        yield emulator


def test_archive_on_gcs_holds_every_packet_exactly_once(
    gcs: Emulator, settings: KafkaSettings
) -> None:
    archive_holds_every_packet_once(
        settings, f"gs://{BUCKET}/prefix", lambda: object_names(gcs, BUCKET)
    )
