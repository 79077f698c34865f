"""Archive storage on gs:// against a real GCS endpoint on loopback (gcp-storage-emulator)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from gcp_storage_emulator.exceptions import BadRequest

from cosmic_horizons.archiver.fileformat import file_path
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.errors import ArchiveError, StorageError
from tests.gcs_emulator import Emulator, gcs_emulator, object_names

pytestmark = pytest.mark.gcs

BUCKET = "horizons-archive"
URL = f"gs://{BUCKET}/prefix"
TS = 1_795_823_999_000  # 2026-11-27T23:59:59Z


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The emulator with the bucket; STORAGE_EMULATOR_HOST points at it, as a user would."""
    with gcs_emulator(BUCKET) as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.host)
        yield emulator


def test_put_read_list_delete(gcs: Emulator) -> None:
    storage = ArchiveStorage(URL)
    assert storage.kind == "gs" and storage.root == f"{BUCKET}/prefix"
    assert storage.list_files() == []
    paths = [
        file_path("t", 1, 0, 9, TS),
        file_path("t", 0, 10, 19, TS + 1000),
        file_path("t", 0, 0, 9, TS),
        file_path("t.dlq", 0, 0, 9, TS),
    ]
    for i, p in enumerate(paths):
        storage.put_atomic(p, b"x" * (i + 1))
    storage.fs.pipe_file(f"{BUCKET}/prefix/t/date=2026-11-27/notes.txt", b"not an archive file")
    assert object_names(gcs, BUCKET) == sorted(
        [f"prefix/{p}" for p in paths] + ["prefix/t/date=2026-11-27/notes.txt"]
    )

    # Another instance (another process, in effect) sees the same files: no stale listing.
    other = ArchiveStorage(URL)
    listed = other.list_files("t")
    assert [(f.partition, f.start_offset) for f in listed] == [(0, 0), (0, 10), (1, 0)]
    assert listed[1].date == "2026-11-28"
    assert [f.topic for f in other.list_files()] == ["t", "t", "t", "t.dlq"]
    assert other.read(paths[2]) == b"xxx"

    storage.put_atomic(paths[2], b"replaced")  # a replay rewrites the same name
    assert other.read(paths[2]) == b"replaced"
    assert other.exists(paths[0])
    storage.delete(paths[0])
    assert not other.exists(paths[0])
    assert [(f.partition, f.start_offset) for f in other.list_files("t")] == [(0, 0), (0, 10)]
    storage.delete(paths[0])  # already gone: fine
    assert other.list_files("nothing-here") == []
    with pytest.raises(ArchiveError, match="not in the archive"):
        other.read(paths[0])


def test_a_large_file_goes_up_in_parts_and_reads_back_whole(gcs: Emulator) -> None:
    storage = ArchiveStorage(URL)
    data = bytes(range(256)) * (60 * 2**20 // 256)  # > gcsfs's 50 MiB part: a resumable upload
    p = file_path("t", 0, 0, 999, TS)
    storage.put_atomic(p, data)
    assert ArchiveStorage(URL).read(p) == data


def test_an_upload_cut_off_after_its_first_part_leaves_nothing_visible(
    gcs: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoint fails the second part of a two-part upload: no object, no listed file."""
    store: Any = gcs.server._storage  # the emulator's object store
    original = store.add_to_resumable_upload
    parts: list[int] = []

    def second_part_fails(file_id: str, content: bytes, *args: Any, **kwargs: Any) -> Any:
        parts.append(len(content))
        if len(parts) == 2:
            raise BadRequest("connection to the archive lost")
        return original(file_id, content, *args, **kwargs)

    monkeypatch.setattr(store, "add_to_resumable_upload", second_part_fails)
    storage = ArchiveStorage(URL)
    p = file_path("t", 0, 0, 999, TS)
    with pytest.raises(StorageError, match=re.escape(f"writing {p} to {URL} failed")) as info:
        storage.put_atomic(p, b"\x01" * (60 * 2**20))
    assert info.value.retriable  # a lost connection: transient, not the archive's content
    assert parts == [50 * 2**20, 10 * 2**20]  # the first part was accepted, then the cut

    assert object_names(gcs, BUCKET) == []
    assert not storage.exists(p)
    assert ArchiveStorage(URL).list_files() == []


def test_a_missing_bucket_is_an_archive_error_naming_the_storage(gcs: Emulator) -> None:
    storage = ArchiveStorage("gs://no-such-bucket/prefix")
    with pytest.raises(ArchiveError, match=r"gs://no-such-bucket/prefix"):
        storage.put_atomic(file_path("t", 0, 0, 9, TS), b"x")
