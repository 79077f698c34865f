"""Run the API with uvicorn in a background thread (``horizons serve``, ``horizons up``, tests)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from ..errors import ConfigError, HorizonsError
from .guard import require_safe_exposure

__all__ = ["ApiServer"]


class ApiServer:
    """uvicorn serving ``app`` on ``host:port`` from a daemon thread.

    ``port=0`` picks a free port; :attr:`url` is the address actually bound. The socket is bound
    in :meth:`start`, so a port in use fails there with a clear error. A non-loopback ``host``
    is refused unless the app has a token or ``insecure`` is set. ``tls_cert`` and ``tls_key``
    (PEM files) make it serve HTTPS.
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        log_level: str = "warning",
        access_log: bool = False,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        insecure: bool = False,
    ) -> None:
        if not 0 <= port < 65536:
            raise ConfigError(f"--port {port}: not a TCP port")
        if (tls_cert is None) != (tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together: give both or neither")
        for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{option} {path}: no such file")
        if tls_cert is not None and tls_key is not None:
            try:  # here, not in the server's thread, so a bad pair is one clear error
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                    tls_cert, tls_key
                )
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(
                    f"--tls-cert {tls_cert} / --tls-key {tls_key}: not a usable PEM certificate "
                    f"and key ({exc.strerror or exc})"
                ) from exc
        guard = getattr(app.state, "api_guard", None)  # None: an app not made by create_app
        require_safe_exposure(host, guard.token if guard is not None else None, insecure)
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls_cert is not None
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            lifespan="on",
            timeout_graceful_shutdown=3,
            ws="none",
            ssl_certfile=str(tls_cert) if tls_cert is not None else None,
            ssl_keyfile=str(tls_key) if tls_key is not None else None,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """``http(s)://host:port`` of the running server (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._server.started

    def start(self, timeout: float = 30.0) -> ApiServer:
        """Bind, start serving, and wait until the app's startup has finished."""
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
        # and accepted sockets inherit the listener's. Without it every keep-alive answer
        # waits for Nagle and the client's delayed ACK (~40 ms a request).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise HorizonsError(
                f"cannot serve the API on {self.host}:{self.port}: {exc.strerror or exc}"
                " (pass another --port, or --port 0 for a free one)"
            ) from exc
        sock.listen(128)
        sock.set_inheritable(True)
        self.port = int(sock.getsockname()[1])
        self._socket = sock
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="api-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._close_socket()
                raise HorizonsError(f"the API server on {self.url} failed to start; see the log")
            if time.monotonic() >= deadline:
                self.stop()
                raise HorizonsError(f"the API server on {self.url} did not start in {timeout} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to finish (open streams end), then wait for its thread."""
        state = getattr(self.app.state, "horizons", None)
        if state is not None:
            state.closing.set()  # lets /api/stream generators end before the graceful timeout
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
            self._thread = None
        self._close_socket()

    def connection_sockets(self) -> list[socket.socket]:
        """The sockets of the connections open now (for diagnostics and tests)."""
        found: list[socket.socket] = []
        state = getattr(self._server, "server_state", None)
        for protocol in list(getattr(state, "connections", ())):
            transport = getattr(protocol, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                found.append(sock)
        return found

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
