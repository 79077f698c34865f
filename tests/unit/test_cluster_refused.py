"""An address where nothing listens is reported at once, naming the address, not the topic."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.cluster import raise_if_refused, refused_everywhere
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import BrokerUnavailableError


def test_a_closed_port_is_refused_and_a_listening_one_is_not() -> None:
    closed = find_free_port()
    assert refused_everywhere(f"127.0.0.1:{closed}") == "connection refused"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # One address that answers is enough: the client is left to do the rest.
        assert refused_everywhere(f"127.0.0.1:{closed},127.0.0.1:{port}") is None


def test_an_unresolvable_host_is_certain_and_named() -> None:
    reason = refused_everywhere("no-such-broker.invalid:9092")
    assert reason is not None and reason.startswith("cannot resolve no-such-broker.invalid")


def test_raise_if_refused_names_the_address() -> None:
    port = find_free_port()
    with pytest.raises(BrokerUnavailableError, match=rf"broker unreachable at 127.0.0.1:{port} "):
        raise_if_refused(KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"))


@pytest.mark.parametrize(
    "args", [["topics", "list"], ["topics", "describe", "element.raw_data"], ["produce", "-"]]
)
def test_commands_name_the_address_where_nothing_listens(args: list[str]) -> None:
    port = find_free_port()
    result = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", *args, "-b", f"127.0.0.1:{port}"],
        input=b"{}\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert f"broker unreachable at 127.0.0.1:{port} (connection refused)" in err
    assert "element.raw_data: broker unreachable" not in err
