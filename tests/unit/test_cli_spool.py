"""`horizons spool status|inspect` on spools made here, and the exit code of a spooled run."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.cli.main import app
from cosmic_horizons.cli.simulate import exit_code
from cosmic_horizons.publisher import DeliveryReport
from cosmic_horizons.spool import Spool, SpoolSettings
from tests.unit.test_spool import recs

runner = CliRunner()


def test_status_of_an_empty_and_a_full_spool(tmp_path: Path) -> None:
    with Spool(SpoolSettings(path=tmp_path)) as spool:
        result = runner.invoke(app, ["spool", "status", "--spool", str(tmp_path)])
        assert result.exit_code == Exit.OK and "0 packets waiting" in result.stdout
        spool.append(recs(0, 120))
        spool.ack(0)
        # the cursor goes to disk every 1,024 acks or 50 ms later: a publisher ticks its spool
        # a few times a second, which writes it (within 50 ms of opening, ack alone does not)
        spool.tick()
        # read while the publisher holds the spool: no lock taken, nothing changed
        result = runner.invoke(app, ["spool", "status", "--spool", str(tmp_path)])
        assert result.exit_code == Exit.SPOOLED, result.output
        assert "119 packets waiting" in result.stdout and "oldest" in result.stdout
        result = runner.invoke(app, ["spool", "status", "--spool", str(tmp_path), "--json"])
        assert '"records":119' in result.stdout


def test_inspect_lists_damage_and_exits_1(tmp_path: Path) -> None:
    with Spool(SpoolSettings(path=tmp_path)) as spool:
        spool.append(recs(0, 50))
    [seg] = tmp_path.glob("*.seg")
    data = bytearray(seg.read_bytes())
    data[500] ^= 0xFF
    seg.write_bytes(bytes(data))
    result = runner.invoke(app, ["spool", "inspect", "--spool", str(tmp_path)])
    assert result.exit_code == Exit.PROBLEM, result.output
    assert "49 records, seq 0..49" in result.stdout and "damaged at offset" in result.stdout


def test_missing_spool_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["spool", "status", "--spool", str(tmp_path / "nope")])
    assert result.exit_code == Exit.UNREACHABLE and "no spool at" in result.output


def report(**kw: int) -> DeliveryReport:
    base = {"sent": 10, "delivered": 10, "failed": 0, "undelivered_at_close": 0}
    return DeliveryReport(**{**base, **kw}, spool_path="/s")  # type: ignore[arg-type]


def test_exit_code_of_a_run() -> None:
    assert exit_code(report()) is Exit.OK
    assert exit_code(report(delivered=4, spooled=6)) is Exit.SPOOLED
    assert exit_code(report(delivered=4, spooled=5, dropped=1)) is Exit.PROBLEM
    assert exit_code(report(delivered=9, failed=1)) is Exit.PROBLEM


def test_metrics_show_the_spool() -> None:
    from cosmic_horizons.api.metrics import _spool_metrics
    from cosmic_horizons.stats import SpoolStats

    spool = SpoolStats(
        path="/s", records=7, bytes=900, oldest_age_s=12.5, drain_rate=100.0,
        time_to_drain_s=None, spooling=True, outage="_ALL_BROKERS_DOWN", dropped=2, corrupt=1,
    )  # fmt: skip
    values = {m.name: m.samples[0].value for m in _spool_metrics(spool)}
    assert values["horizons_publisher_spool_records"] == 7
    assert values["horizons_publisher_spool_oldest_age_seconds"] == 12.5
    assert values["horizons_publisher_spool_time_to_drain_seconds"] == -1
    assert values["horizons_publisher_spool_spooling"] == 1
    assert values["horizons_publisher_spool_dropped"] == 2


def test_drain_with_no_broker_exits_3_at_once(tmp_path: Path) -> None:
    from cosmic_horizons.broker import find_free_port

    with Spool(SpoolSettings(path=tmp_path)) as spool:
        spool.append(recs(0, 5))
    where = ["--bootstrap", f"127.0.0.1:{find_free_port()}", "--topic", "t"]
    result = runner.invoke(app, ["spool", "drain", "--spool", str(tmp_path), *where])
    assert result.exit_code == Exit.UNREACHABLE, result.output
    assert "unreachable" in result.output
