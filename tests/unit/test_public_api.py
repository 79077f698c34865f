"""The package's public API: what ``from cosmic_horizons import ...`` offers, and its lifecycles."""

from __future__ import annotations

import importlib
import inspect
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import cosmic_horizons
from cosmic_horizons.errors import HorizonsError, StorageError


def test_the_long_lived_objects_and_settings_import_from_the_package() -> None:
    from cosmic_horizons import (  # noqa: F401
        Archiver,
        ArchiveStorage,
        KafkaPayload,
        KafkaSettings,
        Monitor,
        Publisher,
        TopicAdmin,
    )


def test_the_exception_tree_and_packet_helpers_are_exported() -> None:
    from cosmic_horizons import (
        ArchiveError,
        BrokerError,
        BrokerUnavailableError,
        ConfigError,
        Metrics,
        decode_packet,
        encode_packet,
    )

    assert issubclass(BrokerUnavailableError, BrokerError)
    assert all(issubclass(e, HorizonsError) for e in (ArchiveError, ConfigError, BrokerError))
    assert callable(encode_packet) and callable(decode_packet) and inspect.isclass(Metrics)


@pytest.mark.parametrize("name", sorted(set(cosmic_horizons.__all__) - {"__version__"}))
def test_each_public_name_is_importable_documented_and_public_where_it_lives(name: str) -> None:
    obj = getattr(cosmic_horizons, name)
    assert not name.startswith("_")
    assert inspect.getdoc(obj), f"{name} has no docstring"
    # encode_packet is a msgspec encoder's bound method: its module is None, so ask the
    # package where each name lives
    where = cosmic_horizons._SOURCES[name]
    home = importlib.import_module(where, "cosmic_horizons")
    assert getattr(home, name) is obj
    assert name in getattr(home, "__all__", ()), f"{name} is not public in {where}"
    assert not any(part.startswith("_") for part in where.split(".") if part)


def test_all_lists_only_the_public_api() -> None:
    names = set(cosmic_horizons.__all__)
    assert len(names) == len(cosmic_horizons.__all__)
    # internals of the CLI and the server stay out
    for internal in ("EmbeddedBroker", "ApiState", "PartitionRanges", "EncoderPool", "app"):
        assert internal not in names
    assert set(dir(cosmic_horizons)) >= names


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        cosmic_horizons.Nope  # noqa: B018


def test_import_is_cheap_it_loads_no_kafka_client() -> None:
    code = (
        "import sys, cosmic_horizons; "
        "print(sorted(m for m in sys.modules if m.startswith(('cosmic_horizons', 'confluent'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['cosmic_horizons']"


def test_duplicate_type_names_are_gone() -> None:
    from cosmic_horizons import array_view, monitor, topics
    from cosmic_horizons.monitor import health

    assert topics.PartitionPlacement is not monitor.PartitionState
    assert not hasattr(topics, "PartitionState")
    assert hasattr(health, "ServiceHealth") and not hasattr(health, "Health")
    assert hasattr(array_view, "ElementHealth") and not hasattr(array_view, "Health")


def test_dead_code_is_gone() -> None:
    from cosmic_horizons import broker
    from cosmic_horizons.api.state import ApiState

    assert not hasattr(broker, "embedded_broker")
    assert not hasattr(ApiState, "wait_for_poll")


# -- lifecycles that need no broker ---------------------------------------------------------


def test_archive_storage_is_a_context_manager_and_refuses_use_after_close(tmp_path: Path) -> None:
    from cosmic_horizons import ArchiveStorage

    with ArchiveStorage(str(tmp_path)) as storage:
        storage.put_atomic("t/a.bin", b"x")
        assert storage.read("t/a.bin") == b"x"
    with pytest.raises(StorageError, match="is closed"):
        storage.put_atomic("t/b.bin", b"y")
    with pytest.raises(StorageError, match="is closed"):
        storage.list_files()
    storage.close()  # idempotent
    assert not (tmp_path / "t" / "b.bin").exists()


def test_topic_admin_close_refuses_later_operations() -> None:
    from cosmic_horizons import KafkaSettings, TopicAdmin

    listener = socket.socket()  # something listens: the admin is built, then closed
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{listener.getsockname()[1]}", topic="t")
    with listener, TopicAdmin(settings, timeout=1) as admin:
        pass
    with pytest.raises(HorizonsError, match="topic admin is closed"):
        admin.list()
    admin.close()  # idempotent


def test_monitor_close_then_polls_report_not_connected() -> None:
    from cosmic_horizons import KafkaSettings, Monitor

    with Monitor(KafkaSettings(bootstrap_servers="127.0.0.1:1", topic="t"), timeout=1) as mon:
        pass
    assert mon.poll().connected is False
    mon.close()  # idempotent
