"""`archive ls` / `archive verify` on an archive that holds nothing, and on storage that fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.cli.main import app

runner = CliRunner()


def horizons(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", ["ls", "verify"])
def test_missing_archive_is_exit_1_with_one_line(command: str, tmp_path: Path) -> None:
    url = (tmp_path / "no-such-archive").as_uri()
    code, out, err = horizons("archive", command, "--storage", url)
    assert code == 1
    assert err.strip().splitlines() == [err.strip()]
    assert "no archive files" in err and url in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("command", ["ls", "verify"])
def test_empty_archive_is_exit_1(command: str, tmp_path: Path) -> None:
    (tmp_path / "archive" / "element.raw_data").mkdir(parents=True)
    (tmp_path / "archive" / "element.raw_data" / "notes.txt").write_text("not an archive file")
    code, _, err = horizons("archive", command, "--storage", (tmp_path / "archive").as_uri())
    assert code == 1
    assert "no archive files" in err


def test_empty_archive_json_still_prints_the_listing(tmp_path: Path) -> None:
    code, out, _ = horizons("archive", "ls", "--json", "--storage", tmp_path.as_uri())
    assert code == 1
    assert '"files":[]' in out


@pytest.mark.s3
@pytest.mark.parametrize("command", ["ls", "verify"])
def test_unreachable_s3_endpoint_is_one_line_exit_3(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint variable the archive reads (as in tests/broker/test_archive_s3.py), pointed
    # at a loopback port nobody listens on.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{find_free_port()}")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    code, out, err = horizons("archive", command, "--storage", "s3://horizons-archive/prefix")
    assert code == 3, err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1
    assert "s3://horizons-archive/prefix" in err and "Could not connect" in err
