"""Archive storage on file://: atomic puts, listing, URLs (s3:// against moto: tests/broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmic_horizons.archiver.fileformat import file_path
from cosmic_horizons.archiver.storage import ArchiveStorage, default_archive_url
from cosmic_horizons.errors import ArchiveError, ConfigError

TS = 1_795_823_999_000  # 2026-11-27T23:59:59Z


def test_default_url_from_environment(tmp_path: Path) -> None:
    assert default_archive_url({"HORIZONS_ARCHIVE_URL": "s3://b/p"}) == "s3://b/p"
    assert (
        default_archive_url({"HORIZONS_DATA_DIR": str(tmp_path)}) == (tmp_path / "archive").as_uri()
    )
    assert default_archive_url({}) == (Path.cwd() / "data" / "archive").resolve().as_uri()


def test_put_read_list_delete(tmp_path: Path) -> None:
    storage = ArchiveStorage(tmp_path.as_uri())
    paths = [
        file_path("t", 1, 0, 9, TS),
        file_path("t", 0, 10, 19, TS + 1000),
        file_path("t", 0, 0, 9, TS),
        file_path("t.dlq", 0, 0, 9, TS),
    ]
    for i, p in enumerate(paths):
        storage.put_atomic(p, b"x" * i)
    (tmp_path / "t" / "date=2026-11-27" / "notes.txt").write_text("not an archive file")
    listed = storage.list_files("t")
    assert [(f.partition, f.start_offset) for f in listed] == [(0, 0), (0, 10), (1, 0)]
    assert listed[1].date == "2026-11-28"
    assert [f.topic for f in storage.list_files()] == ["t", "t", "t", "t.dlq"]
    assert storage.read(paths[2]) == b"xx"
    assert storage.exists(paths[0])
    storage.delete(paths[0])
    assert not storage.exists(paths[0])
    storage.delete(paths[0])  # already gone: fine
    assert storage.list_files("nothing-here") == []
    with pytest.raises(ArchiveError, match="not in the archive"):
        storage.read(paths[0])


def test_put_atomic_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    storage = ArchiveStorage(str(tmp_path))  # a plain path means file://
    assert storage.url == tmp_path.as_uri()
    p = file_path("t", 0, 0, 0, TS)
    storage.put_atomic(p, b"first")
    storage.put_atomic(p, b"second")
    assert storage.read(p) == b"second"
    assert sorted(x.name for x in (tmp_path / "t" / "date=2026-11-27").iterdir()) == [Path(p).name]


def test_temp_files_are_not_listed(tmp_path: Path) -> None:
    storage = ArchiveStorage(tmp_path.as_uri())
    p = file_path("t", 0, 0, 0, TS)
    folder = tmp_path / Path(p).parent
    folder.mkdir(parents=True)
    (folder / f".{Path(p).name}.0123456789ab.tmp").write_bytes(b"half")
    assert storage.list_files() == []


def test_paths_may_not_escape_the_root(tmp_path: Path) -> None:
    storage = ArchiveStorage(tmp_path.as_uri())
    with pytest.raises(ArchiveError, match="invalid archive path"):
        storage.put_atomic("../evil", b"x")


def test_unknown_scheme_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"ftp://"):
        ArchiveStorage("ftp://host/archive")


def test_bucket_is_required() -> None:
    with pytest.raises(ConfigError, match="bucket"):
        ArchiveStorage("s3:///prefix")


def test_credentials_never_shown() -> None:
    storage = ArchiveStorage(
        "s3://AKIDEXAMPLE:hunter2@bucket/prefix",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"},
    )
    for text in (storage.url, str(storage), repr(storage)):
        assert "hunter2" not in text
        assert text.endswith("s3://bucket/prefix") or "s3://bucket/prefix" in text


def test_s3_endpoint_and_region_from_environment() -> None:
    storage = ArchiveStorage(
        "s3://bucket/prefix",
        env={"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9", "AWS_REGION": "eu-west-3"},
    )
    assert storage.root == "bucket/prefix"
    kwargs = storage.fs.client_kwargs
    assert kwargs["endpoint_url"] == "http://127.0.0.1:9"
    assert kwargs["region_name"] == "eu-west-3"


@pytest.mark.parametrize(
    ("variable", "base"),
    [
        ("127.0.0.1:9", "http://127.0.0.1:9/storage/v1/"),
        ("https://gcs.example.org:8443/", "https://gcs.example.org:8443/storage/v1/"),
    ],
)
def test_gs_endpoint_from_environment(variable: str, base: str) -> None:
    storage = ArchiveStorage("gs://bucket/prefix", env={"STORAGE_EMULATOR_HOST": variable})
    assert storage.root == "bucket/prefix"
    assert storage.fs.base == base
    assert storage.fs.credentials.token == "anon"
