"""Archive storage by URL, through fsspec: ``file://``, ``s3://`` (s3fs) or ``gs://`` (gcsfs).

A file becomes visible only when it is complete: on ``file://`` it is written under a
temporary name in the same folder, fsynced, renamed, and the folder fsynced; on object
stores it is one PUT, which the store shows only once it has all of it.

``s3://bucket/prefix`` takes its endpoint from ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` (for MinIO, Ceph or a local test endpoint), its credentials from the
standard AWS variables or profile, and its region from ``AWS_REGION`` or
``AWS_DEFAULT_REGION``. ``gs://bucket/prefix`` uses Google's application default
credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``
or the metadata server on GCE/GKE). ``STORAGE_EMULATOR_HOST`` (``host:port`` or a URL, the
variable Google's own client libraries read) points it at a GCS-compatible endpoint such as
an emulator instead: that endpoint is reached anonymously and through the JSON API only,
since such endpoints do not serve the gRPC Storage Control API that gcsfs otherwise asks
about each bucket's type.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ..errors import ArchiveError, ConfigError, StorageError
from .fileformat import ArchiveFile, parse_path

__all__ = ["SCHEMES", "ArchiveStorage", "default_archive_url"]

SCHEMES: Final = ("file", "s3", "gs")
_ALIASES: Final = {
    "file": "file",
    "local": "file",
    "s3": "s3",
    "s3a": "s3",
    "gs": "gs",
    "gcs": "gs",
}


def default_archive_url(env: Mapping[str, str] | None = None) -> str:
    """``HORIZONS_ARCHIVE_URL``, else ``file://<HORIZONS_DATA_DIR or ./data>/archive``."""
    e = os.environ if env is None else env
    url = e.get("HORIZONS_ARCHIVE_URL", "").strip()
    if url:
        return url
    data_dir = Path(e.get("HORIZONS_DATA_DIR", "").strip() or "data").expanduser().resolve()
    return (data_dir / "archive").as_uri()


def _s3_options(env: Mapping[str, str]) -> dict[str, Any]:
    client_kwargs: dict[str, Any] = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        client_kwargs["region_name"] = region
    return {
        "client_kwargs": client_kwargs,
        "skip_instance_cache": True,
        "use_listings_cache": False,
    }


def _gs_options(env: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
    endpoint = env.get("STORAGE_EMULATOR_HOST", "").strip()
    if endpoint and endpoint != "default":  # "default" means Google's own endpoint
        if "://" not in endpoint:
            endpoint = f"http://{endpoint}"
        options["endpoint_url"] = endpoint.rstrip("/")
        options["token"] = "anon"
    return options


def _filesystem(kind: str, url: str, options: dict[str, Any]) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path of its root within it."""
    if kind == "gs" and "endpoint_url" in options:
        # A custom endpoint speaks the JSON API only: gcsfs's plain client, not the
        # extended one that probes each bucket over gRPC (and waits a minute per call).
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(**options), GCSFileSystem._strip_protocol(url)
    import fsspec.core

    fs, root = fsspec.core.url_to_fs(url, **options)
    return fs, root


def _store_errors(kind: str) -> tuple[type[Exception], ...]:
    """What a failed storage call raises: OSError, and for gcsfs its HTTP and request errors."""
    if kind == "gs":
        from gcsfs.retry import HttpError

        return (OSError, ValueError, HttpError)
    if kind == "s3":  # botocore's connection and credential errors are not OSErrors
        from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

        return (OSError, BotoCoreError)
    return (OSError,)


class ArchiveStorage:
    """Files of the archive under one root URL; every path is relative to that root."""

    def __init__(self, url: str | None = None, *, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = (url or default_archive_url(env)).strip()
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        if not scheme:  # a plain path
            raw = Path(raw).expanduser().resolve().as_uri()
            parts = urlsplit(raw)
            scheme = "file"
        kind = _ALIASES.get(scheme)
        if kind is None:
            raise ConfigError(
                f"archive storage {scheme}:// is not supported (in {self._safe(raw)!r}); "
                "use file://, s3:// or gs://"
            )
        if kind != "file" and not parts.netloc:
            raise ConfigError(f"archive storage {self._safe(raw)!r}: the bucket name is missing")
        self.kind = kind
        self._url = self._safe(raw)
        options: dict[str, Any] = {}
        if kind == "s3":
            options = _s3_options(env)
        elif kind == "gs":
            options = _gs_options(env)
        try:
            self._fs: Any = None
            self._fs, root = _filesystem(kind, raw, options)
            # what a failed call on this storage raises (gcsfs has errors of its own)
            self.errors: tuple[type[Exception], ...] = _store_errors(kind)
        except ImportError as exc:
            extra = "s3" if kind == "s3" else "gcs"
            raise ConfigError(
                f"archive storage {kind}:// needs an extra package: pip install "
                f"'cosmic-horizons[{extra}]' ({exc})"
            ) from exc
        self.root = str(root).rstrip("/") or "/"

    @staticmethod
    def _safe(url: str) -> str:
        """``url`` without any user:password part."""
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def fs(self) -> Any:
        """The fsspec filesystem the files live on."""
        self._check_open()
        return self._fs

    def _check_open(self) -> None:
        if self._fs is None:
            raise StorageError(f"archive storage {self._url} is closed")

    def close(self) -> None:
        """Let go of the filesystem; later file operations raise StorageError. Idempotent.

        The filesystem object itself is not closed: fsspec shares one instance between
        every storage with the same URL options, and frees it when none is left.
        """
        self._fs = None

    def __enter__(self) -> ArchiveStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The storage root URL (never with credentials)."""
        return self._url

    def __repr__(self) -> str:
        return f"ArchiveStorage({self._url!r})"

    def __str__(self) -> str:
        return self._url

    def _full(self, relpath: str) -> str:
        self._check_open()  # also before a local write, which does not go through fs
        rel = relpath.replace("\\", "/").lstrip("/")
        if not rel or any(p in ("", ".", "..") for p in rel.split("/")):
            raise ArchiveError(f"invalid archive path {relpath!r}")
        return f"{self.root}/{rel}" if self.root != "/" else f"/{rel}"

    # -- writing -----------------------------------------------------------------------

    def put_atomic(self, relpath: str, data: bytes) -> None:
        """Store ``data`` at ``relpath`` so that it is visible only once complete and durable."""
        full = self._full(relpath)
        try:
            if self.kind == "file":
                _local_put_atomic(Path(full), data)
            else:
                self.fs.pipe_file(full, data)
        except self.errors as exc:
            raise StorageError(f"writing {relpath} to {self._url} failed: {exc}") from exc

    def delete(self, relpath: str) -> None:
        """Remove one file (missing files are not an error)."""
        full = self._full(relpath)
        try:
            if self.fs.exists(full):
                self.fs.rm_file(full)
        except self.errors as exc:
            raise StorageError(f"deleting {relpath} from {self._url} failed: {exc}") from exc

    # -- reading -----------------------------------------------------------------------

    def read(self, relpath: str) -> bytes:
        """The content of one file."""
        try:
            return bytes(self.fs.cat_file(self._full(relpath)))
        except FileNotFoundError as exc:
            raise ArchiveError(f"{relpath} is not in the archive at {self._url}") from exc
        except self.errors as exc:
            raise StorageError(f"reading {relpath} from {self._url} failed: {exc}") from exc

    def exists(self, relpath: str) -> bool:
        try:
            return bool(self.fs.exists(self._full(relpath)))
        except self.errors as exc:
            raise StorageError(f"checking {relpath} in {self._url} failed: {exc}") from exc

    def list_files(self, topic: str | None = None) -> list[ArchiveFile]:
        """The archive files (of ``topic``, or all), sorted by topic, partition and start offset."""
        base = self._full(topic) if topic else self.root
        try:
            with contextlib.suppress(AttributeError):
                self.fs.invalidate_cache()
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base, withdirs=False)
        except FileNotFoundError:
            return []
        except self.errors as exc:
            raise StorageError(f"listing {self._url} failed: {exc}") from exc
        prefix = self.root.rstrip("/") + "/"
        files = []
        for name in found:
            name = str(name)
            rel = name[len(prefix) :] if name.startswith(prefix) else name
            parsed = parse_path(rel)
            if (
                parsed is not None
                and rel == parsed.path
                and (topic is None or parsed.topic == topic)
            ):
                files.append(parsed)
        files.sort(key=lambda f: (f.topic, f.partition, f.start_offset, f.end_offset))
        return files


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _local_put_atomic(target: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename over the target, fsync the folder."""
    folder = target.parent
    created = []
    probe = folder
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)
    for made in created:  # new folders must survive a crash too: fsync each one's parent
        _fsync_dir(made.parent)
